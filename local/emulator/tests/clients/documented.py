"""What AWS documents for SSM's asynchronous aws:ec2:image validation, GetParameter's selectors and
ARNs, parameter tiers, AppStream tags and DeleteImage, and Image Builder's version ARNs, driven
with boto3 and the AWS CLI (clients nobody here wrote). Prints one JSON object: each step's
answer (a value, or "error <Code>"); the Rust test (documented.rs) holds it against the
documentation and checks the emulator's own state between phases.

usage: documented.py <endpoint> <aws cli> <phase> [<ami>]
"""
import json
import os
import re
import subprocess
import sys

import boto3
import botocore.config
from botocore.exceptions import ClientError

ENDPOINT, AWS_CLI, PHASE = sys.argv[1], sys.argv[2], sys.argv[3]
ACCOUNT = "123456789012"
CREDENTIALS = dict(aws_access_key_id="AKIDLOCAL", aws_secret_access_key="local-secret")
# botocore checks some of the model's limits itself: these clients send what AWS must refuse.
CONFIG = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}, parameter_validation=False)
answers = {}


def client(service, region="us-east-1"):
    return boto3.client(service, region_name=region, endpoint_url=ENDPOINT, config=CONFIG, **CREDENTIALS)


def step(name, call):
    try:
        answers[name] = call()
    except ClientError as err:
        answers[name] = "error " + err.response["Error"]["Code"]


def cli(*args, region="us-east-1"):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDLOCAL", AWS_SECRET_ACCESS_KEY="local-secret",
               AWS_DEFAULT_REGION=region, AWS_MAX_ATTEMPTS="1")
    done = subprocess.run([AWS_CLI, "--endpoint-url", ENDPOINT, "--output", "json", *args],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        code = re.search(r"\((\w+)\) when calling", done.stderr)
        return "error " + (code.group(1) if code else done.stderr[-200:])
    return json.loads(done.stdout) if done.stdout.strip() else {}


ssm = client("ssm")
appstream = client("appstream")
ARN = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter"

if PHASE == "ssm-put":
    AMI = sys.argv[4]
    step("put an AMI", lambda: ssm.put_parameter(Name="/async/golden", Value=AMI, Type="String",
                                                 DataType="aws:ec2:image")["Version"])
    step("read while validating", lambda: ssm.get_parameter(Name="/async/golden")["Parameter"]["Value"])
    # Selectors and ARNs (GetParameter's Name: "name:label", "name:version", or the ARN).
    ssm.put_parameter(Name="/sel/a", Value="v1", Type="String")
    ssm.put_parameter(Name="/sel/a", Value="v2", Type="String", Overwrite=True)
    step("version 1", lambda: [ssm.get_parameter(Name="/sel/a:1")["Parameter"][k] for k in ("Name", "Value", "Version", "Selector")])
    step("version 2", lambda: ssm.get_parameter(Name="/sel/a:2")["Parameter"]["Value"])
    step("version 3", lambda: ssm.get_parameter(Name="/sel/a:3")["Parameter"]["Value"])
    step("a label", lambda: ssm.get_parameter(Name="/sel/a:stable")["Parameter"]["Value"])
    step("by ARN", lambda: ssm.get_parameter(Name=f"{ARN}/sel/a")["Parameter"]["Value"])
    step("by ARN and version", lambda: ssm.get_parameter(Name=f"{ARN}/sel/a:1")["Parameter"]["Value"])
    step("by ARN of another region", lambda: ssm.get_parameter(
        Name=f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/sel/a")["Parameter"]["Value"])
    step("put by ARN", lambda: ssm.put_parameter(Name=f"{ARN}/sel/b", Value="v", Type="String")["Version"])
    step("delete by ARN", lambda: ssm.delete_parameter(Name=f"{ARN}/sel/a") and "ok")
    step("cli by version", lambda: cli("ssm", "get-parameter", "--name", "/sel/a:1")["Parameter"]["Value"])
    # Tiers: Standard 4096 characters, Advanced 8 KB, Intelligent-Tiering picks.
    step("4096 two-byte characters", lambda: ssm.put_parameter(Name="/tier/wide", Value="é" * 4096, Type="String")["Tier"])
    step("4097 characters", lambda: ssm.put_parameter(Name="/tier/long", Value="x" * 4097, Type="String")["Tier"])
    step("advanced", lambda: ssm.put_parameter(Name="/tier/adv", Value="x" * 8192, Type="String", Tier="Advanced")["Tier"])
    step("advanced read", lambda: len(ssm.get_parameter(Name="/tier/adv")["Parameter"]["Value"]))
    step("advanced over 8 KB", lambda: ssm.put_parameter(Name="/tier/adv2", Value="x" * 8193, Type="String", Tier="Advanced")["Tier"])
    step("intelligent small", lambda: ssm.put_parameter(Name="/tier/it1", Value="x", Type="String", Tier="Intelligent-Tiering")["Tier"])
    step("intelligent large", lambda: ssm.put_parameter(Name="/tier/it2", Value="x" * 5000, Type="String", Tier="Intelligent-Tiering")["Tier"])
    step("advanced back to standard", lambda: ssm.put_parameter(Name="/tier/adv", Value="x", Type="String", Tier="Standard", Overwrite=True)["Tier"])
    step("advanced overwritten without a tier", lambda: ssm.put_parameter(Name="/tier/adv", Value="x", Type="String", Overwrite=True)["Tier"])
elif PHASE == "ssm-after":
    step("read once validated", lambda: [ssm.get_parameter(Name="/async/golden")["Parameter"][k] for k in ("Value", "Version")])
elif PHASE == "appstream":
    east = {i["Name"]: i for i in appstream.describe_images()["Images"]}
    west = client("appstream", "eu-west-1")
    far = west.describe_images(Names=["far-1"])["Images"][0]["Arn"]
    keep = east["keep-1"]["Arn"]
    tag = lambda tags, arn=keep, c=appstream: c.tag_resource(ResourceArn=arn, Tags=tags) and "ok"
    step("tag", lambda: tag({"team": "platform", "é ü": "", "a:b/c=d+e-f@g.h_i": "x y"}))
    step("tag aws:", lambda: tag({"aws:team": "x"}))
    step("tag key of 129", lambda: tag({"k" * 129: "x"}))
    step("tag value with #", lambda: tag({"team": "#1"}))
    step("tag value of 257", lambda: tag({"team": "v" * 257}))
    step("tag none", lambda: tag({}))
    step("tag 51 at once", lambda: tag({f"k{i}": "v" for i in range(51)}))
    step("tag past 50 on the image", lambda: tag({f"k{i}": "v" for i in range(48)}))
    step("tags listed", lambda: sorted(appstream.list_tags_for_resource(ResourceArn=keep)["Tags"].items()))
    step("tag a malformed ARN", lambda: tag({"team": "x"}, arn="not-an-arn"))
    step("tag another region's image", lambda: tag({"team": "x"}, arn=far))
    step("list another region's image", lambda: appstream.list_tags_for_resource(ResourceArn=far)["Tags"])
    step("tag in its region", lambda: tag({"team": "x"}, arn=far, c=west))
    step("import with an aws: tag", lambda: appstream.create_imported_image(
        Name="imported-1", SourceAmiId="ami-0123456789abcdef0", IamRoleArn=f"arn:aws:iam::{ACCOUNT}:role/AppStreamImport",
        Tags={"aws:team": "x"})["Image"]["Name"])
    step("delete in use", lambda: appstream.delete_image(Name="used-1")["Image"]["State"])
    step("delete", lambda: appstream.delete_image(Name="gone-1")["Image"]["State"])
    step("described while deleting", lambda: appstream.describe_images(Names=["gone-1"])["Images"][0]["State"])
    step("delete while deleting", lambda: appstream.delete_image(Name="gone-1")["Image"]["State"])
    step("tags while deleting", lambda: appstream.list_tags_for_resource(ResourceArn=east["gone-1"]["Arn"])["Tags"])
    step("copy onto a deleting name", lambda: appstream.copy_image(
        SourceImageName="keep-1", DestinationImageName="gone-1", DestinationRegion="us-east-1")["DestinationImageName"])
    step("cli delete", lambda: cli("appstream", "delete-image", "--name", "cli-1")["Image"]["State"])
elif PHASE == "appstream-after":
    step("described once deleted", lambda: appstream.describe_images(Names=["gone-1"])["Images"][0]["State"])
    step("cli described once deleted", lambda: cli("appstream", "describe-images", "--names", "cli-1"))
    step("delete once deleted", lambda: appstream.delete_image(Name="gone-1")["Image"]["State"])
    step("delete once no longer in use", lambda: appstream.delete_image(Name="used-1")["Image"]["State"])
elif PHASE == "imagebuilder":
    ib = client("imagebuilder")
    image = f"arn:aws:imagebuilder:us-east-1:{ACCOUNT}:image/golden"
    get = lambda arn: ib.get_image(imageBuildVersionArn=arn)["image"]
    step("a build", lambda: [get(f"{image}/1.1.0/1")[k] for k in ("arn",)] + [get(f"{image}/1.1.0/1")["state"]["status"]])
    step("a version", lambda: get(f"{image}/1.0.0")["arn"])
    step("x.x.x", lambda: get(f"{image}/x.x.x")["arn"])
    step("1.0.x", lambda: get(f"{image}/1.0.x")["arn"])
    step("1.1.x (no build AVAILABLE)", lambda: get(f"{image}/1.1.x")["arn"])
    step("2.x.x", lambda: get(f"{image}/2.x.x")["arn"])
    step("a build of a wildcard", lambda: get(f"{image}/1.0.x/1")["arn"])
    step("cli a version", lambda: cli("imagebuilder", "get-image", "--image-build-version-arn", f"{image}/1.0.0")["image"]["arn"])
    step("retry a version", lambda: ib.retry_image(imageBuildVersionArn=f"{image}/1.0.0", clientToken="retry-1")["imageBuildVersionArn"])
print(json.dumps(answers, sort_keys=True))

"""The same boto3 calls against one endpoint, for every operation both the project's emulator and
moto's server implement that the stack relies on: SSM parameters, KMS signing keys, EventBridge
PutEvents, EC2 images and their tags (moto has no EnableImageDeprecation, DisableImage or
DescribeImageReferences). Prints one JSON object: each step's answer (a value, or
"error <Code>"), so the caller can hold the emulator's answers and moto's side by side.

usage: differential.py <endpoint> emulator|moto

Only the set-up differs: the emulator makes an AMI through Image Builder (it has no
RunInstances), moto through RunInstances and CreateImage (it has no Image Builder).
"""
import hashlib
import json
import sys
import time

import boto3
import botocore.config
from botocore.exceptions import ClientError

ENDPOINT, KIND = sys.argv[1], sys.argv[2]
ACCOUNT = "123456789012"
CONFIG = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})
answers = {}


def client(service, region="us-east-1"):
    return boto3.client(service, region_name=region, endpoint_url=ENDPOINT, config=CONFIG,
                        aws_access_key_id="AKIDLOCAL", aws_secret_access_key="local-secret")


def step(name, call):
    try:
        answers[name] = call()
    except ClientError as err:
        answers[name] = "error " + err.response["Error"]["Code"]
    except KeyError as err:
        answers[name] = f"no {err} in the answer"


def available(ib, arn):
    for _ in range(1200):
        image = ib.get_image(imageBuildVersionArn=arn)["image"]
        if image["state"]["status"] == "AVAILABLE":
            return image
        time.sleep(0.05)
    raise SystemExit(f"{arn} never became AVAILABLE")


def an_ami():
    if KIND == "emulator":
        ib = client("imagebuilder")
        pipeline = f"arn:aws:imagebuilder:us-east-1:{ACCOUNT}:image-pipeline/golden"
        built = ib.start_image_pipeline_execution(imagePipelineArn=pipeline, clientToken="diff-1")
        available(ib, built["imageBuildVersionArn"])
        arn = ib.distribute_image(
            sourceImage=built["imageBuildVersionArn"],
            distributionConfigurationArn=f"arn:aws:imagebuilder:us-east-1:{ACCOUNT}:distribution-configuration/golden",
            executionRole=f"arn:aws:iam::{ACCOUNT}:role/ImageBuilderDistribution", clientToken="diff-2",
        )["imageBuildVersionArn"]
        image = available(ib, arn)
        return next(a["image"] for a in image["outputResources"]["amis"] if a["region"] == "us-east-1")
    ec2 = client("ec2")
    base = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    return ec2.create_image(InstanceId=instance, Name="golden-diff")["ImageId"]


# ---------------------------------------------------------------- SSM
ssm = client("ssm")
step("ssm put", lambda: ssm.put_parameter(Name="/diff/a", Value="v1", Type="String")["Version"])
step("ssm put again without overwrite", lambda: ssm.put_parameter(Name="/diff/a", Value="v2", Type="String")["Version"])
step("ssm overwrite", lambda: ssm.put_parameter(Name="/diff/a", Value="v2", Type="String", Overwrite=True)["Version"])
step("ssm get", lambda: [ssm.get_parameter(Name="/diff/a")["Parameter"][k] for k in ("Value", "Version", "Type")])
step("ssm get missing", lambda: ssm.get_parameter(Name="/diff/missing")["Parameter"]["Value"])
step("ssm get in another region", lambda: client("ssm", "eu-west-1").get_parameter(Name="/diff/a")["Parameter"]["Value"])
step("ssm name under /aws", lambda: ssm.put_parameter(Name="/aws/x", Value="v", Type="String")["Version"])
step("ssm 16 levels", lambda: ssm.put_parameter(Name="/a" * 16, Value="v", Type="String")["Version"])
step("ssm delete", lambda: ssm.delete_parameter(Name="/diff/a") and "ok")
step("ssm delete missing", lambda: ssm.delete_parameter(Name="/diff/a") and "ok")

# ---------------------------------------------------------------- KMS
kms = client("kms")
key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
digest = hashlib.sha256(b"SHA256SUMS").digest()


def sign(**extra):
    return kms.sign(KeyId=key["Arn"], Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256",
                    **extra)["Signature"]


step("kms key spec", lambda: [key["KeySpec"], key["KeyUsage"], key["Arn"].split(":")[3]])
first = sign()
step("kms signatures differ on each call (ECDSA)", lambda: first != sign())
step("kms verify", lambda: kms.verify(KeyId=key["Arn"], Message=digest, MessageType="DIGEST", Signature=first,
                                      SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"])
step("kms verify a wrong message", lambda: kms.verify(
    KeyId=key["Arn"], Message=hashlib.sha256(b"x").digest(), MessageType="DIGEST", Signature=first,
    SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"])
step("kms public key spec", lambda: kms.get_public_key(KeyId=key["Arn"])["KeySpec"])
step("kms sign a short digest", lambda: kms.sign(KeyId=key["Arn"], Message=digest[:31], MessageType="DIGEST",
                                                 SigningAlgorithm="ECDSA_SHA_256")["KeyId"])
step("kms sign with an unknown key", lambda: kms.sign(KeyId=f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                                                      Message=digest, MessageType="DIGEST",
                                                      SigningAlgorithm="ECDSA_SHA_256")["KeyId"])
step("kms the key from another region", lambda: client("kms", "eu-west-1").get_public_key(KeyId=key["KeyId"])["KeySpec"])

# ---------------------------------------------------------------- EventBridge
events = client("events")
entry = {"Source": "image-release", "DetailType": "Release Requested", "Detail": "{}"}


def put(*entries):
    out = events.put_events(Entries=list(entries))
    return [out["FailedEntryCount"], [e.get("ErrorCode") for e in out["Entries"]]]


step("events put", lambda: put(entry))
step("events malformed detail", lambda: put(dict(entry, Detail="not json")))
step("events no detail type", lambda: put({"Source": "image-release", "Detail": "{}"}))
step("events eleven entries", lambda: put(*[entry] * 11))

# ---------------------------------------------------------------- EC2 images and tags
ec2 = client("ec2")
ami = an_ami()
step("ec2 describe", lambda: [i["State"] for i in ec2.describe_images(ImageIds=[ami])["Images"]])
step("ec2 describe missing", lambda: ec2.describe_images(ImageIds=["ami-0000000000000000f"])["Images"])
step("ec2 tag", lambda: ec2.create_tags(Resources=[ami], Tags=[{"Key": "release", "Value": "golden-1"}]) and "ok")
step("ec2 tags shown", lambda: sorted((t["Key"], t["Value"]) for t in ec2.describe_images(ImageIds=[ami])["Images"][0].get("Tags", [])
                                      if t["Key"] == "release"))
step("ec2 tag DryRun", lambda: ec2.create_tags(Resources=[ami], Tags=[{"Key": "dry", "Value": "run"}], DryRun=True) and "ok")
step("ec2 launch permissions", lambda: ec2.describe_image_attribute(ImageId=ami, Attribute="launchPermission")["LaunchPermissions"])
step("ec2 deregister", lambda: ec2.deregister_image(ImageId=ami)["Return"])
step("ec2 describe deregistered", lambda: ec2.describe_images(ImageIds=[ami])["Images"])
print(json.dumps(answers, sort_keys=True))

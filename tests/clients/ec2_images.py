"""DescribeImages' filters, owners and pages and CreateTags' tag constraints, the same boto3 calls
against one endpoint (issue 30, item 9): where both the project's emulator and moto's server
answer them, the caller holds the answers side by side. Moto has no ExportImage,
DescribeExportImageTasks or EnableImageDeprecation: those are checked against the emulator
alone (local/emulator/tests/ec2_limits.rs). Prints one JSON object: each step's answer (a value,
or "error <Code>").

usage: ec2_images.py <endpoint> emulator|moto

Only the set-up differs: the emulator makes two AMIs through Image Builder (it has no
RunInstances), moto through RunInstances and CreateImage (it has no Image Builder). Each answer
names the two AMIs "first" and "second" and leaves out any other image either side holds
(moto's Amazon images, the emulator's build AMIs).
"""
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


def client(service):
    return boto3.client(service, region_name="us-east-1", endpoint_url=ENDPOINT, config=CONFIG,
                        aws_access_key_id="AKIDLOCAL", aws_secret_access_key="local-secret")


def step(name, call):
    try:
        answers[name] = call()
    except ClientError as err:
        answers[name] = "error " + err.response["Error"]["Code"]


def available(ib, arn):
    for _ in range(1200):
        image = ib.get_image(imageBuildVersionArn=arn)["image"]
        if image["state"]["status"] == "AVAILABLE":
            return image
        time.sleep(0.05)
    raise SystemExit(f"{arn} never became AVAILABLE")


def an_ami(n):
    if KIND == "emulator":
        ib = client("imagebuilder")
        pipeline = f"arn:aws:imagebuilder:us-east-1:{ACCOUNT}:image-pipeline/golden"
        built = ib.start_image_pipeline_execution(imagePipelineArn=pipeline, clientToken=f"images-{n}")
        available(ib, built["imageBuildVersionArn"])
        arn = ib.distribute_image(
            sourceImage=built["imageBuildVersionArn"],
            distributionConfigurationArn=f"arn:aws:imagebuilder:us-east-1:{ACCOUNT}:distribution-configuration/golden",
            executionRole=f"arn:aws:iam::{ACCOUNT}:role/ImageBuilderDistribution", clientToken=f"images-d{n}",
        )["imageBuildVersionArn"]
        image = available(ib, arn)
        return next(a["image"] for a in image["outputResources"]["amis"] if a["region"] == "us-east-1")
    base = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    return ec2.create_image(InstanceId=instance, Name=f"golden-images-{n}")["ImageId"]


ec2 = client("ec2")
ours = {an_ami(1): "first", an_ami(2): "second"}
first, second = list(ours)
ec2.create_tags(Resources=[first], Tags=[{"Key": "release", "Value": "golden-1"}, {"Key": "channel", "Value": "stable"}])
ec2.create_tags(Resources=[second], Tags=[{"Key": "release", "Value": "golden-2"}])
names = {i["ImageId"]: i["Name"] for i in ec2.describe_images(ImageIds=[first, second])["Images"]}


def labels(**kwargs):
    """Which of the two AMIs the call answers, by label."""
    return sorted(ours[i["ImageId"]] for i in ec2.describe_images(**kwargs)["Images"] if i["ImageId"] in ours)


def filtered(*filters, **kwargs):
    return labels(Filters=[{"Name": n, "Values": v} for n, v in filters], **kwargs)


step("images filter tag:<key>", lambda: filtered(("tag:release", ["golden-1"])))
step("images filter tag:<key> wildcard *", lambda: filtered(("tag:release", ["golden-*"])))
step("images filter tag:<key> wildcard ?", lambda: filtered(("tag:release", ["golden-?"])))
step("images filter tag:<key> two values", lambda: filtered(("tag:release", ["golden-1", "golden-2"])))
step("images filter tag:<key> no match", lambda: filtered(("tag:release", ["golden"])))
step("images filter tag-key", lambda: filtered(("tag-key", ["channel"])))
step("images two filters", lambda: filtered(("tag-key", ["release"]), ("tag:channel", ["stable"])))
step("images filter image-id", lambda: filtered(("image-id", [second])))
step("images filter name", lambda: filtered(("name", [names[first]])))
step("images filter owner-id", lambda: filtered(("owner-id", [ACCOUNT]), ("tag-key", ["release"])))
step("images filter owner-id of another account", lambda: filtered(("owner-id", ["111122223333"])))
step("images filter state", lambda: filtered(("state", ["available"]), ("tag-key", ["release"])))
step("images Owners self", lambda: labels(Owners=["self"]))
step("images Owners amazon", lambda: labels(Owners=["amazon"]))
step("images MaxResults 6 and a filter", lambda: [
    labels(MaxResults=6, Filters=[{"Name": "tag-key", "Values": ["release"]}]),
    "NextToken" in ec2.describe_images(MaxResults=6, Filters=[{"Name": "tag-key", "Values": ["release"]}])])
step("tag key beginning aws:",
     lambda: ec2.create_tags(Resources=[first], Tags=[{"Key": "aws:reserved", "Value": "x"}]) and "ok")
step("tag key of 128 characters", lambda: ec2.create_tags(Resources=[first], Tags=[{"Key": "k" * 128, "Value": "x"}]) and "ok")
step("tag key of 127 characters", lambda: ec2.create_tags(Resources=[first], Tags=[{"Key": "k" * 127, "Value": "x"}]) and "ok")
step("tag value of 256 characters", lambda: ec2.create_tags(Resources=[first], Tags=[{"Key": "v", "Value": "v" * 256}]) and "ok")
# The tags the steps above left (the refused keys are pinned by their own steps).
step("tags after", lambda: sorted(t["Key"][:8] for t in ec2.describe_images(ImageIds=[first])["Images"][0]["Tags"]
                                  if t["Key"] in ("release", "channel", "v", "k" * 127)))
print(json.dumps(answers, sort_keys=True))

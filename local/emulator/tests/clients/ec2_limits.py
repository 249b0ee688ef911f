#!/usr/bin/env python3
"""What EC2 refuses on ExportImage, DescribeImages, DescribeExportImageTasks and
EnableImageDeprecation, and the filters and pages it answers, checked with boto3 and the AWS
CLI (issue 30, item 9). Prints one line per check; exits 1 on the first failure.

    ec2_limits.py ENDPOINT AWS_CLI private|public

private: the emulator holds eight seeded AMIs golden 1.0.1 .. 1.0.8 in us-east-1 (no launch
permission). public: it builds and distributes pipeline `golden` with launch permission `all`
(local/emulator/tests/ec2_limits.rs starts it so).
"""
import datetime
import json
import os
import subprocess
import sys
import time

import boto3
import botocore.config
from botocore.exceptions import ClientError

from clients import AWS_CLI, CONFIG, ENDPOINT, check, cli, client, error_code

MODE = sys.argv[3]
ACCOUNT = "123456789012"
# botocore checks some of the model's bounds itself: a client that does not sends what EC2
# must refuse.
UNCHECKED = CONFIG.merge(botocore.config.Config(parameter_validation=False))
BUCKET = "image-release-artifacts"
NOW = datetime.datetime.now(datetime.timezone.utc)


ec2 = client("ec2")
unchecked = client("ec2", config=UNCHECKED)


def export(ami, bucket=BUCKET, tags=None, **extra):
    spec = [{"ResourceType": "export-image-task", "Tags": tags}] if tags else []
    return ec2.export_image(ImageId=ami, DiskImageFormat="VMDK", TagSpecifications=spec,
                            S3ExportLocation={"S3Bucket": bucket, "S3Prefix": "exports/"}, **extra)


def built_public_ami():
    ib = client("imagebuilder")
    pipeline = f"arn:aws:imagebuilder:us-east-1:{ACCOUNT}:image-pipeline/golden"

    def available(arn):
        for _ in range(600):
            image = ib.get_image(imageBuildVersionArn=arn)["image"]
            if image["state"]["status"] == "AVAILABLE":
                return image
            time.sleep(0.05)
        raise SystemExit(f"FAIL {arn} never became AVAILABLE")

    built = ib.start_image_pipeline_execution(imagePipelineArn=pipeline, clientToken="limits-1")
    available(built["imageBuildVersionArn"])
    arn = ib.distribute_image(
        sourceImage=built["imageBuildVersionArn"], clientToken="limits-2",
        distributionConfigurationArn=f"arn:aws:imagebuilder:us-east-1:{ACCOUNT}:distribution-configuration/golden",
        executionRole=f"arn:aws:iam::{ACCOUNT}:role/ImageBuilderDistribution")["imageBuildVersionArn"]
    return next(a["image"] for a in available(arn)["outputResources"]["amis"] if a["region"] == "us-east-1")


if MODE == "public":
    # ---- EnableImageDeprecation of a public AMI (EC2 User Guide, "Deprecate an AMI")
    ami = built_public_ami()
    image = ec2.describe_images(ImageIds=[ami])["Images"][0]
    created = datetime.datetime.fromisoformat(image["CreationDate"].replace("Z", "+00:00")).replace(microsecond=0)
    check("ec2 a public AMI is described public", image["Public"] is True, str(image))
    check("ec2 a public AMI is deprecated two years after its creation by default",
          datetime.datetime.fromisoformat(image["DeprecationTime"].replace("Z", "+00:00"))
          == created + datetime.timedelta(days=730), str(image))
    late = created + datetime.timedelta(days=731)
    check("ec2 EnableImageDeprecation of a public AMI more than 2 years after its creation is refused",
          error_code(lambda: ec2.enable_image_deprecation(ImageId=ami, DeprecateAt=late)) == "InvalidParameterValue")
    sooner = created + datetime.timedelta(days=365)
    check("ec2 EnableImageDeprecation of a public AMI within 2 years of its creation",
          ec2.enable_image_deprecation(ImageId=ami, DeprecateAt=sooner)["Return"])
    shown = ec2.describe_images(ImageIds=[ami])["Images"][0]["DeprecationTime"]
    check("ec2 DescribeImages shows the earlier deprecation", shown.startswith(sooner.strftime("%Y-%m-%dT%H:")), shown)
    public = ec2.describe_images(Filters=[{"Name": "is-public", "Values": ["true"]}])["Images"]
    private = ec2.describe_images(Filters=[{"Name": "is-public", "Values": ["false"]}])["Images"]
    check("ec2 DescribeImages filter is-public", ami in [i["ImageId"] for i in public]
          and all(i["Public"] for i in public) and private == [], str(public))
    rc, out, err = cli("ec2", "enable-image-deprecation", "--image-id", ami, "--deprecate-at",
                       late.strftime("%Y-%m-%dT%H:%M:%SZ"))
    check("cli ec2 EnableImageDeprecation past the public limit", rc != 0 and "InvalidParameterValue" in err, err[-300:])
    print("all checks passed")
    sys.exit(0)

# ---------------------------------------------------------------- DescribeImages
amis = sorted(i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"])
check("ec2 DescribeImages Owners self lists the account's eight AMIs", len(amis) == 8, str(amis))
check("ec2 DescribeImages Owners amazon lists none of them",
      ec2.describe_images(Owners=["amazon"])["Images"] == [])
for i, ami in enumerate(amis):
    ec2.create_tags(Resources=[ami], Tags=[{"Key": "release", "Value": f"golden-1.0.{i + 1}-1"},
                                           {"Key": "channel" if i < 3 else "team", "Value": "stable"}])


def ids(**kwargs):
    return sorted(i["ImageId"] for i in ec2.describe_images(**kwargs)["Images"])


def filtered(*filters):
    return ids(Filters=[{"Name": n, "Values": v} for n, v in filters])


check("ec2 DescribeImages filter tag:<key> with a wildcard", filtered(("tag:release", ["golden-1.0.?-1"])) == amis)
check("ec2 DescribeImages filter tag:<key> with two values (OR)",
      filtered(("tag:release", ["golden-1.0.1-1", "golden-1.0.2-1"])) == amis[:2])
check("ec2 DescribeImages filter tag-key", filtered(("tag-key", ["channel"])) == amis[:3])
check("ec2 DescribeImages two filters (AND)",
      filtered(("tag-key", ["channel"]), ("tag:release", ["golden-1.0.3-1"])) == [amis[2]])
check("ec2 DescribeImages filter image-id", filtered(("image-id", [amis[4]])) == [amis[4]])
check("ec2 DescribeImages filter owner-id", filtered(("owner-id", [ACCOUNT])) == amis)
check("ec2 DescribeImages filter owner-id of another account", filtered(("owner-id", ["111122223333"])) == [])
names = {i["ImageId"]: i["Name"] for i in ec2.describe_images()["Images"]}
check("ec2 DescribeImages filter name",
      filtered(("name", [names[amis[0]]])) == [amis[0]] and filtered(("name", ["golden *"])) == amis, str(names))
check("ec2 DescribeImages filter name matches the whole name", filtered(("name", ["golden"])) == [])
check("ec2 DescribeImages ImageIds and a filter", ids(ImageIds=amis[:2], Filters=[{"Name": "tag-key", "Values": ["team"]}]) == [])
check("ec2 DescribeImages an unknown filter is InvalidParameterValue",
      error_code(lambda: ec2.describe_images(Filters=[{"Name": "colour", "Values": ["x"]}])) == "InvalidParameterValue")
ec2.disable_image(ImageId=amis[7])
check("ec2 DescribeImages filter state available leaves the disabled AMI out",
      filtered(("state", ["available"])) == amis[:7])
check("ec2 DescribeImages filter state disabled with IncludeDisabled",
      ids(IncludeDisabled=True, Filters=[{"Name": "state", "Values": ["disabled"]}]) == [amis[7]])
for bad in (4, 1001):
    check(f"ec2 DescribeImages MaxResults {bad} is InvalidParameterValue",
          error_code(lambda: ec2.describe_images(MaxResults=bad)) == "InvalidParameterValue")
first = ec2.describe_images(MaxResults=5)
check("ec2 DescribeImages MaxResults 5 answers five and a NextToken",
      len(first["Images"]) == 5 and first.get("NextToken"), str(first.get("NextToken")))
second = ec2.describe_images(MaxResults=5, NextToken=first["NextToken"])
check("ec2 DescribeImages NextToken answers the rest", len(second["Images"]) == 2 and not second.get("NextToken")
      and sorted(i["ImageId"] for i in first["Images"] + second["Images"]) == amis[:7])
check("ec2 DescribeImages a forged NextToken is InvalidPaginationToken",
      error_code(lambda: ec2.describe_images(MaxResults=6, NextToken="forged")) == "InvalidPaginationToken")
pages = list(ec2.get_paginator("describe_images").paginate(IncludeDisabled=True, PaginationConfig={"PageSize": 6}))
check("ec2 DescribeImages boto3's paginator walks every page",
      len(pages) == 2 and sorted(i["ImageId"] for p in pages for i in p["Images"]) == amis)
rc, out, err = cli("ec2", "describe-images", "--filters", "Name=tag:channel,Values=stable", "--page-size", "6")
check("cli ec2 DescribeImages --filters tag:channel", rc == 0 and sorted(i["ImageId"] for i in out["Images"]) == amis[:3],
      err[-300:])

# ---------------------------------------------------------------- ExportImage
for bucket in ["Image-Release", "ab", "a" * 64, "image..release", "-image-release", "192.168.5.4",
               "xn--image-release", "image-release-s3alias", "image_release"]:
    check(f"ec2 ExportImage to the bucket name {bucket!r} is InvalidParameterValue",
          error_code(lambda: export(amis[0], bucket=bucket)) == "InvalidParameterValue")
rc, out, err = cli("ec2", "export-image", "--image-id", amis[0], "--disk-image-format", "VMDK",
                   "--s3-export-location", "S3Bucket=Not_A_Bucket,S3Prefix=exports/")
check("cli ec2 ExportImage to an invalid bucket name", rc != 0 and "InvalidParameterValue" in err, err[-300:])
check("ec2 ExportImage of a disabled AMI is InvalidAMIID.Unavailable",
      error_code(lambda: export(amis[7])) == "InvalidAMIID.Unavailable")
check("ec2 ExportImage DryRun of a disabled AMI is refused too",
      error_code(lambda: export(amis[7], DryRun=True)) == "InvalidAMIID.Unavailable")
check("ec2 ExportImage with a tag key beginning aws: is InvalidParameterValue",
      error_code(lambda: export(amis[0], tags=[{"Key": "aws:owner", "Value": "x"}])) == "InvalidParameterValue")
check("ec2 ExportImage with a tag key of 128 characters is InvalidParameterValue",
      error_code(lambda: export(amis[0], tags=[{"Key": "k" * 128, "Value": "x"}])) == "InvalidParameterValue")
check("ec2 ExportImage with a tag value of 257 characters is InvalidParameterValue",
      error_code(lambda: export(amis[0], tags=[{"Key": "k", "Value": "v" * 257}])) == "InvalidParameterValue")
check("ec2 refused exports made no task", ec2.describe_export_image_tasks()["ExportImageTasks"] == [])
check("ec2 CreateTags with a tag key beginning aws: is InvalidParameterValue",
      error_code(lambda: ec2.create_tags(Resources=[amis[0]], Tags=[{"Key": "aws:x", "Value": "y"}]))
      == "InvalidParameterValue")
one = export(amis[0], tags=[{"Key": "owner:aws", "Value": "x"}])["ExportImageTaskId"]
two = export(amis[1], bucket="image-release.artifacts-2")["ExportImageTaskId"]
check("ec2 ExportImage takes valid bucket names and tags", one != two)

# ---------------------------------------------------------------- DescribeExportImageTasks
for bad in (0, 501):
    check(f"ec2 DescribeExportImageTasks MaxResults {bad} is InvalidParameterValue",
          error_code(lambda: unchecked.describe_export_image_tasks(MaxResults=bad)) == "InvalidParameterValue")
check("ec2 DescribeExportImageTasks an unknown filter is InvalidParameterValue",
      error_code(lambda: ec2.describe_export_image_tasks(Filters=[{"Name": "image-id", "Values": [amis[0]]}]))
      == "InvalidParameterValue")
tasks = list(ec2.get_paginator("describe_export_image_tasks").paginate(PaginationConfig={"PageSize": 1}))
check("ec2 DescribeExportImageTasks pages of one (boto3's paginator)",
      len(tasks) == 2 and sorted(t["ExportImageTaskId"] for p in tasks for t in p["ExportImageTasks"]) == sorted([one, two]))


def states(value):
    out = ec2.describe_export_image_tasks(Filters=[{"Name": "task-state", "Values": [value]}])
    return sorted(t["ExportImageTaskId"] for t in out["ExportImageTasks"])


check("ec2 DescribeExportImageTasks filter task-state active", states("active") == sorted([one, two]))
deadline = time.time() + 30
while time.time() < deadline and states("completed") != sorted([one, two]):
    time.sleep(0.1)
check("ec2 DescribeExportImageTasks filter task-state completed",
      states("completed") == sorted([one, two]) and states("active") == [])
rc, out, err = cli("ec2", "describe-export-image-tasks", "--filters", "Name=task-state,Values=completed")
check("cli ec2 DescribeExportImageTasks --filters task-state", rc == 0 and len(out["ExportImageTasks"]) == 2, err[-300:])

# ---------------------------------------------------------------- EnableImageDeprecation of a private AMI
check("ec2 EnableImageDeprecation more than 10 years ahead is refused",
      error_code(lambda: ec2.enable_image_deprecation(ImageId=amis[0], DeprecateAt=NOW + datetime.timedelta(days=3660)))
      == "InvalidParameterValue")
check("ec2 EnableImageDeprecation of a private AMI 9 years ahead (past a public AMI's limit)",
      ec2.enable_image_deprecation(ImageId=amis[0], DeprecateAt=NOW + datetime.timedelta(days=9 * 365))["Return"])
check("ec2 a private AMI has no default deprecation", "DeprecationTime" not in ec2.describe_images(ImageIds=[amis[1]])["Images"][0])
print("all checks passed")

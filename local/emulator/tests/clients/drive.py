#!/usr/bin/env python3
"""Drives every operation the emulator serves with clients nobody in this project wrote: boto3
(Image Builder restJson1, EC2 query, AppStream Smithy RPC v2 CBOR) and the AWS CLI (AppStream
awsJson1_1, and one call of each other service). Prints one line per check; exits 1 on the
first failure.

    drive.py ENDPOINT AWS_CLI

The emulator must hold pipeline `golden`, distribution configuration `golden` and the AppStream
image `golden-1.0.0-1` in us-east-1 (local/emulator/tests/clients.rs starts it so).
"""
import json
import os
import subprocess
import sys
import time

import boto3
import botocore.config
from botocore.exceptions import ClientError

from clients import AWS_CLI, CONFIG, CREDENTIALS, ENDPOINT, check, cli, client, error_code
ACCOUNT = "123456789012"
PIPELINE = f"arn:aws:imagebuilder:us-east-1:{ACCOUNT}:image-pipeline/golden"
DISTRIBUTION = f"arn:aws:imagebuilder:us-east-1:{ACCOUNT}:distribution-configuration/golden"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ImageBuilderDistribution"


def soon_dt():
    import datetime
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)


def wait_available(ib, arn, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        image = ib.get_image(imageBuildVersionArn=arn)["image"]
        if image["state"]["status"] in ("AVAILABLE", "FAILED"):
            return image
        time.sleep(0.05)
    raise SystemExit(f"FAIL {arn} never became AVAILABLE")


# ---------------------------------------------------------------- Image Builder (boto3, restJson1)
ib = client("imagebuilder")
started = ib.start_image_pipeline_execution(imagePipelineArn=PIPELINE, clientToken="boto3-start-1",
                                            tags={"owner@team": "x", "cost center": "y"})
image_arn = started["imageBuildVersionArn"]
check("imagebuilder StartImagePipelineExecution", image_arn.startswith(f"arn:aws:imagebuilder:us-east-1:{ACCOUNT}:image/golden/1.0.0/"))
again = ib.start_image_pipeline_execution(imagePipelineArn=PIPELINE, clientToken="boto3-start-1",
                                          tags={"owner@team": "x", "cost center": "y"})
check("imagebuilder StartImagePipelineExecution idempotent", again["imageBuildVersionArn"] == image_arn)
check("imagebuilder StartImagePipelineExecution token mismatch",
      error_code(lambda: ib.start_image_pipeline_execution(imagePipelineArn=PIPELINE, clientToken="boto3-start-1"))
      == "IdempotentParameterMismatchException")
check("imagebuilder StartImagePipelineExecution bad tag key",
      error_code(lambda: ib.start_image_pipeline_execution(imagePipelineArn=PIPELINE, clientToken="boto3-start-2",
                                                           tags={"a<b": "x"})) == "InvalidParameterValueException")
check("imagebuilder StartImagePipelineExecution unknown pipeline",
      error_code(lambda: ib.start_image_pipeline_execution(imagePipelineArn=PIPELINE + "x", clientToken="boto3-start-3"))
      == "ResourceNotFoundException")
image = wait_available(ib, image_arn)
check("imagebuilder GetImage", image["state"]["status"] == "AVAILABLE" and image["sourcePipelineArn"] == PIPELINE
      and image["tags"].get("owner@team") == "x")
check("imagebuilder GetImage not found",
      error_code(lambda: ib.get_image(imageBuildVersionArn=f"arn:aws:imagebuilder:us-east-1:{ACCOUNT}:image/nope/1.0.0/1"))
      == "ResourceNotFoundException")
distributed = ib.distribute_image(sourceImage=image_arn, distributionConfigurationArn=DISTRIBUTION, executionRole=ROLE,
                                  clientToken="boto3-distribute-1", tags={"image-release:release-id": "golden-1.0.0-1"},
                                  loggingConfiguration={"logGroupName": "/aws/imagebuilder/golden"})
check("imagebuilder DistributeImage", distributed["imageBuildVersionArn"] != image_arn)
check("imagebuilder DistributeImage bad log group",
      error_code(lambda: ib.distribute_image(sourceImage=image_arn, distributionConfigurationArn=DISTRIBUTION,
                                             executionRole=ROLE, clientToken="boto3-distribute-2",
                                             loggingConfiguration={"logGroupName": "/aws/group#1"}))
      == "InvalidParameterValueException")
out = wait_available(ib, distributed["imageBuildVersionArn"])
amis = {a["region"]: a["image"] for a in out["outputResources"]["amis"]}
check("imagebuilder distributed image has AMIs per region", set(amis) == {"us-east-1", "eu-west-1"}, str(amis))
home_ami = amis["us-east-1"]

second = ib.start_image_pipeline_execution(imagePipelineArn=PIPELINE, clientToken="boto3-start-3")["imageBuildVersionArn"]
pages = list(ib.get_paginator("list_image_pipeline_images").paginate(imagePipelineArn=PIPELINE,
                                                                    PaginationConfig={"PageSize": 1}))
listed = [i["arn"] for page in pages for i in page["imageSummaryList"]]
check("imagebuilder ListImagePipelineImages pages (boto3 paginator, maxResults 1)",
      image_arn in listed and second in listed and len(pages) >= 2
      and all(len(p["imageSummaryList"]) <= 1 for p in pages), str(listed))
check("imagebuilder ListImagePipelineImages lists only the pipeline's images",
      distributed["imageBuildVersionArn"] not in listed, str(listed))
unknown = ib.list_image_pipeline_images(
    imagePipelineArn=f"arn:aws:imagebuilder:us-east-1:{ACCOUNT}:image-pipeline/nope")
check("imagebuilder ListImagePipelineImages unknown pipeline is an empty list", unknown["imageSummaryList"] == [])
check("imagebuilder ListImagePipelineImages bad token",
      error_code(lambda: ib.list_image_pipeline_images(imagePipelineArn=PIPELINE, nextToken="forged"))
      == "InvalidPaginationTokenException")
check("imagebuilder RetryImage of an AVAILABLE image",
      error_code(lambda: ib.retry_image(imageBuildVersionArn=image_arn, clientToken="boto3-retry-1"))
      == "InvalidRequestException")
check("imagebuilder RetryImage unknown image",
      error_code(lambda: ib.retry_image(
          imageBuildVersionArn=f"arn:aws:imagebuilder:us-east-1:{ACCOUNT}:image/nope/1.0.0/1",
          clientToken="boto3-retry-2")) == "ResourceNotFoundException")

# ---------------------------------------------------------------- EC2 (boto3, query protocol)
ec2 = client("ec2")
described = ec2.describe_images(ImageIds=[home_ami])["Images"]
check("ec2 DescribeImages", len(described) == 1 and described[0]["ImageId"] == home_ami)
check("ec2 DescribeImages not found", error_code(lambda: ec2.describe_images(ImageIds=["ami-0000000000000000f"])) == "InvalidAMIID.NotFound")
check("ec2 ExportImage DryRun",
      error_code(lambda: ec2.export_image(ImageId=home_ami, DiskImageFormat="VMDK", DryRun=True,
                                          S3ExportLocation={"S3Bucket": "image-release-artifacts", "S3Prefix": "releases/x/"}))
      == "DryRunOperation")
task = ec2.export_image(ImageId=home_ami, DiskImageFormat="VHD", ClientToken="boto3-export-1", RoleName="vmimport",
                        S3ExportLocation={"S3Bucket": "image-release-artifacts", "S3Prefix": "releases/x/"},
                        TagSpecifications=[{"ResourceType": "export-image-task", "Tags": [{"Key": "k", "Value": "v"}]}])
check("ec2 ExportImage", task["ExportImageTaskId"].startswith("export-ami-") and task["DiskImageFormat"] == "vhd")
tasks = ec2.describe_export_image_tasks(ExportImageTaskIds=[task["ExportImageTaskId"]])["ExportImageTasks"]
check("ec2 DescribeExportImageTasks", tasks[0]["ExportImageTaskId"] == task["ExportImageTaskId"]
      and tasks[0]["S3ExportLocation"]["S3Prefix"] == "releases/x/")
check("ec2 DescribeExportImageTasks not found",
      error_code(lambda: ec2.describe_export_image_tasks(ExportImageTaskIds=["export-ami-0123456789abcdef0"]))
      == "InvalidExportImageTaskId.NotFound")
ec2.create_tags(Resources=[home_ami], Tags=[{"Key": "release", "Value": "golden-1.0.0-1"}])
tags = ec2.describe_images(ImageIds=[home_ami])["Images"][0].get("Tags", [])
check("ec2 CreateTags", {"Key": "release", "Value": "golden-1.0.0-1"} in tags, str(tags))

# ---------------------------------------------------------------- AppStream (boto3: RPC v2 CBOR)
appstream = client("appstream")
check("appstream protocol of boto3", appstream.meta.service_model.protocol == "smithy-rpc-v2-cbor",
      appstream.meta.service_model.protocol)
source = appstream.describe_images(Names=["golden-1.0.0-1"])["Images"][0]
check("appstream DescribeImages (cbor)", source["State"] == "AVAILABLE")
check("appstream DescribeImages not found (cbor)",
      error_code(lambda: appstream.describe_images(Names=["nope"])) == "ResourceNotFoundException")
appstream.copy_image(SourceImageName="golden-1.0.0-1", DestinationImageName="golden-1.0.0-1",
                     DestinationRegion="eu-west-1", DestinationImageDescription="copy, with: any text")
check("appstream CopyImage (cbor)", True)
check("appstream CopyImage again (cbor)",
      error_code(lambda: appstream.copy_image(SourceImageName="golden-1.0.0-1", DestinationImageName="golden-1.0.0-1",
                                              DestinationRegion="eu-west-1")) == "ResourceAlreadyExistsException")
imported = appstream.create_imported_image(Name="imported-1", SourceAmiId=home_ami,
                                           IamRoleArn=f"arn:aws:iam::{ACCOUNT}:role/AppStreamImport",
                                           Description="Released by image-release (1.0.0)", Tags={"team": "platform"})
check("appstream CreateImportedImage (cbor)", imported["Image"]["Name"] == "imported-1")
check("appstream CreateImportedImage bad description (cbor)",
      error_code(lambda: appstream.create_imported_image(Name="imported-2", SourceAmiId=home_ami,
                                                         IamRoleArn=f"arn:aws:iam::{ACCOUNT}:role/AppStreamImport",
                                                         Description="a, b")) == "ValidationException")
appstream.tag_resource(ResourceArn=source["Arn"], Tags={"stage": "released"})
check("appstream TagResource (cbor)", True)
listed = appstream.list_tags_for_resource(ResourceArn=source["Arn"])["Tags"]
check("appstream ListTagsForResource (cbor)", listed.get("stage") == "released", str(listed))

# ---------------------------------------------------------------- the AWS CLI (AppStream: awsJson1_1)
rc, out, err = cli("appstream", "describe-images", "--names", "golden-1.0.0-1", "--debug")
check("cli appstream DescribeImages (json)", rc == 0 and out["Images"][0]["State"] == "AVAILABLE", err[-400:])
check("cli speaks awsJson1_1 to AppStream", "x-amz-json-1.1" in err and "PhotonAdminProxyService.DescribeImages" in err)
rc, out, err = cli("appstream", "describe-images", "--names", "nope")
check("cli appstream DescribeImages not found (json)", rc != 0 and "ResourceNotFoundException" in err, err[-300:])
rc, out, err = cli("appstream", "copy-image", "--source-image-name", "golden-1.0.0-1", "--destination-image-name",
                   "golden-1.0.0-1", "--destination-region", "ap-southeast-2")
check("cli appstream CopyImage (json)", rc == 0 and out["DestinationImageName"] == "golden-1.0.0-1", err[-300:])
rc, out, err = cli("appstream", "copy-image", "--source-image-name", "golden-1.0.0-1", "--destination-image-name",
                   "golden-1.0.0-1", "--destination-region", "ap-southeast-2")
check("cli appstream CopyImage again (json)", rc != 0 and "ResourceAlreadyExistsException" in err, err[-300:])
rc, out, err = cli("appstream", "create-imported-image", "--name", "imported-cli", "--source-ami-id", home_ami,
                   "--iam-role-arn", f"arn:aws:iam::{ACCOUNT}:role/AppStreamImport")
check("cli appstream CreateImportedImage (json)", rc == 0 and out["Image"]["Name"] == "imported-cli", err[-300:])
rc, out, err = cli("appstream", "tag-resource", "--resource-arn", source["Arn"], "--tags", "cli=yes")
check("cli appstream TagResource (json)", rc == 0, err[-300:])
rc, out, err = cli("appstream", "list-tags-for-resource", "--resource-arn", source["Arn"])
check("cli appstream ListTagsForResource (json)", rc == 0 and out["Tags"].get("cli") == "yes", err[-300:])
time.sleep(0.5)
rc, out, err = cli("appstream", "describe-images", "--names", "golden-1.0.0-1", region="ap-southeast-2")
check("cli appstream copy is regional (json)", rc == 0 and out["Images"][0]["Name"] == "golden-1.0.0-1", err[-300:])
rc, out, err = cli("imagebuilder", "get-image", "--image-build-version-arn", image_arn)
check("cli imagebuilder GetImage", rc == 0 and out["image"]["arn"] == image_arn, err[-300:])
rc, out, err = cli("imagebuilder", "list-image-pipeline-images", "--image-pipeline-arn", PIPELINE)
check("cli imagebuilder ListImagePipelineImages", rc == 0 and image_arn in [i["arn"] for i in out["imageSummaryList"]],
      err[-300:])
rc, out, err = cli("ec2", "describe-export-image-tasks", "--export-image-task-ids", task["ExportImageTaskId"])
check("cli ec2 DescribeExportImageTasks", rc == 0 and len(out["ExportImageTasks"]) == 1, err[-300:])
failed = appstream.describe_images(Names=["imported-1"])["Images"][0]
check("appstream import of an AMI that misses the requirements fails with IMAGE_IMPORT_FAILURE",
      failed["State"] == "FAILED" and failed["StateChangeReason"]["Code"] == "IMAGE_IMPORT_FAILURE", str(failed))
# ---------------------------------------------------------------- EventBridge (boto3 and the CLI, awsJson1_1)
events = client("events")
detail = json.dumps({"releaseId": "golden-1.0.0-1", "state": "published"})
out = events.put_events(Entries=[{"Source": "image-release", "DetailType": "Release Published", "Detail": detail}])
check("events PutEvents", out["FailedEntryCount"] == 0 and "EventId" in out["Entries"][0], str(out))
out = events.put_events(Entries=[{"Source": "image-release", "DetailType": "Release Failed", "Detail": "not json"},
                                 {"Source": "image-release", "DetailType": "Release Failed", "Detail": detail}])
check("events PutEvents fails only the malformed entry",
      out["FailedEntryCount"] == 1 and out["Entries"][0]["ErrorCode"] == "MalformedDetail"
      and "EventId" in out["Entries"][1], str(out))
check("events PutEvents with 11 entries is a ValidationException",
      error_code(lambda: events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}] * 11))
      == "ValidationException")
rc, out, err = cli("events", "put-events", "--entries",
                   json.dumps([{"Source": "image-release", "DetailType": "Release Published", "Detail": detail}]))
check("cli events PutEvents", rc == 0 and out["FailedEntryCount"] == 0, err[-300:])
# ---------------------------------------------------------------- KMS (boto3, the CLI and openssl)
import hashlib
import tempfile

kms = client("kms")
key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
check("kms CreateKey ECC_NIST_P256 SIGN_VERIFY",
      key["KeySpec"] == "ECC_NIST_P256" and key["SigningAlgorithms"] == ["ECDSA_SHA_256"], str(key))
message = b"published bytes\n"
digest = hashlib.sha256(message).digest()
signed = kms.sign(KeyId=key["Arn"], Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
check("kms Sign DIGEST", signed["KeyId"] == key["Arn"] and len(signed["Signature"]) > 60, str(signed)[:200])
check("kms Verify DIGEST", kms.verify(KeyId=key["KeyId"], Message=digest, MessageType="DIGEST",
                                      Signature=signed["Signature"],
                                      SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"])
check("kms Verify of another message is KMSInvalidSignatureException",
      error_code(lambda: kms.verify(KeyId=key["Arn"], Message=hashlib.sha256(b"x").digest(), MessageType="DIGEST",
                                    Signature=signed["Signature"], SigningAlgorithm="ECDSA_SHA_256"))
      == "KMSInvalidSignatureException")
check("kms Sign of a 31-byte DIGEST is a ValidationException",
      error_code(lambda: kms.sign(KeyId=key["Arn"], Message=digest[:31], MessageType="DIGEST",
                                  SigningAlgorithm="ECDSA_SHA_256")) == "ValidationException")
check("kms Sign with an RSA algorithm is InvalidKeyUsageException",
      error_code(lambda: kms.sign(KeyId=key["Arn"], Message=digest, MessageType="DIGEST",
                                  SigningAlgorithm="RSASSA_PSS_SHA_256")) == "InvalidKeyUsageException")
check("kms Sign with an algorithm outside the model's enum is a ValidationException",
      error_code(lambda: kms.sign(KeyId=key["Arn"], Message=digest, MessageType="DIGEST",
                                  SigningAlgorithm="ECDSA_SHA_1")) == "ValidationException")
check("kms Sign with an unknown key is NotFoundException",
      error_code(lambda: kms.sign(KeyId="1234abcd-12ab-34cd-56ef-1234567890ab", Message=digest,
                                  SigningAlgorithm="ECDSA_SHA_256")) == "NotFoundException")
rc, out, err = cli("kms", "get-public-key", "--key-id", key["Arn"])
check("cli kms GetPublicKey", rc == 0 and out["KeySpec"] == "ECC_NIST_P256", err[-300:])
# openssl, which shares nothing with the emulator, checks a DIGEST signature over the bytes and a
# RAW one (KMS hashes the message itself).
raw = kms.sign(KeyId=key["Arn"], Message=message, SigningAlgorithm="ECDSA_SHA_256")["Signature"]
with tempfile.TemporaryDirectory() as d:
    der = kms.get_public_key(KeyId=key["Arn"])["PublicKey"]
    open(f"{d}/key.der", "wb").write(der)
    open(f"{d}/message", "wb").write(message)
    for name, signature in [("DIGEST", signed["Signature"]), ("RAW", raw)]:
        open(f"{d}/message.sig", "wb").write(signature)
        out = subprocess.run(["openssl", "dgst", "-sha256", "-verify", f"{d}/key.der", "-keyform", "DER",
                              "-signature", f"{d}/message.sig", f"{d}/message"], capture_output=True, text=True)
        check(f"openssl verifies the emulator's {name} signature", "Verified OK" in out.stdout,
              out.stdout + out.stderr)
# ---- EC2 launch permissions and SSM parameters (channels: checked promotion, the parameters)
attribute = ec2.describe_image_attribute(ImageId=home_ami, Attribute="launchPermission")
check("ec2 DescribeImageAttribute launchPermission",
      attribute["ImageId"] == home_ami and {"UserId": "111122223333"} in attribute["LaunchPermissions"],
      str(attribute))
check("ec2 DescribeImageAttribute not found",
      error_code(lambda: ec2.describe_image_attribute(ImageId="ami-0000000000000000f",
                                                     Attribute="launchPermission")) == "InvalidAMIID.NotFound")
rc, out, err = cli("ec2", "describe-image-attribute", "--image-id", home_ami, "--attribute", "launchPermission")
check("cli ec2 DescribeImageAttribute", rc == 0 and out["LaunchPermissions"] == [{"UserId": "111122223333"}],
      err[-300:])
distribution = ib.get_distribution_configuration(distributionConfigurationArn=DISTRIBUTION)["distributionConfiguration"]
check("imagebuilder GetDistributionConfiguration launchPermission",
      distribution["distributions"][0]["amiDistributionConfiguration"]["launchPermission"]["userIds"]
      == ["111122223333"], str(distribution))
ssm = client("ssm")
NAME = "/image-release/golden/stable"
put = ssm.put_parameter(Name=NAME, Value=home_ami, Type="String", DataType="aws:ec2:image")
check("ssm PutParameter aws:ec2:image", put["Version"] == 1, str(put))


def validated(name, value, region="us-east-1"):
    """SSM validates aws:ec2:image values asynchronously: waits until `name` reads `value`."""
    for _ in range(100):
        try:
            if client("ssm", region).get_parameter(Name=name)["Parameter"]["Value"] == value:
                return
        except ClientError:
            pass
        time.sleep(0.02)


validated(NAME, home_ami)
got = ssm.get_parameter(Name=NAME)["Parameter"]
check("ssm GetParameter", got["Value"] == home_ami and got["DataType"] == "aws:ec2:image" and got["Version"] == 1
      and got["ARN"] == f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/image-release/golden/stable", str(got))
check("ssm PutParameter of an existing name without Overwrite is ParameterAlreadyExists",
      error_code(lambda: ssm.put_parameter(Name=NAME, Value=home_ami, Type="String",
                                           DataType="aws:ec2:image")) == "ParameterAlreadyExists")
put = ssm.put_parameter(Name=NAME, Value="ami-0000000000000000f", Type="String", DataType="aws:ec2:image",
                        Overwrite=True)
time.sleep(0.2)
check("ssm aws:ec2:image of a missing AMI answers 200 and the validation keeps the old value",
      ssm.get_parameter(Name=NAME)["Parameter"]["Value"] == home_ami, str(put))
check("ssm a name under /aws is refused as access to a reserved name",
      error_code(lambda: ssm.put_parameter(Name="/aws/x", Value="v", Type="String")) == "AccessDeniedException")
check("ssm a name beginning ssm is a ValidationException",
      error_code(lambda: ssm.put_parameter(Name="ssm-x", Value="v", Type="String")) == "ValidationException")
check("ssm a name of 16 levels is HierarchyLevelLimitExceededException",
      error_code(lambda: ssm.put_parameter(Name="/a" * 16, Value="v", Type="String"))
      == "HierarchyLevelLimitExceededException")
check("ssm aws:ec2:image on a StringList is UnsupportedParameterType",
      error_code(lambda: ssm.put_parameter(Name="/list", Value=home_ami, Type="StringList",
                                           DataType="aws:ec2:image")) == "UnsupportedParameterType")
check("ssm GetParameter not found", error_code(lambda: ssm.get_parameter(Name="/nothing")) == "ParameterNotFound")
check("ssm parameters are regional",
      error_code(lambda: client("ssm", "eu-west-1").get_parameter(Name=NAME)) == "ParameterNotFound")
rc, out, err = cli("ssm", "get-parameter", "--name", NAME)
check("cli ssm GetParameter", rc == 0 and out["Parameter"]["Value"] == home_ami, err[-300:])
rc, out, err = cli("ssm", "delete-parameter", "--name", NAME)
check("cli ssm DeleteParameter", rc == 0, err[-300:])
check("ssm a deleted parameter is not found",
      error_code(lambda: ssm.get_parameter(Name=NAME)) == "ParameterNotFound")
# ---- What AWS refuses, the emulator refuses (issue 30; each failed on the emulator before)
check("imagebuilder a malformed ARN is a validation error, not a missing resource",
      error_code(lambda: ib.get_image(imageBuildVersionArn="arn:nope")) == "InvalidParameterValueException")
long_token = "t" * 64
long_started = ib.start_image_pipeline_execution(imagePipelineArn=PIPELINE, clientToken=long_token)
check("imagebuilder StartImagePipelineExecution takes a 64-character clientToken (the model's)",
      long_started["clientToken"] == long_token)
check("imagebuilder an empty tags map is refused (TagMap min 1)",
      error_code(lambda: ib.start_image_pipeline_execution(imagePipelineArn=PIPELINE, clientToken="empty-tags",
                                                           tags={})) == "InvalidParameterValueException")
check("imagebuilder DistributeImage executionRole must match RoleNameOrArn",
      error_code(lambda: ib.distribute_image(sourceImage=image_arn, distributionConfigurationArn=DISTRIBUTION,
                                             executionRole="not a role!", clientToken="bad-role"))
      == "InvalidParameterValueException")
check("imagebuilder ListImagePipelineImages filters are name or version only",
      error_code(lambda: ib.list_image_pipeline_images(imagePipelineArn=PIPELINE,
                                                       filters=[{"name": "arch", "values": ["x86_64"]}]))
      == "InvalidParameterValueException")
for name, call in [
    ("EnableImageDeprecation", lambda: ec2.enable_image_deprecation(ImageId=home_ami, DeprecateAt=soon_dt(), DryRun=True)),
    ("DisableImage", lambda: ec2.disable_image(ImageId=home_ami, DryRun=True)),
    ("DeregisterImage", lambda: ec2.deregister_image(ImageId=home_ami, DryRun=True)),
    ("CreateTags", lambda: ec2.create_tags(Resources=[home_ami], Tags=[{"Key": "dry", "Value": "run"}], DryRun=True)),
]:
    check(f"ec2 {name} DryRun answers DryRunOperation", error_code(call) == "DryRunOperation")
after = ec2.describe_images(ImageIds=[home_ami])["Images"][0]
check("ec2 DryRun calls changed nothing", after["State"] == "available" and "DeprecationTime" not in after
      and {"Key": "dry", "Value": "run"} not in after.get("Tags", []), str(after))
check("kms Sign DryRun answers DryRunOperationException, no signature",
      error_code(lambda: kms.sign(KeyId=key["Arn"], Message=digest, MessageType="DIGEST",
                                  SigningAlgorithm="ECDSA_SHA_256", DryRun=True)) == "DryRunOperationException")
check("appstream CreateImportedImage DryRun answers DryRunOperationException",
      error_code(lambda: appstream.create_imported_image(
          Name="dry-run-1", SourceAmiId=home_ami, IamRoleArn=ROLE, DryRun=True)) == "DryRunOperationException")
check("appstream a dry run creates nothing",
      error_code(lambda: appstream.describe_images(Names=["dry-run-1"])) == "ResourceNotFoundException")
entry = {"Source": "image-release", "DetailType": "Release Requested", "Detail": "{}"}
refused = events.put_events(Entries=[dict(entry, Source="aws.ec2"), dict(entry, Source="")])
check("events a source beginning aws. or an empty one fails its entry",
      refused["FailedEntryCount"] == 2
      and refused["Entries"][0].get("ErrorCode") == "NotAuthorizedForSourceException"
      and refused["Entries"][1].get("ErrorCode") == "InvalidArgument", str(refused))
elsewhere = events.put_events(Entries=[dict(entry, EventBusName=f"arn:aws:events:eu-west-1:{ACCOUNT}:event-bus/default")])
check("events a bus of another region is refused", elsewhere["FailedEntryCount"] == 1, str(elsewhere))
check("events a request over the size limit is a ValidationException",
      error_code(lambda: events.put_events(Entries=[dict(entry, Detail=json.dumps({"x": "y" * (1024 * 1024)}))]))
      == "ValidationException")
ssm.put_parameter(Name="/refs/golden", Value=home_ami, Type="String", DataType="aws:ec2:image")
validated("/refs/golden", home_ami)
held = ec2.describe_image_references(ImageIds=[home_ami], IncludeAllResourceTypes=True)["ImageReferences"]
check("ec2 DescribeImageReferences sees the account's own aws:ec2:image parameter",
      [(r["ResourceType"], r["Arn"]) for r in held]
      == [("ssm:Parameter", f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/refs/golden")], str(held))
ssm.delete_parameter(Name="/refs/golden")
# botocore checks the model's minimums itself: a client that does not sends what AWS must refuse.
unchecked_ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=ENDPOINT, **CREDENTIALS,
                             config=CONFIG.merge(botocore.config.Config(parameter_validation=False)))
check("ec2 DescribeImageReferences MaxResults below 5 is refused",
      error_code(lambda: unchecked_ec2.describe_image_references(ImageIds=[home_ami], IncludeAllResourceTypes=True,
                                                       MaxResults=4)) == "InvalidParameterValue")
check("ec2 DescribeImageReferences takes at most 10 images",
      error_code(lambda: unchecked_ec2.describe_image_references(ImageIds=[home_ami] * 11,
                                                                 IncludeAllResourceTypes=True))
      == "InvalidParameterValue")
# ---- EC2 AMI lifecycle (revocation, retention)
import datetime
past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
check("ec2 EnableImageDeprecation in the past is refused",
      error_code(lambda: ec2.enable_image_deprecation(ImageId=home_ami, DeprecateAt=past)) == "InvalidParameterValue")
soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=2, seconds=20)
check("ec2 EnableImageDeprecation", ec2.enable_image_deprecation(ImageId=home_ami, DeprecateAt=soon)["Return"])
deprecation = ec2.describe_images(ImageIds=[home_ami])["Images"][0]["DeprecationTime"]
check("ec2 DescribeImages shows DeprecationTime rounded to the minute", deprecation.endswith(":00Z")
      or deprecation.endswith(":00.000Z"), deprecation)
references = ec2.describe_image_references(ImageIds=[home_ami], IncludeAllResourceTypes=True)
check("ec2 DescribeImageReferences", references["ImageReferences"] == [], str(references))
check("ec2 DescribeImageReferences without resource types is refused",
      error_code(lambda: ec2.describe_image_references(ImageIds=[home_ami])) == "InvalidParameterCombination")
rc, out, err = cli("ec2", "describe-image-references", "--image-ids", home_ami, "--include-all-resource-types")
check("cli ec2 DescribeImageReferences", rc == 0 and out["ImageReferences"] == [], err[-300:])
check("ec2 DisableImage", ec2.disable_image(ImageId=home_ami)["Return"])
check("ec2 DescribeImages leaves a disabled AMI out", ec2.describe_images(ImageIds=[home_ami])["Images"] == [])
disabled = ec2.describe_images(ImageIds=[home_ami], IncludeDisabled=True)["Images"]
check("ec2 DescribeImages IncludeDisabled shows it disabled", disabled[0]["State"] == "disabled", str(disabled))
check("ec2 a disabled AMI has no launch permission",
      ec2.describe_image_attribute(ImageId=home_ami, Attribute="launchPermission")["LaunchPermissions"] == [])
gone = ec2.deregister_image(ImageId=home_ami, DeleteAssociatedSnapshots=True)
check("ec2 DeregisterImage DeleteAssociatedSnapshots",
      gone["Return"] and gone["DeleteSnapshotResults"][0]["ReturnCode"] == "success", str(gone))
check("ec2 a deregistered AMI is listed no more (\"return empty results\", not an error)",
      ec2.describe_images(ImageIds=[home_ami])["Images"] == [])
print("all checks passed")

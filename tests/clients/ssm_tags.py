"""SSM parameter tags as the channels use them, driven with boto3 (a client nobody here wrote)
against one endpoint. Prints one JSON object: each step's answer (a value, or an error code), so
the caller can hold the emulator's answers and moto's side by side.

usage: ssm_tags.py <endpoint>
"""
import json
import sys

import boto3
import botocore.config
from botocore.exceptions import ClientError

ENDPOINT = sys.argv[1]
ssm = boto3.client(
    "ssm", region_name="us-east-1", endpoint_url=ENDPOINT,
    aws_access_key_id="AKIDLOCAL", aws_secret_access_key="local-secret",
    config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}),
)
NAME = "/image-release/stack-a/golden/stable"
OWNER = [{"Key": "image-release:bucket", "Value": "stack-a-artifacts"}]
answers = {}


def step(name, call):
    try:
        answers[name] = call()
    except ClientError as err:
        answers[name] = "error " + err.response["Error"]["Code"]


def tags(name):
    listed = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
    return sorted((t["Key"], t["Value"]) for t in listed)


step("create with tags", lambda: ssm.put_parameter(Name=NAME, Value="v1", Type="String", Tags=OWNER)["Version"])
step("tags after create", lambda: tags(NAME))
step("tags with overwrite", lambda: ssm.put_parameter(Name=NAME, Value="v2", Type="String", Overwrite=True,
                                                      Tags=OWNER)["Version"])
step("value after refused overwrite", lambda: ssm.get_parameter(Name=NAME)["Parameter"]["Value"])
step("create again with tags", lambda: ssm.put_parameter(Name=NAME, Value="v2", Type="String", Tags=OWNER)["Version"])
step("overwrite without tags", lambda: ssm.put_parameter(Name=NAME, Value="v2", Type="String",
                                                         Overwrite=True)["Version"])
step("tags kept by an overwrite", lambda: tags(NAME))
step("add a tag", lambda: ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=NAME,
                                                   Tags=[{"Key": "team", "Value": "platform"}]) and "ok")
step("tags after adding", lambda: tags(NAME))
step("tags of a missing parameter", lambda: tags("/image-release/stack-a/nothing"))
step("create untagged", lambda: ssm.put_parameter(Name="/untagged", Value="v", Type="String")["Version"])
step("tags of an untagged parameter", lambda: tags("/untagged"))
step("delete", lambda: ssm.delete_parameter(Name=NAME) and "ok")
step("tags after delete", lambda: tags(NAME))
print(json.dumps(answers, sort_keys=True))

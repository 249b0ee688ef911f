"""What the emulator's client scripts share: boto3 clients and the AWS CLI pointed at the
emulator (argv[1] its endpoint, argv[2] the `aws` executable), local credentials, no retries,
and the checks' own words (`ok`/`FAIL`, an error's code)."""
import json
import os
import subprocess
import sys

import boto3
import botocore.config
from botocore.exceptions import ClientError

ENDPOINT, AWS_CLI = sys.argv[1], sys.argv[2]
CREDENTIALS = {"aws_access_key_id": "AKIDLOCAL", "aws_secret_access_key": "local-secret"}
CONFIG = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})


def client(service, region="us-east-1", config=CONFIG):
    return boto3.client(service, region_name=region, endpoint_url=ENDPOINT, config=config, **CREDENTIALS)


def check(what, condition, detail=""):
    if not condition:
        print(f"FAIL {what} {detail}")
        sys.exit(1)
    print(f"ok   {what}")


def error_code(call):
    try:
        call()
    except ClientError as err:
        return err.response["Error"]["Code"]
    return None


def cli(*args, region="us-east-1"):
    """`aws <args>` against the emulator: (exit code, the JSON answer, stderr)."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDLOCAL", AWS_SECRET_ACCESS_KEY="local-secret",
               AWS_DEFAULT_REGION=region, AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard")
    out = subprocess.run([AWS_CLI, *args, "--endpoint-url", ENDPOINT, "--region", region, "--output", "json"],
                         capture_output=True, text=True, env=env)
    return out.returncode, (json.loads(out.stdout) if out.stdout.strip() else None), out.stderr

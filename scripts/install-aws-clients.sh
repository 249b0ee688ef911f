#!/usr/bin/env bash
# Installs the AWS clients nobody in this project wrote, from PyPI, into their own venv: boto3
# (with botocore, whose service models and endpoint data the project checks itself against) and
# the AWS CLI v1. Prints the venv's bin directory.
# Pinned, with hashes, by scripts/requirements/awscli.txt: scripts/botocore-data.py compares
# shared/data/appstream-regions.txt with this botocore's endpoint data, so a new botocore is a
# deliberate change (edit awscli.in, run scripts/requirements/compile.sh, regenerate the list).
set -euo pipefail
source "$(dirname "$0")/lib/venv.sh"
install_venv awscli
echo "$VENV/bin"

#!/usr/bin/env bash
# Installs the AWS clients nobody in this project wrote, from PyPI, into their own venv: boto3
# (with botocore, whose service models and endpoint data the project checks itself against) and
# the AWS CLI v1. Prints the venv's bin directory.
set -euo pipefail
tools="${IMAGE_RELEASE_TOOLS:-$HOME/.cache/image-release}"
venv="$tools/venv-awscli"
mkdir -p "$tools"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# Pinned: scripts/appstream-regions.py compares shared/data/appstream-regions.txt with this
# botocore's endpoint data, so a new botocore is a deliberate change (regenerate the list).
"$venv/bin/python" -c 'import boto3, awscli, sys; sys.exit(0 if boto3.__version__ == "1.44.5" and awscli.__version__ == "1.46.3" else 1)' 2>/dev/null \
    || "$venv/bin/pip" install -q --disable-pip-version-check "boto3==1.44.5" "awscli==1.46.3" >&2
echo "$venv/bin"

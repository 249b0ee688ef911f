#!/usr/bin/env bash
# Installs the deployment tools from PyPI into a venv: cargo-lambda (brings zig through the
# ziglang package) and the SAM CLI. Prints the PATH prefix to use: cargo-lambda runs
# `python3 -m ziglang`, so the venv's python must come first on PATH.
set -euo pipefail
tools="${IMAGE_RELEASE_TOOLS:-$HOME/.cache/image-release}"
venv="$tools/venv-deploy"
mkdir -p "$tools"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "cargo-lambda==1.9.*" "aws-sam-cli==1.*" >&2
echo "$venv/bin"

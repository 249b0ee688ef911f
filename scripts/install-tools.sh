#!/usr/bin/env bash
# Installs the deployment tools from PyPI into a venv, from the hash-pinned lock
# scripts/requirements/deploy.txt: cargo-lambda (brings zig through the ziglang package) and the
# SAM CLI. Prints the PATH prefix to use: cargo-lambda runs `python3 -m ziglang`, so the venv's
# python must come first on PATH.
set -euo pipefail
source "$(dirname "$0")/lib/venv.sh"
install_venv deploy
echo "$VENV/bin"

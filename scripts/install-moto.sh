#!/usr/bin/env bash
# Installs moto's server (S3 and CloudFront stand-in) from PyPI into its own venv, from the
# hash-pinned lock scripts/requirements/moto.txt, and prints the path of its `moto_server`
# executable.
set -euo pipefail
source "$(dirname "$0")/lib/venv.sh"
install_venv moto
echo "$VENV/bin/moto_server"

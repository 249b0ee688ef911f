#!/usr/bin/env bash
# Installs moto's server (S3 and CloudFront stand-in) from PyPI into its own venv and prints the
# path of its `moto_server` executable.
set -euo pipefail
tools="${IMAGE_RELEASE_TOOLS:-$HOME/.cache/image-release}"
venv="$tools/venv-moto"
mkdir -p "$tools"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
[ -x "$venv/bin/moto_server" ] || "$venv/bin/pip" install -q --disable-pip-version-check "moto[server]==5.*" >&2
echo "$venv/bin/moto_server"

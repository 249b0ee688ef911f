#!/usr/bin/env bash
# The project's test command: unit, adapter, emulator, template and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/image-release/target}"
# moto's server for the end-to-end tests (S3, CloudFront), from PyPI into a venv.
MOTO_SERVER=$(bash scripts/install-moto.sh)
export MOTO_SERVER
# The function binaries the end-to-end tests run, built with the same features as the tests
# (--tests) so the SDKs are compiled once.
cargo build --workspace --bins --tests
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi

#!/usr/bin/env bash
# The local demo: one complete image release on this machine, no AWS account, no Docker.
# Installs moto's server from PyPI (first run), builds the functions, then runs local-release:
# Release Requested → pipeline → DistributeImage → ExportImage + AppStream CopyImage to two
# regions → manifest published and invalidated. Extra arguments go to local-release
# (try --help, --regions, --fail-build "reason", --fail-export "reason").
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/image-release/target}"
MOTO_SERVER=$(bash scripts/install-moto.sh)
export MOTO_SERVER
# --tests: the same features as the test build, so the SDKs are compiled once for both.
cargo build --workspace --bins --tests --quiet
exec "$CARGO_TARGET_DIR/debug/local-release" "$@"

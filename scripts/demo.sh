#!/usr/bin/env bash
# The local demo: one complete image release on this machine, no AWS account, no Docker.
# Installs moto's server from PyPI (first run), builds the functions, then runs local-release:
# Release Requested → pipeline → DistributeImage → ExportImage + AppStream CopyImage to two
# regions → manifest published and invalidated. Extra arguments go to local-release
# (try --help, --regions, --fail-build "reason", --fail-export "reason"; --keep --releases 2
# keeps the whole stack running for the operator CLI's lifecycle until Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/image-release/target}"
echo "== Python tools (pinned, from PyPI; a minute the first time): moto, SAM's translator" >&2
MOTO_SERVER=$(bash scripts/install-moto.sh)
export MOTO_SERVER
# SAM's own translator resolves each function's role from template.yaml for the local IAM.
IMAGE_RELEASE_IAM_PYTHON="$(bash scripts/install-iam-tools.sh)/python"
export IMAGE_RELEASE_IAM_PYTHON
echo "== cargo build: the functions, the emulator and the local runner" >&2
echo "   (the first build compiles five AWS SDK crates: about 10 minutes and 9 GB on 2 cores;" >&2
echo "   later builds take seconds)" >&2
# --tests: the same features as the test build, so the SDKs are compiled once for both.
cargo build --workspace --bins --tests
status=0
"$CARGO_TARGET_DIR/debug/local-release" "$@" || status=$?
case " $* " in
*" --keep "*) ;; # it printed the lifecycle to try, and ran it until Ctrl-C
*)
    echo >&2
    echo "== try the whole lifecycle on a local stack that keeps running until Ctrl-C:" >&2
    echo "   scripts/demo.sh --keep --releases 2" >&2
    echo "   (it prints the environment to export, the downloads page, and the commands: status," >&2
    echo "   channels, promote, rollback, revoke then verify, retention plan and apply, url, request)" >&2
    ;;
esac
exit "$status"

#!/usr/bin/env bash
# `sam build` of every function with cargo-lambda (release, arm64, no Docker), then the size of
# each bootstrap and of its zip as Lambda would receive it.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(bash scripts/install-tools.sh)
export PATH="$bin:$PATH"
export SAM_CLI_TELEMETRY=0
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/image-release/target}"
sam build --template-file template.yaml --build-dir .aws-sam/build
echo
printf '%-24s %12s %12s\n' function bootstrap zip
for dir in .aws-sam/build/*Function; do
    boot="$dir/bootstrap"
    [ -f "$boot" ] || { echo "missing $boot"; exit 1; }
    zip=$(mktemp -u).zip
    (cd "$dir" && python3 -m zipfile -c "$zip" bootstrap)
    printf '%-24s %12s %12s\n' "$(basename "$dir")" "$(stat -c %s "$boot")" "$(stat -c %s "$zip")"
    rm -f "$zip"
done

#!/usr/bin/env bash
# Installs Node.js from Debian's packages (it runs the downloads' CloudFront Function on sample
# events in tests/tests/template.rs) when it is not there yet, and prints the path of `node`.
# NODE overrides the look-up.
set -euo pipefail
find_node() {
    if [ -n "${NODE:-}" ] && [ -x "$NODE" ]; then echo "$NODE"; return 0; fi
    command -v node || command -v nodejs || return 1
}
if path=$(find_node); then echo "$path"; exit 0; fi
if ! command -v apt-get >/dev/null; then
    echo "install-node: no Node.js and no apt-get; install Node.js and set NODE" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "install-node: apt-get needs root (or sudo)" >&2; exit 1; }
    sudo="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends nodejs >&2
find_node

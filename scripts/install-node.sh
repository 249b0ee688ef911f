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
source "$(dirname "$0")/lib/apt.sh"
apt_install node NODE nodejs
find_node

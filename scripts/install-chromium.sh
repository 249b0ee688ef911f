#!/usr/bin/env bash
# Installs headless Chromium from Debian's packages (for the downloads-page browser test) when it
# is not there yet, and prints the path of its executable. CHROMIUM overrides the look-up.
set -euo pipefail
find_chromium() {
    if [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ]; then echo "$CHROMIUM"; return 0; fi
    command -v chromium || command -v chromium-browser || command -v google-chrome || return 1
}
if path=$(find_chromium); then echo "$path"; exit 0; fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
find_chromium

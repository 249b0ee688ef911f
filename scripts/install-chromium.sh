#!/usr/bin/env bash
# Installs headless Chromium from Debian's packages (for the downloads-page browser test,
# tests/tests/downloads_page.rs) when it is not there yet, and prints the path of its executable.
# CHROMIUM overrides the look-up. About 290 MB installed.
set -euo pipefail
find_chromium() {
    if [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ]; then echo "$CHROMIUM"; return 0; fi
    command -v chromium || command -v chromium-browser || command -v google-chrome || return 1
}
if path=$(find_chromium); then echo "$path"; exit 0; fi
source "$(dirname "$0")/lib/apt.sh"
apt_install chromium CHROMIUM chromium fonts-dejavu-core
find_chromium

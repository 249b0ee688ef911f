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
if ! command -v apt-get >/dev/null; then
    echo "install-chromium: no Chromium and no apt-get; install Chromium and set CHROMIUM" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "install-chromium: apt-get needs root (or sudo)" >&2; exit 1; }
    sudo="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
find_chromium

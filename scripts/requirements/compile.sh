#!/usr/bin/env bash
# Regenerates the hash-pinned locks scripts/requirements/NAME.txt from NAME.in with pip-tools'
# pip-compile, run from a throwaway venv (so pip-tools itself is in none of the project's venvs).
#
#   bash scripts/requirements/compile.sh                 # every NAME.in; keeps the current pins
#   bash scripts/requirements/compile.sh awscli          # one lock
#   bash scripts/requirements/compile.sh moto -- --upgrade                    # newest the .in allows
#   bash scripts/requirements/compile.sh awscli -- --upgrade-package botocore
#
# Arguments after `--` go to pip-compile. Without --upgrade/--upgrade-package, pip-compile keeps
# the pins already in NAME.txt that still satisfy NAME.in. Run it with the python the venvs are
# made with (python3; the locks are resolved for its version). scripts/lib/venv.sh reinstalls a
# venv whose lock changed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
PIP_TOOLS_VERSION=7.6.2
names=()
while [ $# -gt 0 ]; do
    case "$1" in
        --) shift; break ;;
        *) names+=("$1"); shift ;;
    esac
done
if [ ${#names[@]} -eq 0 ]; then
    for f in "$here"/*.in; do names+=("$(basename "$f" .in)"); done
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q --disable-pip-version-check "pip-tools==$PIP_TOOLS_VERSION" >&2
cd "$here"
for name in "${names[@]}"; do
    [ -f "$name.in" ] || { echo "compile.sh: no $here/$name.in" >&2; exit 1; }
    echo "== $name" >&2
    CUSTOM_COMPILE_COMMAND="bash scripts/requirements/compile.sh $name" \
        "$tmp/venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras \
        --no-emit-index-url --no-emit-find-links --output-file "$name.txt" "$name.in" "$@"
    # pip-compile writes its own header (the command above); say what the file is for.
    { echo "# Hash-pinned lock of $name.in for scripts/lib/venv.sh (pip install --require-hashes --no-deps)."
      echo "# Do not edit: regenerate with the command below (add '-- --upgrade' to move every pin)."
      grep -v '^# Hash-pinned lock of \|^# Do not edit: regenerate' "$name.txt"; } > "$tmp/$name.txt"
    mv "$tmp/$name.txt" "$name.txt"
    echo "wrote scripts/requirements/$name.txt ($(grep -c '^[A-Za-z0-9]' "$name.txt") packages)" >&2
done

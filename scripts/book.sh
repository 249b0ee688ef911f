#!/usr/bin/env bash
# Builds the book (docs/, mdBook) into docs/book. mdBook is installed from crates.io, pinned,
# once, into ~/.cache/image-release/tools (cargo install skips it when that version is there).
# Its internal links are checked by tests/tests/docs.rs, part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
MDBOOK_VERSION=0.5.4
TOOLS="${IMAGE_RELEASE_BOOK_TOOLS:-$HOME/.cache/image-release/tools}"
if ! "$TOOLS/bin/mdbook" --version 2>/dev/null | grep -qx "mdbook v$MDBOOK_VERSION"; then
    echo "book.sh: installing mdbook $MDBOOK_VERSION from crates.io into $TOOLS" >&2
    cargo install --quiet --locked --root "$TOOLS" --no-default-features --features search \
        mdbook --version "$MDBOOK_VERSION"
fi
"$TOOLS/bin/mdbook" build docs
echo "book.sh: built docs/book/index.html" >&2

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run QEMU's scripts/checkpatch.pl on the patch series and on every new
# file of ours.  New files are checked as patches that add them, so that
# checkpatch applies its rules for new files (SPDX header and so on).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
tree="$top/build/qemu"
. "$top/scripts/overlay-dirs.sh"
cp="$tree/scripts/checkpatch.pl"
[ -x "$cp" ] || { echo "checkpatch: no QEMU tree (run make first)" >&2; exit 1; }

fail=0
n=0
for p in "$top"/patches/*.patch; do
    [ -e "$p" ] || continue
    n=$((n + 1))
    if ! (cd "$tree" && ./scripts/checkpatch.pl -q "$p"); then
        echo "checkpatch: FAIL $(basename "$p")"
        fail=$((fail + 1))
    fi
done

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
files=$(cd "$top" && git ls-files --cached --others --exclude-standard -- \
        $OVERLAY_DIRS | grep -E '\.(c|h|json|py|sh|inc)$|meson\.build$' || true)
for f in $files; do
    n=$((n + 1))
    {
        printf 'From: qemu-power\nSubject: [PATCH] add %s\n\n' "$f"
        printf 'Signed-off-by: qemu-power <qemu-power@localhost>\n---\n'
        (cd "$top" && git diff --no-index -- /dev/null "$f") || true
    } > "$tmp"
    if ! (cd "$tree" && ./scripts/checkpatch.pl -q --no-signoff "$tmp"); then
        echo "checkpatch: FAIL $f"
        fail=$((fail + 1))
    fi
done
echo "checkpatch: $((n - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Turn the pristine tree (build/qemu-src) into the patched working tree
# build/qemu:
#   1. build/qemu is a git repository whose first commit is the pristine
#      tree (tag 'pristine');
#   2. patches/*.patch are applied in order with 'git am'; the first one
#      that does not apply stops everything with its name;
#   3. every new file of ours (the QEMU-shaped folders of this repository)
#      is linked into the tree, so editing it here is seen by ninja at once.
#      An overlay file must not replace a QEMU file: changes to existing
#      files belong in the patch series.
#
# Re-running is cheap: the series is re-applied only when patches/ changed,
# and git rewrites only the files the series touches, so a rebuild stays
# incremental.  Uncommitted edits in build/qemu are never thrown away.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
src="$top/build/qemu-src"
tree="$top/build/qemu"
. "$top/scripts/overlay-dirs.sh"

die() {
    echo "prepare-tree: $*" >&2
    exit 1
}

[ -f "$src/VERSION" ] || die "no pristine tree in $src (run scripts/fetch-qemu.sh)"

# (no automatic gc: repacking a whole QEMU tree would compete with the build)
g() {
    git -C "$tree" -c user.name=qemu-power -c user.email=qemu-power@localhost \
        -c core.autocrlf=false -c gc.auto=0 "$@"
}

if [ ! -d "$tree/.git" ]; then
    rm -rf "$tree"
    echo "prepare-tree: copying pristine QEMU $(cat "$src/VERSION") to $tree"
    cp -a "$src" "$tree"
    g init -q
    g add -A -f .
    g commit -q -m "QEMU $(cat "$src/VERSION") (pristine)"
    g tag pristine
fi

# 1. The patch series.
series=$(cat "$top"/patches/*.patch 2>/dev/null | sha256sum | cut -d' ' -f1)
stamp="$tree/.git/qemu-power-series"
if [ "$(cat "$stamp" 2>/dev/null)" != "$series" ]; then
    if [ -n "$(g status --porcelain --untracked-files=no)" ]; then
        die "build/qemu has uncommitted changes; commit them and run
    scripts/export-patches.sh, or 'git -C build/qemu stash', then retry"
    fi
    g am --abort >/dev/null 2>&1 || true
    g reset -q --hard pristine
    for p in "$top"/patches/*.patch; do
        [ -e "$p" ] || continue
        if ! g am -q --keep-cr --whitespace=nowarn "$p" >/dev/null 2>&1; then
            g am --abort >/dev/null 2>&1 || true
            rm -f "$stamp"
            die "patch $(basename "$p") does not apply to QEMU $(cat "$src/VERSION")"
        fi
    done
    echo "$series" > "$stamp"
    echo "prepare-tree: applied $(ls "$top"/patches/*.patch 2>/dev/null | wc -l) patches"
fi

# 2. The overlay: links to our new files; stale links from a previous run go.
manifest="$tree/.git/qemu-power-overlay"
exclude="$tree/.git/info/exclude"
new=$(cd "$top" && git ls-files --cached --others --exclude-standard -- $OVERLAY_DIRS 2>/dev/null ||
      find $OVERLAY_DIRS -type f 2>/dev/null)
if [ -f "$manifest" ]; then
    for f in $(cat "$manifest"); do
        if ! printf '%s\n' "$new" | grep -qxF "$f" && [ -L "$tree/$f" ]; then
            rm -f "$tree/$f"
        fi
    done
fi
for f in $new; do
    [ -f "$top/$f" ] || continue    # deleted in the work tree, not yet in git
    if [ -e "$tree/$f" ] && [ ! -L "$tree/$f" ]; then
        die "overlay file $f would replace a QEMU file; change it with a patch"
    fi
    if [ "$(readlink "$tree/$f" 2>/dev/null)" != "$top/$f" ]; then
        mkdir -p "$(dirname "$tree/$f")"
        ln -sfn "$top/$f" "$tree/$f"
    fi
done
printf '%s\n' "$new" > "$manifest"
# Keep the overlay out of 'git status' in build/qemu, so that the patch
# series only ever holds changes to QEMU's own files.
{
    echo "# qemu-power overlay (links to the qemu-power repository)"
    printf '/%s\n' $new
    echo "/build/"
} > "$exclude"

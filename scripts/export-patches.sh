#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Regenerate patches/ from the commits on top of 'pristine' in build/qemu.
#
# Workflow: edit QEMU's own files in build/qemu, commit there (one logical
# change per commit, with a Signed-off-by), run this script, commit the
# changed patches/ here.  New files are not part of the series: they live
# in this repository and are linked into build/qemu by prepare-tree.sh.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
tree="$top/build/qemu"

if [ -n "$(git -C "$tree" status --porcelain --untracked-files=no)" ]; then
    echo "export-patches: build/qemu has uncommitted changes; commit them first" >&2
    exit 1
fi
rm -f "$top"/patches/*.patch
mkdir -p "$top/patches"
git -C "$tree" format-patch -q --zero-commit --no-signature --no-stat --abbrev=8 \
    -o "$top/patches" pristine..HEAD
cat "$top"/patches/*.patch 2>/dev/null | sha256sum | cut -d' ' -f1 \
    > "$tree/.git/qemu-power-series"
ls "$top/patches"

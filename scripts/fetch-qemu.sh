#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Obtain a pristine QEMU 10.0.x source tree in build/qemu-src.
#
# By default the tree comes from Debian trixie's 'qemu' source package
# (apt-get source, upstream tarball only: Debian's own patches are not
# applied, our series is written against upstream).  QEMU_SRC=/path uses an
# existing 10.0 tree instead; it is copied, never modified.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
dest="$top/build/qemu-src"

check_version() {
    v=$(cat "$1/VERSION" 2>/dev/null || true)
    case "$v" in
    10.0.*) ;;
    *)
        echo "fetch-qemu: $1 is QEMU '${v:-unknown}', need 10.0.x" >&2
        exit 1
        ;;
    esac
}

if [ -f "$dest/VERSION" ]; then
    check_version "$dest"
    exit 0
fi
mkdir -p "$top/build"
rm -rf "$dest.tmp"

if [ -n "${QEMU_SRC:-}" ]; then
    check_version "$QEMU_SRC"
    echo "fetch-qemu: copying QEMU $(cat "$QEMU_SRC/VERSION") from $QEMU_SRC"
    cp -a "$QEMU_SRC" "$dest.tmp"
    rm -rf "$dest.tmp/build" "$dest.tmp/.git"
else
    sh "$top/scripts/apt-setup.sh"
    dl="$top/build/qemu-dl"
    rm -rf "$dl"
    mkdir -p "$dl"
    # Only the upstream tarball: --download-only skips dpkg-source's patches.
    (cd "$dl" && apt-get source -q --download-only "qemu/trixie")
    orig=$(ls "$dl"/qemu_10.0.*.orig.tar.* 2>/dev/null | head -n 1)
    if [ -z "$orig" ]; then
        echo "fetch-qemu: trixie's qemu source is not 10.0.x:" >&2
        ls "$dl" >&2
        exit 1
    fi
    mkdir -p "$dest.tmp"
    tar -xf "$orig" -C "$dest.tmp" --strip-components=1
    rm -rf "$dl"
fi
check_version "$dest.tmp"
mv "$dest.tmp" "$dest"
echo "fetch-qemu: QEMU $(cat "$dest/VERSION") in $dest"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Configure (once, or again when the options below change) and build the
# patched QEMU in build/qemu/build, then make the results reachable as
# build/qemu-system-x86_64 and friends.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
tree="$top/build/qemu"
bld="$tree/build"
jobs=${JOBS:-$(nproc)}

# Debian keeps the firmware QEMU needs in three packages; the +ds source
# tarball ships none of it.
fwpath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu

# x86_64 system emulation only, KVM and TCG, default devices (so pc and q35
# exist), nothing optional that the patch set does not use.  The system
# python is used because it is the one that has Debian's meson.
opts="--target-list=x86_64-softmmu --without-default-features
      --enable-kvm --enable-tcg --disable-docs --disable-install-blobs
      --enable-fdt=system --python=/usr/bin/python3
      --firmwarepath=$fwpath"

stamp="$bld/.qemu-power-configure"
if [ ! -f "$bld/build.ninja" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$opts" ]; then
    rm -rf "$bld"
    mkdir -p "$bld"
    echo "build-qemu: configuring"
    # shellcheck disable=SC2086
    (cd "$bld" && ../configure $opts) > "$top/build/configure.log" 2>&1 || {
        tail -n 30 "$top/build/configure.log" >&2
        echo "build-qemu: configure failed, see build/configure.log" >&2
        exit 1
    }
    echo "$opts" > "$stamp"
fi

ninja -C "$bld" -j "$jobs" qemu-system-x86_64 tools/qemu-powerd/qemu-powerd \
    tools/qemu-power-helper/qemu-power-helper \
    ${NINJA_TARGETS:-}

# A QEMU run from its build tree looks for firmware only under qemu-bundle/.
for d in $(echo "$fwpath" | tr ':' ' '); do
    mkdir -p "$bld/qemu-bundle$(dirname "$d")"
    ln -sfn "$d" "$bld/qemu-bundle$d"
done

ln -sfn qemu/build/qemu-system-x86_64 "$top/build/qemu-system-x86_64"
ln -sfn qemu/build/tools/qemu-powerd/qemu-powerd "$top/build/qemu-powerd"
ln -sfn qemu/build/tools/qemu-power-helper/qemu-power-helper "$top/build/qemu-power-helper"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install every Debian package qemu-power needs to build, test and demo,
# so that a fresh Debian 12 machine needs nothing but this repository.
# Idempotent and quiet when everything is already there.
set -eu
here=$(dirname "$0")

# Build QEMU 10.0 (meson >= 1.5 and pycotap come from bookworm-backports).
build="build-essential ninja-build pkg-config dpkg-dev python3 python3-venv
       libglib2.0-dev zlib1g-dev libpixman-1-dev libfdt-dev"
backports="meson python3-pycotap"
# Firmware for pc/q35 guests (the +ds tarball ships none).
firmware="seabios qemu-system-data ipxe-qemu"
# qemu-powerd (libsystemd-dev: sd_notify; optional, but wanted here so
# that the notify tests run), qemu-power-helper (libcap-ng-dev: it drops
# its capabilities), their tests and the demo.
tools="libmicrohttpd-dev libsystemd-dev libcap-ng-dev socat procps curl prometheus
       gnuplot-nox python3-libvirt python3-pytest clang libclang-rt-14-dev"
# libvirt 11 for the libvirt tests of tests/integration (bookworm has only 9.0).
# Only these come from bookworm-backports; their dependencies (among them
# Debian's own qemu-system-x86, which the QEMU driver requires) from bookworm.
libvirt="libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev"

missing=""
for p in $build $firmware $tools $backports $libvirt; do
    dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
        missing="$missing $p"
done
if ! dpkg --compare-versions "$(dpkg-query -W -f '${Version}' meson 2>/dev/null || echo 0)" ge 1.5; then
    missing="$missing meson"
fi
for p in $libvirt; do
    dpkg --compare-versions "$(dpkg-query -W -f '${Version}' "$p" 2>/dev/null || echo 0)" ge 11 ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

sh "$here/apt-setup.sh"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends $build $firmware $tools
apt-get install -y -q --no-install-recommends -t bookworm-backports $backports
pinned=""
for p in $libvirt; do
    pinned="$pinned $p/bookworm-backports"
done
apt-get install -y -q --no-install-recommends $pinned

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# kvm-probe.sh [--linux] [QEMU]: which accelerator and CPU model guests get
# on this machine.  Everything that starts a guest asks this script, never
# /dev/kvm alone: a /dev/kvm that opens does not mean a guest starts (some
# nested hosts advertise IA32_ARCH_CAPABILITIES and then refuse its value,
# so '-cpu max' aborts in kvm_buf_set_msrs).
#
# It starts a throwaway guest (the 'exit' guest of tests/qtest/power/guest.S,
# which turns on x2APIC as the test guests do and leaves through an
# isa-debug-exit device) with '-cpu max', then '-cpu max,-arch-capabilities',
# and falls back to TCG.  It prints shell assignments, for
# 'eval "$(sh scripts/kvm-probe.sh)"' (Python callers parse them with shlex):
#
#   POWER_ACCEL         kvm or tcg                        (-accel)
#   POWER_CPU           max or max,-arch-capabilities     (-cpu)
#   POWER_LIBVIRT_TYPE  kvm or qemu                       (<domain type=...>)
#   POWER_LIBVIRT_CPU   the domain's <cpu> element
#   POWER_PROBE         one line that says what was chosen and why
#
# --linux asks the same for the Linux guest of scripts/build-guest.sh (which
# it builds): where the tiny guests run under KVM, it boots that guest under
# KVM with a deadline of KVM_PROBE_LINUX_SECONDS (20).  Some nested hosts
# run real-mode guests at full speed but paging guests thousands of times
# slower (the kernel takes minutes to boot): there Linux guests get TCG.
#
# libvirt runs QEMU as its own user (Debian: libvirt-qemu, whose groups
# include kvm): where that user cannot open /dev/kvm (a host without
# Debian's udev rule, which makes it root:kvm 0660), libvirt domains get
# TCG (POWER_LIBVIRT_TYPE=qemu) even where root's guests get KVM.
# KVM_PROBE_LIBVIRT_USER names another user, or none with "".
#
# The answer is cached under build/kvm-probe/ per QEMU binary (its path,
# size and modification time), per /dev/kvm and, with --linux, per guest
# build, so the probe runs once per build.  QEMU defaults to
# build/qemu-system-x86_64.  For its own test
# (tests/integration/test_kvm_probe.py) KVM_PROBE_DEVICE and
# KVM_PROBE_CACHE name another device node and cache folder.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
linux=""
if [ "${1:-}" = --linux ]; then
    linux=1
    shift
fi
qemu=${1:-$top/build/qemu-system-x86_64}
dev=${KVM_PROBE_DEVICE:-/dev/kvm}
[ -x "$qemu" ] || { echo "kvm-probe: no QEMU at $qemu" >&2; exit 1; }
qemu=$(readlink -f "$qemu")

kvm_state() {
    if [ ! -e "$dev" ]; then
        echo "missing"
    elif [ ! -r "$dev" ] || [ ! -w "$dev" ]; then
        echo "no-access"
    else
        stat -L -c 'rw:%t:%T' "$dev"
    fi
}

# can_use USER: USER, with its groups, may open the device read-write
lvuser=${KVM_PROBE_LIBVIRT_USER-libvirt-qemu}
can_use() {
    setpriv --reuid="$1" --regid="$(id -g "$1")" --init-groups \
        sh -c 'test -r "$1" && test -w "$1"' sh "$dev" 2>/dev/null
}
lvaccess=none
if [ -n "$lvuser" ] && id "$lvuser" >/dev/null 2>&1; then
    lvaccess=no
    ! can_use "$lvuser" || lvaccess=yes
fi

key="$qemu $(stat -L -c '%s %Y' "$qemu") $(id -u) $(kvm_state) $lvuser:$lvaccess"
cache_dir=${KVM_PROBE_CACHE:-$top/build/kvm-probe}

# 'VALUE' with every ' written as '\''
q() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

if [ -n "$linux" ]; then
    eval "$(sh "$0" "$qemu")"
    sh "$top/scripts/build-guest.sh" >&2
    guest="$top/build/guest"
    key="$key linux $(cat "$guest/stamp")"
    cache="$cache_dir/$(printf '%s' "$qemu" | md5sum | cut -c1-16)-linux.env"
    if [ -f "$cache" ] && [ "$(head -n 1 "$cache")" = "# $key" ]; then
        tail -n +2 "$cache"
        exit 0
    fi
    if [ "$POWER_ACCEL" = kvm ]; then
        secs=${KVM_PROBE_LINUX_SECONDS:-20}
        tmp=$(mktemp -d)
        trap 'rm -rf "$tmp"' EXIT
        timeout "$secs" "$qemu" -M q35 -accel kvm -cpu "$POWER_CPU" \
            -smp 1 -m 256 -nodefaults -display none -no-reboot \
            -kernel "$guest/vmlinuz" -initrd "$guest/initrd.gz" \
            -append "console=ttyS0 quiet panic=-1 work=idle" \
            -serial "file:$tmp/console" > "$tmp/out" 2>&1 &
        pid=$!
        end=$(($(date +%s) + secs))
        while ! grep -q 'qemu-power-guest: ready' "$tmp/console" 2>/dev/null &&
              kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -le "$end" ]; do
            sleep 0.2
        done
        if grep -q 'qemu-power-guest: ready' "$tmp/console" 2>/dev/null; then
            POWER_PROBE="Linux $POWER_PROBE; the Linux guest boots"
        else
            POWER_PROBE="Linux guests run under TCG: the Linux guest did not\
 boot within $secs s under KVM with -cpu $POWER_CPU (the tiny real-mode guests\
 run; some nested hosts run paging guests far slower)"
            POWER_ACCEL=tcg
            POWER_CPU=max
            POWER_LIBVIRT_TYPE=qemu
            POWER_LIBVIRT_CPU="<cpu mode='maximum' check='none'/>"
        fi
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    else
        POWER_PROBE="Linux $POWER_PROBE"
    fi
    mkdir -p "$cache_dir"
    {
        echo "# $key"
        echo "POWER_ACCEL=$POWER_ACCEL"
        echo "POWER_CPU=$POWER_CPU"
        echo "POWER_LIBVIRT_TYPE=$POWER_LIBVIRT_TYPE"
        echo "POWER_LIBVIRT_CPU=$(q "$POWER_LIBVIRT_CPU")"
        echo "POWER_PROBE=$(q "$POWER_PROBE")"
    } > "$cache.$$"
    mv "$cache.$$" "$cache"
    tail -n +2 "$cache"
    exit 0
fi

cache="$cache_dir/$(printf '%s' "$qemu" | md5sum | cut -c1-16).env"
if [ -f "$cache" ] && [ "$(head -n 1 "$cache")" = "# $key" ]; then
    tail -n +2 "$cache"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# try CPU: 0 if a KVM guest with -cpu CPU ran guest code; else the first
# line QEMU printed is in $tmp/why
try() {
    rc=0
    timeout 20 "$qemu" -M pc -accel kvm -cpu "$1" -smp 1 -m 16 \
        -nodefaults -display none -no-reboot -bios "$tmp/exit.bios" \
        -device isa-debug-exit,iobase=0xf4,iosize=1 \
        > "$tmp/out" 2>&1 || rc=$?
    [ "$rc" -eq 85 ] && return 0
    why=$(grep -v '^$' "$tmp/out" | head -n 1 | sed 's/^[^:]*: //')
    case "$rc" in
    124) why="no exit within 20 s" ;;
    0) why=${why:-"exited before the guest ran"} ;;
    *) why=${why:-"exit status $rc"} ;;
    esac
    echo "$why" > "$tmp/why"
    return 1
}

accel=tcg
cpu=max
case $(kvm_state) in
missing)
    reason="$dev does not exist" ;;
no-access)
    reason="$dev is not readable and writable by uid $(id -u)" ;;
*)
    sh "$top/scripts/make-guest-bios.sh" exit "$tmp/exit.bios"
    if try max; then
        accel=kvm
        reason="-cpu max runs"
    else
        reason="-cpu max fails ($(cat "$tmp/why"))"
        if try max,-arch-capabilities; then
            accel=kvm
            cpu=max,-arch-capabilities
            reason="$reason; -cpu max,-arch-capabilities runs"
        else
            reason="$reason; -cpu max,-arch-capabilities fails ($(cat "$tmp/why"))"
        fi
    fi ;;
esac

if [ "$accel" = kvm ] && [ "$lvaccess" = no ]; then
    type=qemu
    summary="guests run under KVM with -cpu $cpu: $reason; libvirt domains under TCG: libvirt's QEMU user $lvuser cannot open $dev"
elif [ "$accel" = kvm ]; then
    type=kvm
    summary="guests run under KVM with -cpu $cpu: $reason"
else
    type=qemu
    summary="guests run under TCG: $reason"
fi
libvirt_cpu="<cpu mode='maximum' check='none'/>"
if [ "$cpu" = max,-arch-capabilities ]; then
    libvirt_cpu="<cpu mode='maximum' check='none'><feature policy='disable' name='arch-capabilities'/></cpu>"
fi

mkdir -p "$cache_dir"
{
    echo "# $key"
    echo "POWER_ACCEL=$accel"
    echo "POWER_CPU=$cpu"
    echo "POWER_LIBVIRT_TYPE=$type"
    echo "POWER_LIBVIRT_CPU=$(q "$libvirt_cpu")"
    echo "POWER_PROBE=$(q "$summary")"
} > "$tmp/env"
mv "$tmp/env" "$cache.$$"
mv "$cache.$$" "$cache"
tail -n +2 "$cache"

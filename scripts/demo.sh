#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make demo: start three VMs with the patched QEMU (a busy one, a half-duty
# one and a halted one; KVM where /dev/kvm works, else TCG), show what
# query-power counts for each of them live, write a summary under
# build/demo/, and stop every VM it started, also on Ctrl-C.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
qemu="$top/build/qemu-system-x86_64"
dir="$top/build/demo"
seconds=${DEMO_SECONDS:-10}
rm -rf "$dir"
mkdir -p "$dir"

if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    accel=kvm
else
    accel=tcg
    echo "demo: /dev/kvm is not usable here, the VMs run under TCG"
fi

pids=""
cleanup() {
    for p in $pids; do
        kill "$p" 2>/dev/null || true
    done
    for p in $pids; do
        while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
    done
    pids=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

socks=""
for vm in busy:spin half:half idle:halt; do
    name=${vm%%:*}
    sh "$top/scripts/make-guest-bios.sh" "${vm#*:}" "$dir/$name.bios"
    "$qemu" -name "$name" -M pc -accel "$accel" -cpu max -smp 1 -m 64 \
        -nodefaults -display none -bios "$dir/$name.bios" \
        -qmp "unix:$dir/$name.qmp,server=on,wait=off" \
        -pidfile "$dir/$name.pid" -daemonize
    pids="$pids $(cat "$dir/$name.pid")"
    socks="$socks $dir/$name.qmp"
done

echo "demo: three VMs running under $accel; sampling query-power for ${seconds} s"
# shellcheck disable=SC2086
python3 "$top/scripts/demo-watch.py" "$seconds" "$dir/summary.txt" $socks
echo "demo: summary written to $dir/summary.txt"

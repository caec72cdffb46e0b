#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make demo: start three VMs with the patched QEMU (KVM where a KVM guest
# starts, else TCG: scripts/kvm-probe.sh): one that keeps its vCPU busy, one busy half the time,
# one halted.  Run qemu-powerd on them for DEMO_SECONDS (20) with its live
# table, then write a summary and a chart of per-VM power under
# build/demo/.  Every VM is stopped on exit, also on Ctrl-C.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
qemu="$top/build/qemu-system-x86_64"
powerd="$top/build/qemu-powerd"
dir="$top/build/demo"
seconds=${DEMO_SECONDS:-20}

pids=""
cleanup() {
    trap - EXIT INT TERM
    for p in $pids; do
        kill "$p" 2>/dev/null || true
    done
    for p in $pids; do
        while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rm -rf "$dir"
mkdir -p "$dir"
eval "$(sh "$top/scripts/kvm-probe.sh" "$qemu")"
accel=$POWER_ACCEL
echo "demo: $POWER_PROBE"

for vm in busy:spin half:half idle:halt; do
    name=${vm%%:*}
    sh "$top/scripts/make-guest-bios.sh" "${vm#*:}" "$dir/$name.bios"
    "$qemu" -name "$name" -M pc -accel "$accel" -cpu "$POWER_CPU" -smp 1 -m 64 \
        -nodefaults -display none -bios "$dir/$name.bios" \
        -qmp "unix:$dir/$name.qmp,server=on,wait=off" \
        -pidfile "$dir/$name.pid" -daemonize
    pids="$pids $(cat "$dir/$name.pid")"
done

# RAPL where the host has it, else the labelled estimate.
energy="--energy-source auto"
if ! "$powerd" --qmp "$dir/busy.qmp" --once >/dev/null 2>&1; then
    energy="--energy-source estimate --idle-watts 50 --max-watts 200"
    echo "demo: this host has no RAPL energy counter: qemu-powerd" \
         "estimates host power (idle 50 W, 200 W at full load)"
fi
echo "demo: three VMs (busy, half, idle) under $accel;" \
     "qemu-powerd for $seconds s"
# shellcheck disable=SC2086
"$powerd" --qmp "$dir/*.qmp" $energy --format table --count "$seconds" \
    --json-log "$dir/samples.jsonl"

python3 "$top/scripts/demo-report.py" "$dir"

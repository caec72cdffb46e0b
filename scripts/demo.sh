#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make demo: start four Linux VMs with the patched QEMU (KVM where a KVM
# guest starts, else TCG: scripts/kvm-probe.sh): one that keeps its vCPU
# busy, one busy half the time, one idle and one memory-bound.  Run
# qemu-powerd on them for DEMO_SECONDS (20) with its live table, then write
# a summary and a chart of per-VM power under build/demo/.  Every VM is
# stopped on exit, also on Ctrl-C.
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
# Linux guests from Debian's kernel and busybox (scripts/build-guest.sh,
# run by the probe), under what the probe found works for them
eval "$(sh "$top/scripts/kvm-probe.sh" --linux "$qemu")"
accel=$POWER_ACCEL
echo "demo: $POWER_PROBE"
for vm in busy:cpu half:busy=50 idle:idle mem:mem; do
    name=${vm%%:*}
    "$qemu" -name "$name" -M q35 -accel "$accel" -cpu "$POWER_CPU" \
        -smp 1 -m 256 -nodefaults -display none \
        -kernel "$top/build/guest/vmlinuz" \
        -initrd "$top/build/guest/initrd.gz" \
        -append "console=ttyS0 quiet panic=-1 work=${vm#*:}" -no-reboot \
        -serial "file:$dir/$name.console" \
        -qmp "unix:$dir/$name.qmp,server=on,wait=off" \
        -pidfile "$dir/$name.pid" -daemonize
    pids="$pids $(cat "$dir/$name.pid")"
done
# until every guest has started its work, within 3 minutes (TCG, 2 cores)
deadline=$(($(date +%s) + 180))
for name in busy half idle mem; do
    until grep -q 'qemu-power-guest: ready' "$dir/$name.console" 2>/dev/null; do
        if [ "$(date +%s)" -gt "$deadline" ]; then
            echo "demo: VM $name did not boot within 180 s:" >&2
            tail -n 5 "$dir/$name.console" >&2
            exit 1
        fi
        sleep 0.2
    done
done

# RAPL where the host has it, else the labelled estimate.
energy="--energy-source auto"
if ! "$powerd" --qmp "$dir/busy.qmp" --once >/dev/null 2>&1; then
    energy="--energy-source estimate --idle-watts 50 --max-watts 200"
    echo "demo: this host has no RAPL energy counter: qemu-powerd" \
         "estimates host power (idle 50 W, 200 W at full load)"
fi
echo "demo: four Linux VMs (busy, half, idle, mem) under $accel;" \
     "qemu-powerd for $seconds s"
# shellcheck disable=SC2086
"$powerd" --qmp "$dir/*.qmp" $energy --format table --count "$seconds" \
    --json-log "$dir/samples.jsonl"

python3 "$top/scripts/demo-report.py" "$dir"

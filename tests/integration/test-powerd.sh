#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# test-powerd.sh [SCENARIO...]: integration tests of qemu-powerd against
# docs/qemu-powerd.rst, with the patched QEMU from build/ running the tiny
# spin, half and halt guests under TCG (or KVM), fake RAPL counters
# (fake-rapl.py) and fake QMP servers (fake-qmp.py).  Scenarios a
# (--once), b (live mode) and e (--energy-source estimate) are now pytest
# cases against the meter in test_powerd_measure.py, c (faults while
# running) in test_live_faults.py, d (bad replies) in test_bad_replies.py,
# f (kill -9 over the state file) and h (exit codes) in
# test_operations.py, g (Prometheus) in test_prometheus.py, i (libvirt)
# in test_libvirt_powerd.py.  The scenario here (default: all) is
#   j  push mode: event vs poll on the same VMs, fallback to polling,
#      the lease after SIGKILL, two consumers
# Prints one "ok - ..." or "not ok - ..." line per check, "# ..." notes,
# and "powerd: N passed, N failed" at the end; exits non-zero if a check
# failed.  Every process it started is stopped on exit, also on Ctrl-C;
# it never signals a process it did not start.  Files go to
# build/integration/powerd/.  QEMU_POWERD and QEMU override the binaries.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
here="$top/tests/integration"
qemu=${QEMU:-$top/build/qemu-system-x86_64}
powerd=${QEMU_POWERD:-$top/build/qemu-powerd}
dir="$top/build/integration/powerd"
all="j"

. "$here/results.sh"

# show FILE: the first lines of FILE as notes, to explain a failure
show() {
    [ -s "$1" ] || return 0
    head -c 1500 "$1" | sed 's/^/#   /'
    echo
}

# --- processes ---

# Every process this script started in the background; the cleanup stops
# those still running and started by us (their command line names $dir).
# shellcheck source=procs.sh
. "$here/procs.sh"

cleanup() {
    trap - EXIT INT TERM HUP
    stop_all
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# wait_exit PID SECONDS: wait for our child PID; its exit status in $rc,
# 124 if it had to be stopped after SECONDS
wait_exit() {
    n=0
    while alive "$1" && [ $n -lt $(($2 * 10)) ]; do
        sleep 0.1
        n=$((n + 1))
    done
    if alive "$1"; then
        stop_pid "$1"
        wait "$1" 2>/dev/null
        rc=124
    else
        wait "$1"
        rc=$?
    fi
}

# bios GUEST: the BIOS image of a tiny guest, made once
bios() {
    [ -s "$dir/$1.bios" ] ||
        sh "$top/scripts/make-guest-bios.sh" "$1" "$dir/$1.bios" >&2
    echo "$dir/$1.bios"
}

eval "$(sh "$top/scripts/kvm-probe.sh" "$qemu")" || exit 1
accel=$POWER_ACCEL
note "$POWER_PROBE"

# start_vm DIR NAME GUEST [ARG...]: a VM with QMP socket DIR/NAME.qmp
start_vm() {
    d=$1
    n=$2
    g=$3
    shift 3
    # (a stale socket stays: QEMU replaces it, as on a real restart)
    rm -f "$d/$n.pid"
    if "$qemu" -name "$n" -M pc -accel "$accel" -cpu "$POWER_CPU" -smp 1 -m 64 \
        -nodefaults -display none -bios "$(bios "$g")" \
        -qmp "unix:$d/$n.qmp,server=on,wait=off" \
        -pidfile "$d/$n.pid" -daemonize "$@"; then
        track "$(cat "$d/$n.pid")"
    else
        not_ok "start VM $2"
        return 1
    fi
}

# wait_file FILE SECONDS
wait_file() {
    n=0
    while [ ! -s "$1" ] && [ $n -lt $(($2 * 20)) ]; do
        sleep 0.05
        n=$((n + 1))
    done
    [ -s "$1" ]
}

# start_rapl ROOT WATTS ARGS...: the fake RAPL driver on ROOT
start_rapl() {
    r=$1
    w=$2
    shift 2
    rm -rf "$r"
    mkdir -p "$r"
    python3 "$here/fake-rapl.py" --root "$r" --watts "$w" \
        --pidfile "$r.pid" "$@" &
    track $!
    wait_file "$r.pid" 10 || not_ok "fake-rapl.py did not start"
}

# start_fake DIR NAME CASE: a fake QMP server DIR/NAME.qmp named NAME;
# wait_fakes DIR waits until all of them listen
start_fake() {
    rm -f "$1/$2.fake.pid"
    python3 "$here/fake-qmp.py" --socket "$1/$2.qmp" --name "$2" \
        --case "$3" --pidfile "$1/$2.fake.pid" --log "$1/$2.log" &
    track $!
    fakes="$fakes $2"
}
fakes=""
wait_fakes() {
    for f in $fakes; do
        wait_file "$1/$f.fake.pid" 10 ||
            not_ok "fake-qmp.py $f did not start"
    done
    fakes=""
}

# powerd_bg OUT ARGS...: qemu-powerd in the background, PID in $dpid
powerd_bg() {
    out=$1
    shift
    "$powerd" "$@" >"$out" 2>"$out.err" </dev/null &
    dpid=$!
    track $dpid
}
# powerd_fg OUT SECONDS ARGS...: qemu-powerd, exit status in $rc
powerd_fg() {
    out=$1
    secs=$2
    shift 2
    powerd_bg "$out" "$@"
    wait_exit "$dpid" "$secs"
}
# expect_rc WANT DESCRIPTION OUT: check qemu-powerd's exit status
expect_rc() {
    if [ "$rc" = "$1" ]; then
        ok "$2 (exit $rc)"
    else
        not_ok "$2: exit $rc, want $1"
        show "$3.err"
    fi
}

# fresh NAME: an empty scenario directory $dir/NAME in $s
fresh() {
    s="$dir/$1"
    rm -rf "$s"
    mkdir -p "$s"
    t_start=$(date +%s)
    note "scenario $1: $2 (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
}
# done_scenario: stop what the scenario started
done_scenario() {
    t_stop=$(date +%s)
    stop_all
    [ $(($(date +%s) - t_stop)) -lt 3 ] ||
        note "stopping took $(($(date +%s) - t_stop)) s"
    note "took $(($(date +%s) - t_start)) s"
}

# --- the scenarios ---

sc_j() {
    fresh j "push mode: POWER_SAMPLE events"
    mkdir -p "$s/b"
    # each VM has a second QMP monitor, in $s/b, for a second consumer
    for g in spin:j-spin half:j-half halt:j-halt; do
        start_vm "$s" "${g#*:}" "${g%%:*}" \
            -qmp "unix:$s/b/${g#*:}.qmp,server=on,wait=off"
    done
    # a QEMU without set-power-sampling, apart: its invented work would
    # change the others' shares in one daemon and not in the other
    mkdir -p "$s/f"
    start_fake "$s/f" j-fake good
    wait_fakes "$s/f"
    start_rapl "$s/sys" 60
    sleep 0.5
    # the same VMs, at once: events through the first monitor, polls
    # through the second
    powerd_bg "$s/event.json" --qmp "$s/j-*.qmp" --count 8 --format json \
        --interval 1 --energy-source powercap --sysfs-root "$s/sys" \
        --idle-watts 20
    epid=$dpid
    powerd_bg "$s/poll.json" --qmp "$s/b/j-*.qmp" --mode poll --count 8 \
        --format json --interval 1 --energy-source powercap \
        --sysfs-root "$s/sys" --idle-watts 20
    wait_exit "$epid" 30
    expect_rc 0 "j: event mode, --count 8, exits 0" "$s/event.json"
    wait_exit "$dpid" 30
    expect_rc 0 "j: poll mode, --count 8, exits 0" "$s/poll.json"
    python3 "$here/event-checks.py" compare "$s/event.json" "$s/poll.json" \
        --count 8 --vms j-spin,j-half,j-halt \
        >"$dir/checks.out" 2>&1 || not_ok "j: event-checks.py compare failed"
    collect "$dir/checks.out"

    # the fallback: polled next to a VM that pushes
    powerd_fg "$s/fallback.json" 30 --qmp "$s/f/j-fake.qmp" \
        --qmp "$s/j-halt.qmp" --count 3 --format json --interval 0.5 \
        --energy-source powercap --sysfs-root "$s/sys"
    expect_rc 0 "j: event mode with a QEMU that cannot push exits 0" \
        "$s/fallback.json"
    python3 "$here/event-checks.py" modes "$s/fallback.json" \
        --event j-halt --poll j-fake >"$dir/checks.out" 2>&1 ||
        not_ok "j: event-checks.py modes failed"
    collect "$dir/checks.out"

    # a consumer killed with SIGKILL: its lease runs out
    powerd_bg "$s/lease.json" --qmp "$s/j-halt.qmp" --lease 2 --format json \
        --interval 0.2 --energy-source powercap --sysfs-root "$s/sys"
    sleep 1.5
    python3 "$here/event-checks.py" lease "$s/b/j-halt.qmp" --pid "$dpid" \
        --lease-ms 2000 >"$dir/checks.out" 2>&1 ||
        not_ok "j: event-checks.py lease failed"
    collect "$dir/checks.out"

    # two consumers with different intervals
    python3 "$here/event-checks.py" consumers "$s/j-half.qmp" \
        "$s/b/j-half.qmp" >"$dir/checks.out" 2>&1 ||
        not_ok "j: event-checks.py consumers failed"
    collect "$dir/checks.out"

    # bad options
    for bad in "--mode push" "--lease 0.5" "--lease 100000" \
        "--interval 2 --lease 1"; do
        # shellcheck disable=SC2086
        powerd_fg "$s/bad.out" 20 $bad --qmp "$s/j-halt.qmp" \
            --energy-source estimate
        expect_rc 1 "j: $bad: bad options" "$s/bad.out"
    done
    done_scenario
}

# --- main ---


sel=${*:-$all}
for x in $sel; do
    case " $all " in
    *" $x "*) ;;
    *) echo "usage: $0 [SCENARIO...], scenarios: $all" >&2; exit 2 ;;
    esac
done
mkdir -p "$dir"
for t in "$qemu" "$powerd"; do
    if [ ! -x "$t" ]; then
        not_ok "$t not found; build it first"
        summary powerd
        exit 1
    fi
done
command -v python3 >/dev/null ||
    not_ok "python3 not found; run scripts/install-deps.sh"
t0=$(date +%s)
for x in $sel; do
    "sc_$x"
done
note "all scenarios took $(($(date +%s) - t0)) s"
summary powerd

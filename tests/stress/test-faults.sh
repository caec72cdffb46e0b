#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# test-faults.sh [--quick] [SCENARIO...]: faults under a running
# qemu-powerd, beyond those of tests/integration/test-powerd.sh (c, f).
# The scenarios (default: all; --quick: hang state wrap reset, with fewer
# repetitions, for make check) are
#   hang      SIGSTOP of two QEMUs (overlapping), one stopped and continued
#             over and over, SIGKILL of a running and of a stopped QEMU,
#             and a QEMU restarted on its socket: the others are not
#             affected, the stopped ones fail and come back
#   libvirtd  libvirtd stopped and started, then SIGKILLed and started,
#             under a daemon with --libvirt: it reconnects, the domains
#             are measured again, a domain created later is found
#   state     the daemon SIGKILLed and restarted with --state-file, five
#             times (twice with --quick), at random moments: the loss of
#             cumulative energy per VM and zone is measured and printed
#             (at most one interval), also for a VM without -name
#   wrap      RAPL counters with a small max_energy_range_uj, wrapping
#             every one to two seconds: no negative or absurd power
#   reset     VM counters that go back to about 0: a QEMU restarted on
#             its socket (twice; once with --quick), a fake QMP server
#             (tests/integration/fake-qmp.py) whose counters restart on the
#             same connection
#   raplerr   the RAPL counter unreadable (junk, then absent) for a while
# Every scenario also checks each line as test-churn.sh does (parts add up,
# no negative, NaN or absurd value, energy never decreasing).  The faults
# injected are counted ("# faults injected: N (...)").  Prints "ok - ..."/
# "not ok - ..." lines and "faults: N passed, N failed" last.  Every
# process it started is stopped on exit, also on Ctrl-C; files go to
# build/stress/faults/.  libvirtd needs root.
set -u

dir="$(cd "$(dirname "$0")/../.." && pwd)/build/stress/faults"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

all="hang libvirtd state wrap reset raplerr"
quick_set="hang state wrap reset"
quick=""
sel=""
for x in "$@"; do
    case $x in
    --quick) quick=1 ;;
    -*) echo "usage: $0 [--quick] [SCENARIO...], scenarios: $all" >&2
        exit 2 ;;
    *)
        case " $all " in
        *" $x "*) sel="$sel $x" ;;
        *) echo "usage: $0 [--quick] [SCENARIO...], scenarios: $all" >&2
           exit 2 ;;
        esac
        ;;
    esac
done
if [ -z "$sel" ]; then
    sel=$all
    [ -n "$quick" ] && sel=$quick_set
fi

faults=""              # one word per fault injected
crashes=0
fault() {
    faults="$faults $1"
}

# fresh NAME WHAT: an empty scenario directory $s
fresh() {
    s="$dir/$1"
    rm -rf "$s"
    mkdir -p "$s"
    ev="$s/events"
    : >"$ev"
    t_scen=$(date +%s)
    note "scenario $1: $2 (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
}
event() {
    echo "$1 $2 $(now)" >>"$ev"
}
# daemon_end OUT: the daemon alive, then SIGTERM, exit 0
daemon_end() {
    if alive "$dpid"; then
        sig TERM "$dpid"
        reap "$dpid"
        if [ "$rc" = 0 ]; then
            ok "$sc: qemu-powerd survived and exits 0 on SIGTERM"
        else
            not_ok "$sc: qemu-powerd on SIGTERM: $(exit_desc "$rc")"
            crashes=$((crashes + 1))
        fi
    else
        reap "$dpid"
        not_ok "$sc: qemu-powerd died: $(exit_desc "$rc")"
        crashes=$((crashes + 1))
        show "$1.err"
    fi
}
# vm_end NAME WANT: stop VM NAME of $s (SIGTERM), its exit status WANT
vm_end() {
    p=$(vm_pid "$s" "$1")
    sig CONT "$p"
    sig TERM "$p"
    reap "$p"
    if [ "$rc" != "$2" ]; then
        not_ok "$sc: QEMU $1: $(exit_desc "$rc"), want $(exit_desc "$2")"
        show "$s/$1.log"
        [ "$rc" -gt 128 ] && crashes=$((crashes + 1))
    fi
}
done_scenario() {
    stop_all
    note "took $(($(date +%s) - t_scen)) s"
}

# --- the scenarios ---

sc_hang() {
    sc=hang
    fresh hang "SIGSTOP, SIGCONT and SIGKILL of QEMUs"
    interval=0.5
    timeout=0.3
    start_rapl "$s/sys" 60
    start_vm "$s" keep-a half
    start_vm "$s" keep-b halt
    start_vm "$s" stop-a half
    start_vm "$s" stop-b halt
    start_vm "$s" kill-a halt
    start_vm "$s" kill-b half
    wait_sock "$s/kill-b.qmp" 10
    powerd_bg "$s/out.json" --qmp "$s/*.qmp" --format json \
        --interval $interval --timeout $timeout --energy-source powercap \
        --sysfs-root "$s/sys" --idle-watts 20
    wait_lines "$s/out.json" 4 20 || not_ok "hang: no 4 lines in 20 s"
    event stop stop-a
    sig STOP "$(vm_pid "$s" stop-a)" && fault SIGSTOP
    sleep 1
    event stop stop-b
    sig STOP "$(vm_pid "$s" stop-b)" && fault SIGSTOP
    # long enough that a line falls in the checked window, which leaves
    # out interval + timeout + 0.1 s after the stop and a timeout before
    # the SIGCONT
    sleep 2
    # (the events are written first: a line later than one has the VM
    # running again)
    event cont stop-b
    sig CONT "$(vm_pid "$s" stop-b)" && fault SIGCONT
    sleep 1
    event cont stop-a
    sig CONT "$(vm_pid "$s" stop-a)" && fault SIGCONT
    sleep 0.6
    # stopped for less than the timeout and longer, across round
    # boundaries
    tf=$(now)
    for d in 0.1 0.25 0.4 0.15 0.6 0.05; do
        sig STOP "$(vm_pid "$s" stop-b)" && fault SIGSTOP
        sleep $d
        sig CONT "$(vm_pid "$s" stop-b)" && fault SIGCONT
        sleep 0.2
    done
    echo "flicker $tf $(now)" >>"$ev"
    sleep 0.5
    event kill kill-a
    sig KILL "$(vm_pid "$s" kill-a)" && fault SIGKILL
    sleep 0.5
    event stop kill-b
    sig STOP "$(vm_pid "$s" kill-b)" && fault SIGSTOP
    sleep 1
    event kill kill-b
    sig KILL "$(vm_pid "$s" kill-b)" && fault SIGKILL
    sleep 1.5
    # the SIGKILLed one comes back on its stale socket, under its name
    reap "$(vm_pid "$s" kill-a)"
    event restart kill-a
    start_vm "$s" kill-a halt
    fault restart
    sleep 3
    daemon_end "$s/out.json"
    reap "$(vm_pid "$s" kill-b)"
    for v in keep-a keep-b stop-a stop-b kill-a; do
        vm_end $v 0
    done
    note "hang: qemu-powerd's stderr: $(lines "$s/out.json.err") lines"
    checks hang "$s/out.json" --events "$ev" --interval $interval \
        --timeout $timeout --keep keep-a,keep-b --keep-misses 2 \
        --stopped stop-a,stop-b --flicker stop-b --killed kill-a,kill-b \
        --restarted kill-a
    done_scenario
}

lvdir=""
ldoms=""
lv_cleanup() {
    for dom in $ldoms; do
        virsh_ destroy "$dom" >/dev/null 2>&1
    done
    ldoms=""
    [ -z "$lvdir" ] || libvirtd_stop "$lvdir" || true
    lvdir=""
    kill_our_qemus
}
# lv_libvirtd: the PID of the libvirtd that libvirtd.sh started for us
lv_libvirtd() {
    p=$(cat "$lvdir/libvirtd.pid" 2>/dev/null) || return 1
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = libvirtd ] &&
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
        grep -qxF "QEMU_POWER_LIBVIRTD_DIR=$lvdir" && echo "$p"
}
lv_create() {
    dom_xml "$1" "$2" >"$s/$1.xml"
    ldoms="$ldoms $1"
    virsh_ create "$s/$1.xml" >"$s/$1.out" 2>&1 ||
        { not_ok "libvirtd: create $1"; show "$s/$1.out"; }
}

sc_libvirtd() {
    sc=libvirtd
    fresh libvirtd "libvirtd restarted under qemu-powerd --libvirt"
    if [ "$(id -u)" != 0 ] || ! command -v libvirtd >/dev/null; then
        not_ok "libvirtd: needs root and libvirtd (scripts/install-deps.sh)"
        return
    fi
    interval=0.5
    lvdir="$s/libvirtd"
    cleanup_hook=lv_cleanup
    if ! libvirtd_start "$lvdir"; then
        not_ok "libvirtd: libvirtd did not start"
        lvdir=""
        return
    fi
    lv_sweep
    lv_create lv-half half
    lv_create lv-halt halt
    start_rapl "$s/sys" 60
    powerd_bg "$s/out.json" --libvirt "$uri" --format json \
        --interval $interval --energy-source powercap --sysfs-root "$s/sys" \
        --idle-watts 20
    wait_lines "$s/out.json" 4 20 || not_ok "libvirtd: no 4 lines in 20 s"
    pids_before="$(dom_pid lv-half) $(dom_pid lv-halt)"
    event down libvirtd
    libvirtd_stop "$lvdir" && fault libvirtd-stop
    sleep 2
    event starting libvirtd
    libvirtd_start "$lvdir" || not_ok "libvirtd: did not start again"
    event up libvirtd
    fault libvirtd-start
    sleep 5
    event kill libvirtd
    if p=$(lv_libvirtd); then
        kill -KILL "$p" && fault SIGKILL-libvirtd
        sleep 1.5
        libvirtd_start "$lvdir" || not_ok "libvirtd: did not start again"
        event up-after-kill libvirtd
        fault libvirtd-start
    else
        not_ok "libvirtd: no libvirtd of ours to kill"
    fi
    sleep 5
    lv_create lv-new halt
    event created lv-new
    sleep 4
    daemon_end "$s/out.json"
    pids_after="$(dom_pid lv-half) $(dom_pid lv-halt)"
    result "libvirtd: the domains' QEMUs lived through it ($pids_after)" \
        [ "$pids_before" = "$pids_after" ]
    sed 's/^/# stderr: /' "$s/out.json.err" | sort | uniq -c |
        sort -rn | head -n 8
    checks libvirtd "$s/out.json" --events "$ev" --interval $interval \
        --within 5 --doms lv-half,lv-halt --new lv-new
    lv_cleanup
    cleanup_hook=:
    done_scenario
}

sc_state() {
    sc=state
    fresh state "qemu-powerd SIGKILLed and restarted with --state-file"
    kills=5
    gap=2
    if [ -n "$quick" ]; then
        kills=2
        gap=1
    fi
    interval=0.5
    start_rapl "$s/sys" 60
    start_vm "$s" st-half half
    start_vm "$s" st-spin spin
    # no -name: named by its socket path
    start_vm "$s" st-noname half ""
    wait_sock "$s/st-noname.qmp" 10
    # written every interval: what a SIGKILL may lose is one interval
    set -- --qmp "$s/*.qmp" --format json --interval $interval \
        --energy-source powercap --sysfs-root "$s/sys" --idle-watts 20 \
        --state-file "$s/state" --state-interval $interval
    runs=""
    states=""
    # the moments of the kills, random within an interval
    awk -v n=$kills -v g=$gap 'BEGIN { srand(7); for (i = 0; i < n; i++)
        printf "%.3f\n", g + rand() * 0.5 }' >"$s/delays"
    k=0
    while read -r delay; do
        powerd_bg "$s/run$k.json" "$@"
        wait_lines "$s/run$k.json" 3 20 ||
            not_ok "state: run $k: no 3 lines in 20 s"
        sleep "$delay"
        sig KILL "$dpid" && fault SIGKILL-daemon
        reap "$dpid"
        cp "$s/state" "$s/state$k"
        event kill "daemon$k"
        runs="$runs,$s/run$k.json"
        states="$states,$s/state$k"
        k=$((k + 1))
    done <"$s/delays"
    powerd_bg "$s/run$k.json" "$@"
    wait_lines "$s/run$k.json" 3 20 || not_ok "state: last run: no 3 lines"
    daemon_end "$s/run$k.json"
    runs="$runs,$s/run$k.json"
    for v in st-half st-spin st-noname; do
        vm_end $v 0
    done
    checks state --runs "${runs#,}" --states "${states#,}"
    done_scenario
}

sc_wrap() {
    sc=wrap
    fresh wrap "RAPL counters wrapping every one to two seconds"
    interval=0.5
    range=70000000
    wrap_in=1
    count=16
    [ -n "$quick" ] && count=8
    start_rapl "$s/sys" 60 --dram-watts 30 --max-range $range \
        --wrap-in $wrap_in --info "$s/rapl.json"
    start_vm "$s" wrap-half half
    start_vm "$s" wrap-spin spin
    wait_sock "$s/wrap-spin.qmp" 10
    powerd_bg "$s/out.json" --qmp "$s/*.qmp" --format json \
        --interval $interval --count $count --energy-source powercap \
        --sysfs-root "$s/sys" --idle-watts 20 --idle-watts dram-0=5
    wait_lines "$s/out.json" $count 30 ||
        not_ok "wrap: no $count lines in 30 s"
    sleep 0.3
    reap "$dpid"
    if [ "$rc" = 0 ]; then
        ok "wrap: --count $count exits 0"
    else
        not_ok "wrap: qemu-powerd: $(exit_desc "$rc")"
        [ "$rc" -gt 128 ] && crashes=$((crashes + 1))
        show "$s/out.json.err"
    fi
    for v in wrap-half wrap-spin; do
        vm_end $v 0
    done
    checks wrap "$s/out.json" --rapl-info "$s/rapl.json" \
        --watts package-0=60,dram-0=30 --max-range $range \
        --wrap-in $wrap_in
    # count the wraps as faults
    n=$(sed -n 's/.*package-0 \([0-9]*\) times.*/\1/p' "$dir/checks.out")
    m=$(sed -n 's/.*dram-0 \([0-9]*\) times.*/\1/p' "$dir/checks.out")
    for _ in $(seq $((${n:-0} + ${m:-0}))); do fault RAPL-wrap; done
    done_scenario
}

sc_reset() {
    sc=reset
    fresh reset "VM counters that go back"
    interval=0.5
    start_rapl "$s/sys" 60
    start_vm "$s" keep-half half
    start_vm "$s" rs-qemu half
    "$py" "$integ/fake-qmp.py" --socket "$s/rs-fake.qmp" --name rs-fake \
        --case good,good,good,good,good,good,restart \
        --pidfile "$s/rs-fake.fake.pid" --log "$s/rs-fake.log" &
    track $!
    wait_file "$s/rs-fake.fake.pid" 10 || not_ok "reset: fake-qmp.py did not start"
    wait_sock "$s/rs-qemu.qmp" 10
    powerd_bg "$s/out.json" --qmp "$s/*.qmp" --format json \
        --interval $interval --energy-source powercap --sysfs-root "$s/sys" \
        --idle-watts 20
    wait_lines "$s/out.json" 4 20 || not_ok "reset: no 4 lines in 20 s"
    # the fake's counters go back at its 7th query-power; with event mode
    # it is polled anyway, as it has no set-power-sampling
    t=$(now)
    k=0
    while ! grep -q '"query-power"' "$s/rs-fake.log" ||
        [ "$(grep -c '"query-power"' "$s/rs-fake.log")" -lt 6 ]; do
        sleep 0.05
        k=$((k + 1))
        [ $k -gt 200 ] && break
    done
    event reset rs-fake
    fault counter-reset
    sleep 2
    # QEMU restarted on its socket within one interval: a new QEMU's
    # counters start from 0
    restarts="1 2"
    [ -n "$quick" ] && restarts=1
    for _ in $restarts; do
        p=$(vm_pid "$s" rs-qemu)
        sig TERM "$p"
        reap "$p"
        start_vm "$s" rs-qemu spin
        event reset rs-qemu
        fault QEMU-restart
        sleep 3
    done
    daemon_end "$s/out.json"
    for v in keep-half rs-qemu; do
        vm_end $v 0
    done
    checks reset "$s/out.json" --events "$ev" --interval $interval \
        --reset rs-fake,rs-qemu --keep keep-half --keep-misses 2
    done_scenario
}

sc_raplerr() {
    sc=raplerr
    fresh raplerr "the RAPL counter unreadable for a while"
    interval=0.5
    start_rapl "$s/sys" 60 --info "$s/rapl.json"
    start_vm "$s" re-half half
    wait_sock "$s/re-half.qmp" 10
    powerd_bg "$s/out.json" --qmp "$s/*.qmp" --format json \
        --interval $interval --energy-source powercap --sysfs-root "$s/sys" \
        --idle-watts 20
    wait_lines "$s/out.json" 4 20 || not_ok "raplerr: no 4 lines in 20 s"
    rapl=$(cat "$s/sys.pid")
    zone="$s/sys/class/powercap/intel-rapl:0"
    tf=$(now)
    # fake-rapl.py stopped, so that it does not rewrite the file
    sig STOP "$rapl"
    echo "not a number" >"$zone/energy_uj"
    fault RAPL-junk
    sleep 1.2
    rm -f "$zone/energy_uj"
    fault RAPL-absent
    sleep 1.2
    sig CONT "$rapl"
    # it rewrites the file within its period
    wait_file "$zone/energy_uj" 5
    echo "broken $tf $(now)" >>"$ev"
    sleep 3
    daemon_end "$s/out.json"
    vm_end re-half 0
    if grep -q . "$s/out.json.err"; then
        ok "raplerr: the daemon said why: $(sort -u "$s/out.json.err" |
            head -c 300 | tr '\n' ' ')"
    else
        not_ok "raplerr: nothing on stderr about the unreadable counter"
    fi
    checks raplerr "$s/out.json" --events "$ev" --interval $interval \
        --watts 60
    done_scenario
}

# --- main ---

mkdir -p "$dir"
for t in "$qemu" "$powerd"; do
    if [ ! -x "$t" ]; then
        not_ok "$t not found; build it first"
        summary faults
        exit 1
    fi
done
t_all=$(date +%s)
for x in $sel; do
    "sc_$x"
done
n=$(echo $faults | wc -w)
kinds=$(echo $faults | tr ' ' '\n' | sort | uniq -c |
    awk '{ printf "%s%s %d", (NR > 1 ? ", " : ""), $2, $1 }')
note "faults injected: $n ($kinds)"
note "crashes: $crashes"
note "all scenarios took $(($(date +%s) - t_all)) s"
summary faults

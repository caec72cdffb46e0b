#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# test-powerd.sh [SCENARIO...]: integration tests of qemu-powerd against
# docs/qemu-powerd.rst, with the patched QEMU from build/ running the tiny
# spin, half and halt guests under TCG (or KVM), fake RAPL counters
# (fake-rapl.py), fake QMP servers with bad replies (fake-qmp.py), a real
# Prometheus server and a private libvirtd (libvirtd.sh).  The scenarios
# (default: all) are
#   a  --once --format json: 2 spinning + 1 halted VM, fake RAPL at 60 W
#   b  live mode, JSON lines: conservation, growing energy, flushing
#   c  faults: SIGKILL and restart, SIGSTOP/SIGCONT, a late VM, a RAPL
#      counter wrap
#   d  fake QMP servers with bad replies next to a good real VM
#   e  --energy-source estimate
#   f  --state-file across kill -9
#   g  --listen: promtool, and a real Prometheus scraping it
#   h  exit codes
#   i  --libvirt with a private libvirtd and two domains, by query and
#      by pushed samples
#   j  push mode: event vs poll on the same VMs, fallback to polling,
#      the lease after SIGKILL, two consumers
# Prints one "ok - ..." or "not ok - ..." line per check, "# ..." notes,
# and "powerd: N passed, N failed" at the end; exits non-zero if a check
# failed.  Every process it started is stopped on exit, also on Ctrl-C;
# it never signals a process it did not start.  Files go to
# build/integration/powerd/.  QEMU_POWERD and QEMU override the binaries.
# Needs root only for scenario i.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
here="$top/tests/integration"
qemu=${QEMU:-$top/build/qemu-system-x86_64}
powerd=${QEMU_POWERD:-$top/build/qemu-powerd}
dir="$top/build/integration/powerd"
all="a b c d e f g h i j"

. "$here/results.sh"

# checks SCENARIO ARGS...: run powerd-checks.py, count its results
checks() {
    python3 "$here/powerd-checks.py" "$@" >"$dir/checks.out" 2>&1 ||
        not_ok "powerd-checks.py $1 failed"
    collect "$dir/checks.out"
}
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

libvirt_dir=""
libvirt_doms=""
cleanup() {
    trap - EXIT INT TERM HUP
    stop_all
    if [ -n "$libvirt_dir" ]; then
        for d in $libvirt_doms; do
            virsh -q -c qemu:///system destroy "$d" >/dev/null 2>&1
        done
        sh "$here/libvirtd.sh" stop "$libvirt_dir" || true
    fi
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
vm_pid() {
    cat "$1/$2.pid"
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

# fetch URL OUT: GET URL into OUT; fails on an HTTP error
fetch() {
    python3 - "$1" "$2" <<'EOF'
import sys
import urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        data = r.read()
except Exception as e:
    sys.exit('%s: %s' % (sys.argv[1], e))
with open(sys.argv[2], 'wb') as f:
    f.write(data)
EOF
}
free_port() {
    python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
now() {
    date +%s.%N
}
lines() {
    if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi
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

sc_a() {
    fresh a "--once --format json, 2 spinning + 1 halted VM, RAPL 60 W"
    start_rapl "$s/sys" 60 --dram-watts 5
    start_vm "$s" a-spin1 spin
    start_vm "$s" a-spin2 spin
    start_vm "$s" a-idle halt
    sleep 0.5
    powerd_fg "$s/out.json" 30 --qmp "$s/*.qmp" --once --format json \
        --interval 2 --energy-source powercap --sysfs-root "$s/sys" \
        --idle-watts 20 --idle-watts dram-0=2
    expect_rc 0 "a: --once exits 0" "$s/out.json"
    checks once "$s/out.json" --spin a-spin1,a-spin2 --idle a-idle \
        --watts 60 --idle-watts 20 --dram-watts 5 --dram-idle-watts 2 \
        --interval 2
    done_scenario
}

sc_b() {
    fresh b "live mode, --format json --count 8 --interval 0.5"
    start_rapl "$s/sys" 60 --dram-watts 5
    start_vm "$s" b-spin spin
    start_vm "$s" b-half half
    start_vm "$s" b-idle halt
    sleep 0.3
    powerd_bg "$s/out.json" --qmp "$s/*.qmp" --format json --count 8 \
        --interval 0.5 --energy-source powercap --sysfs-root "$s/sys" \
        --idle-watts package-0=20
    sleep 2.5
    n=$(lines "$s/out.json")
    result "b: lines are written as they come (2.5 s in: $n lines)" \
        [ "$n" -ge 1 ]
    wait_exit "$dpid" 20
    expect_rc 0 "b: --count 8 exits 0" "$s/out.json"
    checks live "$s/out.json" --vms b-spin,b-half,b-idle --count 8 \
        --interval 0.5 --watts 60 --idle package-0=20 --idle-estimated dram-0
    done_scenario
}

sc_c() {
    fresh c "faults in live mode"
    start_vm "$s" c-keep spin
    start_vm "$s" c-kill halt
    start_vm "$s" c-stop half
    # the counter wraps 9 s after the driver starts
    start_rapl "$s/sys" 60 --wrap-in 9 --info "$s/rapl.json"
    interval=0.5
    timeout=0.4
    count=30
    ev="$s/events"
    echo "start $(now)" >"$ev"
    powerd_bg "$s/out.json" --qmp "$s/*.qmp" --format json \
        --count $count --interval $interval --timeout $timeout \
        --energy-source powercap --sysfs-root "$s/sys" --idle-watts 20
    sleep 2.5
    echo "kill $(now)" >>"$ev"
    kill -KILL "$(vm_pid "$s" c-kill)"
    sleep 1.5
    stopped=$(vm_pid "$s" c-stop)
    echo "stop $(now)" >>"$ev"
    kill -STOP "$stopped"
    sleep 3
    kill -CONT "$stopped"
    echo "cont $(now)" >>"$ev"
    sleep 1
    echo "late $(now)" >>"$ev"
    start_vm "$s" c-late halt
    # the SIGKILLed one comes back on the same socket
    start_vm "$s" c-kill halt
    wait_exit "$dpid" 30
    expect_rc 0 "c: daemon survives the faults and exits 0" "$s/out.json"
    checks faults "$s/out.json" --events "$ev" --rapl-info "$s/rapl.json" \
        --count $count --interval $interval --timeout $timeout --watts 60 \
        --keep c-keep --kill c-kill --stop c-stop --late c-late
    done_scenario
}

sc_d() {
    fresh d "fake QMP servers with bad replies"
    start_rapl "$s/sys" 60
    start_vm "$s" d-real halt
    bad=""
    for c in $(python3 "$here/fake-qmp.py" --list); do
        case $c in good | restart) continue ;; esac
        start_fake "$s" "fake-$c" "$c"
        bad="$bad,fake-$c"
    done
    start_fake "$s" fake-good good
    start_fake "$s" fake-flaky good,good,good,truncated,good
    start_fake "$s" fake-restart good,good,good,restart
    wait_fakes "$s"
    powerd_fg "$s/out.json" 30 --qmp "$s/*.qmp" --format json --count 6 \
        --interval 0.5 --energy-source powercap --sysfs-root "$s/sys" \
        --idle-watts 20
    expect_rc 0 "d: exits 0 despite the bad VMs" "$s/out.json"
    checks fakes "$s/out.json" --count 6 --bad "${bad#,}" \
        --good d-real,fake-good --flaky fake-flaky --restarted fake-restart
    # Exiting while a worker still waits for the hung VM: a few short runs,
    # as what goes wrong there goes wrong only sometimes.
    codes=""
    for _ in 1 2 3 4; do
        powerd_fg "$s/hang.json" 20 --qmp "$s/fake-hang.qmp" \
            --qmp "$s/d-real.qmp" --format json --count 2 --interval 0.2 \
            --energy-source powercap --sysfs-root "$s/sys" --idle-watts 20
        codes="$codes $rc"
    done
    result "d: --count exits 0 with a VM that never answers (exits:$codes)" \
        [ "$codes" = " 0 0 0 0" ]
    done_scenario
}

sc_e() {
    fresh e "--energy-source estimate"
    mkdir -p "$s/sys"
    start_vm "$s" e-spin spin
    start_vm "$s" e-halt halt
    sleep 0.3
    est="--energy-source estimate --idle-watts 30 --max-watts 130"
    # shellcheck disable=SC2086
    powerd_fg "$s/out.json" 30 --qmp "$s/*.qmp" --format json --count 4 \
        --interval 0.5 --sysfs-root "$s/sys" $est
    expect_rc 0 "e: exits 0" "$s/out.json"
    checks estimate "$s/out.json" --count 4 --idle-watts 30 \
        --max-watts 130 --spin e-spin --halt e-halt
    # shellcheck disable=SC2086
    powerd_fg "$s/default.json" 30 --qmp "$s/*.qmp" --once \
        --interval 0.5 --sysfs-root "$s/sys" $est
    expect_rc 0 "e: --once without --format exits 0" "$s/default.json"
    result "e: without --format and a terminal, the output is JSON" \
        python3 -c 'import json, sys; json.load(open(sys.argv[1]))' \
        "$s/default.json"
    # shellcheck disable=SC2086
    powerd_fg "$s/out.txt" 30 --qmp "$s/*.qmp" --format table --once \
        --interval 0.5 --sysfs-root "$s/sys" $est
    expect_rc 0 "e: --format table --once exits 0" "$s/out.txt"
    result "e: the table says the power is estimated" \
        grep -qi estimat "$s/out.txt"
    grep -qi estimat "$s/out.txt" || show "$s/out.txt"
    # shellcheck disable=SC2086
    powerd_fg "$s/out.csv" 30 --qmp "$s/*.qmp" --format csv --once \
        --interval 0.5 --sysfs-root "$s/sys" $est
    expect_rc 0 "e: --format csv --once exits 0" "$s/out.csv"
    if csv=$(python3 - "$s/out.csv" <<'EOF'
import csv
import sys
rows = [r for r in csv.reader(open(sys.argv[1])) if r]
if rows and rows[0][:2] == ['time', 'vm']:
    rows = rows[1:]                     # a header line is fine
bad = [r for r in rows if len(r) != 7]
vms = sorted({r[1] for r in rows if len(r) == 7})
if bad or vms != ['e-halt', 'e-spin']:
    sys.exit('rows %r' % rows[:5])
for r in rows:
    float(r[0]), float(r[4]), float(r[5]), float(r[6])
print('%d rows' % len(rows))
EOF
    ); then
        ok "e: csv: time,vm,uuid,zone,watts,share,energy_joules: $csv"
    else
        not_ok "e: csv lines: $csv"
        show "$s/out.csv"
    fi
    done_scenario
}

sc_f() {
    fresh f "--state-file across kill -9"
    start_rapl "$s/sys" 60
    start_vm "$s" f-spin spin
    start_vm "$s" f-halt halt
    sleep 0.3
    # (a kill -9 loses what came after the last write: one interval here)
    set -- --qmp "$s/*.qmp" --format json --interval 0.5 \
        --energy-source powercap --sysfs-root "$s/sys" --idle-watts 20 \
        --state-file "$s/state" --state-interval 0.5
    powerd_bg "$s/before.json" "$@"
    sleep 4
    kill -KILL "$dpid"
    wait "$dpid" 2>/dev/null
    n=$(lines "$s/before.json")
    result "f: $n lines before kill -9" [ "$n" -ge 3 ]
    result "f: state file written" [ -s "$s/state" ]
    powerd_fg "$s/after.json" 30 "$@" --count 4
    expect_rc 0 "f: restarted with the state file, exits 0" \
        "$s/after.json"
    checks state "$s/before.json" "$s/after.json"
    done_scenario
}

sc_g() {
    fresh g "Prometheus"
    start_rapl "$s/sys" 60
    start_vm "$s" g-spin spin
    start_vm "$s" g-halt halt
    port=$(free_port)
    powerd_bg "$s/out.json" --qmp "$s/*.qmp" --format json --interval 1 \
        --energy-source powercap --sysfs-root "$s/sys" --idle-watts 20 \
        --listen "127.0.0.1:$port"
    url="http://127.0.0.1:$port/metrics"
    # wait for the first interval's numbers
    n=0
    until fetch "$url" "$s/metrics.txt" 2>"$s/fetch.err" &&
        grep -q '^qemu_power_vm_watts{.*g-halt' "$s/metrics.txt" &&
        grep -q '^qemu_power_vm_watts{.*g-spin' "$s/metrics.txt"; do
        n=$((n + 1))
        if [ $n -ge 30 ] || ! alive "$dpid"; then
            break
        fi
        sleep 0.5
    done
    if [ -s "$s/metrics.txt" ]; then
        ok "g: GET $url"
    else
        not_ok "g: GET $url: $(cat "$s/fetch.err")"
        show "$s/out.json.err"
    fi
    if promtool check metrics <"$s/metrics.txt" >"$s/promtool.out" 2>&1
    then
        ok "g: promtool check metrics"
    else
        not_ok "g: promtool check metrics"
        show "$s/promtool.out"
    fi
    checks metrics "$s/metrics.txt" --vms g-spin,g-halt --watts 60

    pport=$(free_port)
    cat >"$s/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: qemu-powerd
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
    prometheus --config.file="$s/prometheus.yml" \
        --storage.tsdb.path="$s/tsdb" \
        --web.listen-address="127.0.0.1:$pport" --log.level=warn \
        >"$s/prometheus.log" 2>&1 &
    ppid_=$!
    track $ppid_
    papi="http://127.0.0.1:$pport"
    n=0
    until fetch "$papi/-/ready" "$s/ready.txt" 2>/dev/null; do
        n=$((n + 1))
        if [ $n -ge 60 ] || ! alive "$ppid_"; then
            break
        fi
        sleep 0.5
    done
    if [ -s "$s/ready.txt" ]; then
        ok "g: prometheus ready on 127.0.0.1:$pport"
    else
        not_ok "g: prometheus did not start"
        show "$s/prometheus.log"
    fi
    sleep 10
    q='sum by (vm) (rate(qemu_power_vm_energy_joules_total[5s]))'
    qe=$(python3 -c 'import sys, urllib.parse as u
print(u.quote(sys.argv[1]))' "$q")
    n=0
    while :; do
        fetch "$papi/api/v1/query?query=$qe" "$s/query.json" \
            2>"$s/query.err"
        # until a series per VM, 5 s at most
        [ "$(grep -o '"vm":' "$s/query.json" 2>/dev/null | wc -l)" -ge 2 ] &&
            break
        n=$((n + 1))
        [ $n -ge 5 ] && break
        sleep 1
    done
    if [ -s "$s/query.json" ]; then
        note "g: $q: $(head -c 600 "$s/query.json")"
        checks promquery "$s/query.json" --vms g-spin,g-halt --spin g-spin
    else
        not_ok "g: query $q: $(cat "$s/query.err")"
    fi
    if promtool check config "$top/docs/prometheus.yml" \
        >"$s/check-config.out" 2>&1; then
        ok "g: promtool check config docs/prometheus.yml"
    else
        not_ok "g: promtool check config docs/prometheus.yml"
        show "$s/check-config.out"
    fi
    if out=$(python3 - "$top/contrib/grafana/qemu-power-dashboard.json" \
        <<'EOF'
import json
import sys
d = json.load(open(sys.argv[1]))
panels = d['panels']
exprs = [t['expr'] for p in panels for t in p.get('targets', [])]
need = ['qemu_power_vm_watts', 'qemu_power_host_watts',
        'qemu_power_host_idle_watts', 'qemu_power_host_other_watts',
        'qemu_power_vm_energy_joules_total']
missing = [m for m in need if not any(m in e for e in exprs)]
assert d['title'] and d['schemaVersion'] and not missing, missing
print('%d panels' % len(panels))
EOF
    ); then
        ok "g: contrib/grafana/qemu-power-dashboard.json: $out"
    else
        not_ok "g: contrib/grafana/qemu-power-dashboard.json: $out"
    fi
    done_scenario
}

sc_h() {
    fresh h "exit codes"
    python3 "$here/fake-rapl.py" --root "$s/sys" --init-only
    mkdir -p "$s/empty"
    for bad in "--bogus-option" "--interval 0.01" "--format xml" \
        "--energy-source nuclear"; do
        # shellcheck disable=SC2086
        powerd_fg "$s/bad.out" 20 $bad --once --qmp "$s/none-*.qmp" \
            --sysfs-root "$s/sys"
        expect_rc 1 "h: $bad: bad options" "$s/bad.out"
        opt=${bad%% *}
        opt=${opt#--}
        if [ "$bad" = "--bogus-option" ]; then
            want=$opt
        else
            want=${bad#* }
        fi
        result "h: $bad: the message names '$want'" \
            grep -qF -e "$want" "$s/bad.out.err"
        grep -qF -e "$want" "$s/bad.out.err" || show "$s/bad.out.err"
    done
    powerd_fg "$s/novm.out" 20 --once --qmp "$s/none-*.qmp" \
        --energy-source powercap --sysfs-root "$s/sys" --interval 0.5
    expect_rc 2 "h: --once, no socket matches: no VM found" "$s/novm.out"
    powerd_fg "$s/lv.out" 30 --once \
        --libvirt 'qemu+unix:///system?socket=/nonexistent' \
        --energy-source estimate --sysfs-root "$s/sys" --interval 0.5
    expect_rc 3 "h: --libvirt, unreachable URI" "$s/lv.out"
    start_fake "$s" h-fake good
    wait_fakes "$s"
    powerd_fg "$s/noe.out" 20 --once --qmp "$s/h-fake.qmp" \
        --energy-source powercap --sysfs-root "$s/empty" --interval 0.5
    expect_rc 4 "h: --energy-source powercap, empty sysfs root" \
        "$s/noe.out"
    for f in novm lv noe; do
        result "h: $f: a message on stderr" [ -s "$s/$f.out.err" ]
    done
    done_scenario
}

sc_i() {
    fresh i "--libvirt with a private libvirtd"
    if [ "$(id -u)" != 0 ] || ! command -v libvirtd >/dev/null; then
        not_ok "i: needs root and libvirtd (scripts/install-deps.sh)"
        return
    fi
    uri=qemu:///system
    libvirt_dir="$s/libvirtd"
    if ! sh "$here/libvirtd.sh" start "$libvirt_dir"; then
        not_ok "i: libvirtd did not start"
        return
    fi
    type=$POWER_LIBVIRT_TYPE
    doms=""
    for g in spin:i-spin halt:i-halt; do
        name=${g#*:}
        cat >"$s/$name.xml" <<EOF
<domain type='$type'>
  <name>$name</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  $POWER_LIBVIRT_CPU
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <loader type='rom'>$(bios "${g%%:*}")</loader>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$qemu</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
        virsh -q -c "$uri" destroy "$name" >/dev/null 2>&1
        libvirt_doms="$libvirt_doms $name"
        if virsh -q -c "$uri" create "$s/$name.xml" >"$s/create.out" 2>&1
        then
            doms="$doms,$name=$(virsh -q -c "$uri" domuuid "$name")"
        else
            not_ok "i: virsh create $name"
            show "$s/create.out"
        fi
    done
    start_rapl "$s/sys" 60
    sleep 0.5
    powerd_fg "$s/out.json" 30 --libvirt "$uri" --once --format json \
        --interval 2 --energy-source powercap --sysfs-root "$s/sys" \
        --idle-watts 20
    expect_rc 0 "i: --libvirt --once exits 0" "$s/out.json"
    checks libvirt "$s/out.json" --doms "${doms#,}" --spin i-spin \
        --halt i-halt
    # the same domains pushing their samples through libvirt
    powerd_fg "$s/events.json" 30 --libvirt "$uri" --count 4 --format json \
        --interval 1 --energy-source powercap --sysfs-root "$s/sys" \
        --idle-watts 20
    expect_rc 0 "i: --libvirt in event mode, --count 4, exits 0" \
        "$s/events.json"
    python3 "$here/event-checks.py" libvirt "$s/events.json" --count 4 \
        --doms i-spin,i-halt >"$dir/checks.out" 2>&1 ||
        not_ok "i: event-checks.py libvirt failed"
    collect "$dir/checks.out"
    for d in i-spin i-halt; do
        st=$(virsh -q -c "$uri" qemu-monitor-command "$d" \
            '{"execute":"query-power-sampling"}' 2>&1)
        case $st in
        *'"stop-reason":"stopped"'*)
            ok "i: $d: qemu-powerd stopped the sampling on exit" ;;
        *) not_ok "i: $d: qemu-powerd stopped the sampling on exit: $st" ;;
        esac
    done
    for d in $libvirt_doms; do
        virsh -q -c "$uri" destroy "$d" >/dev/null 2>&1
    done
    libvirt_doms=""
    sh "$here/libvirtd.sh" stop "$libvirt_dir" || not_ok "i: libvirtd stop"
    libvirt_dir=""
    done_scenario
}

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
for t in python3 promtool prometheus; do
    command -v "$t" >/dev/null ||
        not_ok "$t not found; run scripts/install-deps.sh"
done
t0=$(date +%s)
for x in $sel; do
    "sc_$x"
done
note "all scenarios took $(($(date +%s) - t0)) s"
summary powerd

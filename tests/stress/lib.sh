# SPDX-License-Identifier: GPL-2.0-or-later
#
# Shell helpers of the stress tests (test-churn.sh, test-faults.sh),
# sourced after setting $dir, the directory under build/stress/ that holds
# the script's files.  The process helpers are those of
# tests/integration/procs.sh, the result lines those of
# tests/integration/results.sh.

top=$(cd "$(dirname "$0")/../.." && pwd)
integ="$top/tests/integration"
stress="$top/tests/stress"
qemu=${QEMU:-$top/build/qemu-system-x86_64}
powerd=${QEMU_POWERD:-$top/build/qemu-powerd}
uri=qemu:///system

# shellcheck source=../integration/results.sh
. "$integ/results.sh"

# The interpreter itself: a version manager's python3 wrapper can take
# half a second to start, which the churn would spend over and over.
py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) ||
    py=python3

eval "$(sh "$top/scripts/kvm-probe.sh" "$qemu")" || exit 1
accel=$POWER_ACCEL

# --- processes ---

# shellcheck source=../integration/procs.sh
. "$integ/procs.sh"

# The scripts may set cleanup_hook to a function that runs first (to
# destroy libvirt domains, say).
cleanup_hook=:
cleanup() {
    trap - EXIT INT TERM HUP
    $cleanup_hook
    stop_all
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# reap PID: wait for our child PID (already signalled) to exit, 10 s at
# most; its exit status in $rc, 124 if it had to be killed
reap() {
    n=0
    while alive "$1" && [ $n -lt 500 ]; do
        sleep 0.02
        n=$((n + 1))
    done
    if alive "$1"; then
        stop_pid "$1"
        wait "$1" 2>/dev/null
        rc=124
    else
        # (quiet: dash would say "Killed" for a SIGKILLed child)
        wait "$1" 2>/dev/null
        rc=$?
    fi
    untrack "$1"
}

# wait_file FILE SECONDS: until FILE exists and is not empty
wait_file() {
    n=0
    while [ ! -s "$1" ] && [ $n -lt $(($2 * 50)) ]; do
        sleep 0.02
        n=$((n + 1))
    done
    [ -s "$1" ]
}
# wait_sock FILE SECONDS: until the socket FILE exists
wait_sock() {
    n=0
    while [ ! -S "$1" ] && [ $n -lt $(($2 * 40)) ]; do
        sleep 0.025
        n=$((n + 1))
    done
    [ -S "$1" ]
}

now() {
    date +%s.%N
}
lines() {
    if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi
}
# show FILE: the first lines of FILE as notes, to explain a failure
show() {
    [ -s "$1" ] || return 0
    head -c 1500 "$1" | sed 's/^/#   /'
    echo
}

# --- VMs, RAPL, the daemon ---

# bios GUEST: the BIOS image of a tiny guest, made once
bios() {
    [ -s "$dir/$1.bios" ] ||
        sh "$top/scripts/make-guest-bios.sh" "$1" "$dir/$1.bios" >&2
    echo "$dir/$1.bios"
}

# start_vm DIR NAME GUEST [QEMU-NAME]: a VM with QMP socket DIR/NAME.qmp
# for the daemon and DIR/NAME.ctl for the test (QEMU serves one client
# per QMP socket, and the daemon stays connected), named QEMU-NAME
# (default NAME; "" for no -name), as our child (so its exit status
# tells a crash), PID in $vpid and DIR/NAME.pid.  A stale socket stays:
# QEMU replaces it, as on a real restart.
start_vm() {
    qname=${4-$2}
    set -- "$1" "$2" "$3" -M pc -accel "$accel" -cpu "$POWER_CPU" -smp 1 -m 64 \
        -nodefaults -display none -bios "$(bios "$3")" \
        -qmp "unix:$1/$2.qmp,server=on,wait=off" \
        -qmp "unix:$1/$2.ctl,server=on,wait=off"
    if [ -n "$qname" ]; then
        set -- "$@" -name "$qname"
    fi
    vdir=$1
    vname=$2
    shift 3
    "$qemu" "$@" </dev/null >>"$vdir/$vname.log" 2>&1 &
    vpid=$!
    track $vpid
    echo $vpid >"$vdir/$vname.pid"
}
vm_pid() {
    cat "$1/$2.pid"
}

# start_rapl ROOT WATTS ARGS...: the fake RAPL driver on ROOT
start_rapl() {
    r=$1
    w=$2
    shift 2
    rm -rf "$r" "$r.pid"
    mkdir -p "$r"
    "$py" "$integ/fake-rapl.py" --root "$r" --watts "$w" \
        --pidfile "$r.pid" "$@" &
    track $!
    wait_file "$r.pid" 10 || not_ok "fake-rapl.py did not start"
}

# powerd_bg OUT ARGS...: qemu-powerd in the background, PID in $dpid;
# $POWERD_ARGS (say, "--mode poll") is added to every run
powerd_bg() {
    out=$1
    shift
    # shellcheck disable=SC2086
    "$powerd" "$@" ${POWERD_ARGS:-} >"$out" 2>"$out.err" </dev/null &
    dpid=$!
    track $dpid
}
# wait_lines FILE N SECONDS: until FILE has N lines
wait_lines() {
    n=0
    while [ "$(lines "$1")" -lt "$2" ] && [ $n -lt $(($3 * 20)) ]; do
        sleep 0.05
        n=$((n + 1))
    done
    [ "$(lines "$1")" -ge "$2" ]
}

# mem PID: "FDS RSS ANON THREADS" of PID (RSS and anon in KiB)
mem() {
    f=$(ls "/proc/$1/fd" 2>/dev/null | wc -l)
    awk -v f="$f" '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 }
        /^Threads:/ { t = $2 }
        END { printf "%d %d %d %d\n", f, r, a, t }' "/proc/$1/status"
}

# exit_desc RC: an exit status in words
exit_desc() {
    if [ "$1" -gt 128 ] && [ "$1" -lt 160 ]; then
        echo "killed by signal $(($1 - 128)) ($(kill -l "$1" 2>/dev/null))"
    else
        echo "exit $1"
    fi
}

# checks NAME ARGS...: run stress-checks.py, count its results
checks() {
    "$py" "$stress/stress-checks.py" "$@" >"$dir/checks.out" 2>&1 ||
        not_ok "stress-checks.py $1 failed"
    collect "$dir/checks.out"
}

# --- libvirt ---

# libvirtd_ours DIR: the libvirtd that serves qemu:///system (the one
# holding /run/libvirtd.pid) is the one libvirtd.sh started for DIR.
# libvirtd.sh start only waits until something answers: started at the
# same moment as another test's, ours may lose the PID file and exit
# while the other one answers.
libvirtd_ours() {
    lp=$(cat "$1/libvirtd.pid" 2>/dev/null) &&
        [ "$(cat /run/libvirtd.pid 2>/dev/null)" = "$lp" ] &&
        tr '\0' '\n' <"/proc/$lp/environ" 2>/dev/null |
        grep -qxF "QEMU_POWER_LIBVIRTD_DIR=$1"
}
# libvirtd_start DIR: a private libvirtd (libvirtd.sh); another test's
# libvirtd on the same machine is waited for, 3 minutes at most
libvirtd_start() {
    n=0
    while :; do
        if sh "$integ/libvirtd.sh" start "$1" >"$1.start.out" 2>&1; then
            sleep 0.5
            libvirtd_ours "$1" && return 0
            echo "another libvirtd took $uri" >>"$1.start.out"
            libvirtd_stop "$1" >>"$1.start.out" 2>&1
        elif ! grep -q 'another libvirtd' "$1.start.out"; then
            show "$1.start.out"
            return 1
        fi
        if [ $n -ge 36 ]; then
            show "$1.start.out"
            return 1
        fi
        [ $n -eq 0 ] &&
            note "another libvirtd serves $uri (not ours): waiting for it"
        sleep 5
        n=$((n + 1))
    done
}
libvirtd_stop() {
    sh "$integ/libvirtd.sh" stop "$1"
}
virsh_() {
    virsh -q -c "$uri" "$@"
}

# dom_xml NAME GUEST: a transient domain running GUEST, as in
# tests/integration/test-powerd.sh scenario i
dom_xml() {
    cat <<EOF
<domain type='$POWER_LIBVIRT_TYPE'>
  <name>$1</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  $POWER_LIBVIRT_CPU
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <loader type='rom'>$(bios "$2")</loader>
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
}

# lv_sweep: domains left by an earlier run of ours (their XML names our
# directory), say when its libvirtd went away under it: destroyed and
# undefined
lv_sweep() {
    for dom in $(virsh_ list --all --name 2>/dev/null); do
        if virsh_ dumpxml "$dom" 2>/dev/null | grep -qF "$dir/"; then
            virsh_ destroy "$dom" >/dev/null 2>&1
            virsh_ undefine "$dom" >/dev/null 2>&1
            note "removed domain $dom, left by an earlier run"
        fi
    done
}
# kill_our_qemus: the QEMUs that libvirt ran for us and could not stop
# (its daemon gone): those running with our directory on their command
# line
kill_our_qemus() {
    for f in /proc/[0-9]*/comm; do
        { read -r c <"$f"; } 2>/dev/null || continue
        [ "$c" = qemu-system-x86 ] || continue
        p=${f#/proc/}
        p=${p%/comm}
        if ours "$p"; then
            note "SIGKILL to QEMU $p, left running by libvirt"
            kill -KILL "$p" 2>/dev/null
        fi
    done
}

# dom_pid NAME: the PID of domain NAME's QEMU, from libvirt's PID file
dom_pid() {
    cat "/run/libvirt/qemu/$1.pid" 2>/dev/null
}

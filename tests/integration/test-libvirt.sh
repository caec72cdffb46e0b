#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Integration test of the libvirt passthrough path, with an unpatched
# libvirt: start a private libvirtd (libvirtd.sh), create two transient
# domains (KVM where scripts/kvm-probe.sh finds it works, else TCG) that run the patched
# QEMU from build/ with the tiny spin and halt guests as their BIOS, and
# check query-power and 'info power' through 'virsh qemu-monitor-command'
# (the checks on the replies are in libvirt-checks.py).  Prints one
# "ok - ..." or "not ok - ..." line per check and "libvirt: N passed,
# N failed" at the end; exits non-zero if a check failed.  The domains and
# libvirtd are always cleaned up, also on failure or Ctrl-C.
# Needs root and the libvirt packages from scripts/install-deps.sh.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
here="$top/tests/integration"
qemu=${QEMU:-$top/build/qemu-system-x86_64}
dir="$top/build/integration/libvirt"
uri=qemu:///system
doms="qp-spin qp-idle"
interval=${LIBVIRT_TEST_INTERVAL:-1}

. "$here/results.sh"

virsh_() {
    virsh -q -c "$uri" "$@"
}

destroy_all() {
    for d in $doms; do
        if virsh_ domstate "$d" >/dev/null 2>&1; then
            virsh_ destroy "$d" >/dev/null 2>&1 || true
        fi
    done
}

started=""
created=""
cleanup() {
    trap - EXIT INT TERM HUP
    [ -z "$created" ] || destroy_all
    [ -z "$started" ] || sh "$here/libvirtd.sh" stop "$dir" || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# bail REASON: a failed check that makes the rest pointless
bail() {
    not_ok "$*"
    summary libvirt || exit 1
}

for t in virsh libvirtd python3; do
    command -v "$t" >/dev/null || bail "$t not found; run scripts/install-deps.sh"
done
[ -x "$qemu" ] || bail "$qemu not found; build QEMU first"
[ "$(id -u)" = 0 ] || bail "must run as root (qemu:///system)"

mkdir -p "$dir"
rm -f "$dir"/*.json "$dir"/*.hmp "$dir"/*.regs "$dir"/*.rc "$dir"/*.xml \
      "$dir"/*.bios "$dir/checks.out"
for g in spin halt; do
    sh "$top/scripts/make-guest-bios.sh" "$g" "$dir/$g.bios" ||
        bail "make-guest-bios.sh $g failed"
done

eval "$(sh "$top/scripts/kvm-probe.sh" "$qemu")" || bail "kvm-probe.sh failed"
note "$POWER_PROBE"
type=$POWER_LIBVIRT_TYPE

started=1
if sh "$here/libvirtd.sh" start "$dir"; then
    ok "libvirtd answers on $uri"
else
    bail "libvirtd did not start (see above)"
fi
# A libvirtd restarted after an aborted run reconnects to its domains.
created=1
destroy_all

# cmdline DOM BIOS: DOM's QEMU runs with "-bios BIOS" and no disk
cmdline() {
    pid=$(cat "/run/libvirt/qemu/$1.pid" 2>/dev/null) || {
        echo "no /run/libvirt/qemu/$1.pid"
        return 1
    }
    tr '\0' '\n' <"/proc/$pid/cmdline" | awk -v bios="$2" -v pid="$pid" '
        prev == "-bios" && $0 == bios { found = 1 }
        /^-(drive|blockdev|hd[a-d]|cdrom)$/ { disk = disk " " $0 }
        { prev = $0; all = all " " $0 }
        END {
            if (!found) { print "no -bios " bios " in:" substr(all, 1, 500); exit 1 }
            if (disk != "") { print "disk options:" disk; exit 1 }
            print "QEMU PID " pid
        }'
}

# Create the domains.  The guests need x2APIC, which libvirt's default
# CPU model for TCG (qemu64) lacks: without it the spin guest faults and
# runs off into zeroed RAM, busy but not in its loop.  'maximum' is -cpu max
# (without arch-capabilities where the probe says so).
for g in spin:spin halt:idle; do
    bios="$dir/${g%%:*}.bios"
    name="qp-${g#*:}"
    cat >"$dir/$name.xml" <<EOF
<domain type='$type'>
  <name>$name</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  $POWER_LIBVIRT_CPU
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <loader type='rom'>$bios</loader>
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
    check "$name: virsh create (type=$type)" virsh_ create "$dir/$name.xml"
    check "$name: QEMU runs with the loader as -bios and no disk" \
        cmdline "$name" "$bios"
done

# Collect every reply first, so that the two query-power samples are
# about $interval s apart even when the checks are slow on a busy host.
# mon DOM FILE ARGS...: the reply in FILE, virsh's exit status in FILE.rc
mon() {
    d=$1
    f=$2
    shift 2
    rc=0
    virsh -c "$uri" qemu-monitor-command "$d" "$@" >"$dir/$f" 2>&1 || rc=$?
    echo "$rc" >"$dir/$f.rc"
}
for d in $doms; do
    mon "$d" "$d.1.json" '{"execute":"query-power"}'
done
sleep "$interval"
for d in $doms; do
    mon "$d" "$d.2.json" '{"execute":"query-power"}'
done
for d in $doms; do
    mon "$d" "$d.hmp" --hmp 'info power'
    mon "$d" "$d.regs" --hmp 'info registers'
    mon "$d" "$d.bogus.json" '{"execute":"query-power","arguments":{"bogus":1}}'
done

# The checks (a) to (d), one result line each.
# shellcheck disable=SC2086
python3 "$here/libvirt-checks.py" "$dir" $doms >"$dir/checks.out" ||
    not_ok "libvirt-checks.py failed"
collect "$dir/checks.out"

# qemu-powerd finds both domains through libvirt and attributes power to
# them by name (estimated energy: this host may have no RAPL).
powerd="$top/build/qemu-powerd"
powerd_check() {
    "$powerd" --libvirt "$uri" --once --format json \
        --energy-source estimate >"$dir/powerd.json" 2>"$dir/powerd.err" || {
        echo "exit status $?: $(cat "$dir/powerd.err")"
        return 1
    }
    python3 - "$dir/powerd.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
vms = {v["name"]: v for v in r["vms"]}
for d in ("qp-spin", "qp-idle"):
    if d not in vms or vms[d]["status"] != "ok" or not vms[d]["uuid"]:
        sys.exit("%s missing or not ok: %s" % (d, vms.get(d)))
spin, idle = vms["qp-spin"], vms["qp-idle"]
w = lambda v: v["zones"][0]["watts"]
if not (spin["share"] > 0.2 and idle["share"] < 0.05 and w(spin) > w(idle)):
    sys.exit("implausible: spin %.3f %.2f W, idle %.3f %.2f W"
             % (spin["share"], w(spin), idle["share"], w(idle)))
print("qp-spin %.2f W (share %.2f), qp-idle %.2f W"
      % (w(spin), spin["share"], w(idle)))
PY
}
check "qemu-powerd --libvirt attributes power to both domains" powerd_check

summary libvirt

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# scripts/kvm-probe.sh decides the way it should on any machine, with or
# without a working /dev/kvm: stand-in QEMUs that behave like the hosts we
# have met (one whose KVM refuses IA32_ARCH_CAPABILITIES and aborts exactly
# as logged in shared/notes/operator-world.md, one where nothing runs, one
# where -cpu max runs) over a stand-in device node; then the real probe of
# this machine, whose answer is printed.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/integration/results.sh"
probe="$top/scripts/kvm-probe.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# stand_in NAME BEHAVIOUR: a QEMU that does BEHAVIOUR (max-works,
# needs-no-arch-capabilities, nothing-works) and counts its runs
stand_in() {
    cat > "$tmp/$1" <<EOF
#!/bin/sh
echo run >> "$tmp/$1.runs"
cpu=
while [ \$# -gt 0 ]; do
    [ "\$1" = -cpu ] && cpu=\$2
    shift
done
abort() {
    q=qemu-system-x86_64
    echo "\$q: error: failed to set MSR 0x10a to 0xc000069" >&2
    echo "\$q: ../target/i386/kvm/kvm.c:3877: kvm_buf_set_msrs:" \\
         "Assertion \\\`ret == cpu->kvm_msr_buf->nmsrs' failed." >&2
    kill -ABRT \$\$
}
case "$2:\$cpu" in
max-works:*) exit 85 ;;
needs-no-arch-capabilities:max,-arch-capabilities) exit 85 ;;
*) abort ;;
esac
EOF
    chmod +x "$tmp/$1"
    : > "$tmp/$1.runs"
}

# run_probe QEMU DEVICE: the probe's assignments, evaluated here
# run_probe QEMU DEVICE [LIBVIRT-USER]: without a user, libvirt's is not
# asked about (the stand-in device is root's only)
run_probe() {
    unset POWER_ACCEL POWER_CPU POWER_LIBVIRT_TYPE POWER_LIBVIRT_CPU POWER_PROBE
    out=$(KVM_PROBE_DEVICE=$2 KVM_PROBE_CACHE="$tmp/cache" \
          KVM_PROBE_LIBVIRT_USER=${3:-} sh "$probe" "$1") ||
        return 1
    eval "$out"
}

expect() {
    [ "$1" = "$2" ] || { echo "got '$1', expected '$2'"; return 1; }
}

: > "$tmp/kvm"
chmod 600 "$tmp/kvm"

stand_in quirky needs-no-arch-capabilities
run_probe "$tmp/quirky" "$tmp/kvm"
check "a host that refuses arch-capabilities: KVM without it" \
    expect "$POWER_ACCEL $POWER_CPU $POWER_LIBVIRT_TYPE" \
    "kvm max,-arch-capabilities kvm"
msr="error: failed to set MSR 0x10a to 0xc000069"
check "the reason quotes QEMU's own error" \
    expect "$POWER_PROBE" "guests run under KVM with -cpu max,-arch-capabilities:\
 -cpu max fails ($msr); -cpu max,-arch-capabilities runs"
check "libvirt's <cpu> disables the feature" \
    expect "$POWER_LIBVIRT_CPU" "<cpu mode='maximum' check='none'>\
<feature policy='disable' name='arch-capabilities'/></cpu>"
run_probe "$tmp/quirky" "$tmp/kvm"
check "the answer is cached: two probes, two guests started" \
    expect "$(wc -l < "$tmp/quirky.runs")" 2
touch -d '2001-01-01' "$tmp/quirky"
run_probe "$tmp/quirky" "$tmp/kvm"
check "a rebuilt QEMU is probed again" \
    expect "$(wc -l < "$tmp/quirky.runs")" 4

stand_in broken nothing-works
run_probe "$tmp/broken" "$tmp/kvm"
check "a host where no KVM guest runs: TCG" \
    expect "$POWER_ACCEL $POWER_CPU $POWER_LIBVIRT_TYPE $POWER_LIBVIRT_CPU" \
    "tcg max qemu <cpu mode='maximum' check='none'/>"
check "the reason names both attempts" \
    expect "$POWER_PROBE" "guests run under TCG: -cpu max fails ($msr);\
 -cpu max,-arch-capabilities fails ($msr)"

stand_in good max-works
run_probe "$tmp/good" "$tmp/kvm"
check "a host where -cpu max runs: KVM with it, one guest started" \
    expect "$POWER_ACCEL $POWER_CPU $(wc -l < "$tmp/good.runs")" "kvm max 1"

run_probe "$tmp/good" "$tmp/no-such-device"
check "no device node: TCG, and no guest started" \
    expect "$POWER_ACCEL $POWER_PROBE $(wc -l < "$tmp/good.runs")" \
    "tcg guests run under TCG: $tmp/no-such-device does not exist 1"

# libvirt's QEMU user without access to the device: its domains get TCG
if [ "$(id -u)" -eq 0 ]; then
    chmod 755 "$tmp"
    stand_in lvgood max-works
    run_probe "$tmp/lvgood" "$tmp/kvm" nobody
    check "libvirt's QEMU user cannot open the device: domains under TCG" \
        expect "$POWER_ACCEL $POWER_LIBVIRT_TYPE $POWER_PROBE" \
        "kvm qemu guests run under KVM with -cpu max: -cpu max runs;\
 libvirt domains under TCG: libvirt's QEMU user nobody cannot open $tmp/kvm"
    chmod 666 "$tmp/kvm"
    run_probe "$tmp/lvgood" "$tmp/kvm" nobody
    check "and once it can: domains under KVM" \
        expect "$POWER_ACCEL $POWER_LIBVIRT_TYPE" "kvm kvm"
    chmod 600 "$tmp/kvm"
fi

# As root every file is readable: ask as nobody then.
chmod 755 "$tmp"
chmod 600 "$tmp/kvm"
mkdir -m 777 "$tmp/cache-nobody"
as_nobody=""
[ "$(id -u)" -eq 0 ] &&
    as_nobody="setpriv --reuid=nobody --regid=nogroup --clear-groups"
out=$(KVM_PROBE_DEVICE="$tmp/kvm" KVM_PROBE_CACHE="$tmp/cache-nobody" \
      $as_nobody sh "$probe" "$tmp/good" 2>&1)
check "a device node without read and write access: TCG" \
    expect "$(echo "$out" | grep '^POWER_PROBE=')" \
    "POWER_PROBE='guests run under TCG: $tmp/kvm is not readable and\
 writable by uid $(id -u nobody)'"

check "no QEMU: a clear error" sh -c \
    "sh '$probe' '$tmp/none' 2>&1 | grep -q 'kvm-probe: no QEMU at'"

# This machine, as every other test sees it.
qemu="$top/build/qemu-system-x86_64"
if run_probe "$qemu" /dev/kvm libvirt-qemu; then
    ok "this machine: $POWER_PROBE"
    if [ "$POWER_ACCEL" = kvm ]; then
        check "this machine: a KVM guest with -cpu $POWER_CPU runs" \
            sh -c "sh '$top/scripts/make-guest-bios.sh' exit '$tmp/exit.bios' &&
                   '$qemu' -M pc -accel kvm -cpu '$POWER_CPU' -m 16 \
                   -nodefaults -display none -bios '$tmp/exit.bios' \
                   -device isa-debug-exit,iobase=0xf4,iosize=1; [ \$? -eq 85 ]"
    fi
else
    not_ok "this machine: the probe failed"
fi

summary kvm-probe

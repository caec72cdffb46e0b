#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# 'make check': build everything, then run every test suite, timing each
# phase.  The last line sums up all suites as "N passed, N failed, N skipped".
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
log="$top/build/check"
mkdir -p "$log"
. "$top/scripts/phases.sh"

t_start=$(date +%s)
unit_tests="test-task-counter test-host-sysfs test-host-rapl test-host-cpufreq
            test-powerd"

# QEMU, and the test programs that the phases below run
build() {
    make -s all &&
    ninja --quiet -C build/qemu/build $(python3 scripts/test-targets.py \
        "$top/build/qemu/build" qtest-x86_64 $unit_tests)
}

if phase build run build; then
    # which accelerator and CPU model every guest below gets, and why
    phase kvm-probe run /usr/bin/python3 -m pytest -v -rs -s \
        -p no:cacheprovider tests/integration/test_kvm_probe.py
    count kvm-probe
    phase checkpatch run sh scripts/checkpatch.sh
    count checkpatch
    phase unit run meson test -C build/qemu/build --no-rebuild \
        --print-errorlogs $unit_tests
    count unit
    # alone, since it compares CPU time with wall time
    phase power-test run sh scripts/run-qtests.sh --verbose \
        qtest-x86_64/power-test
    count power-test
    phase qtest run sh scripts/run-qtests.sh
    count qtest
    # the integration suite (tests/integration): real QEMUs, Linux
    # guests, libvirt, qemu-powerd, the helper, churn, faults and QMP
    # fuzzing, against the meter; make check-stress runs the long cases
    phase pytest run /usr/bin/python3 -m pytest -v -rs -p no:cacheprovider \
        -m 'not stress' --ignore tests/integration/test_kvm_probe.py \
        tests/integration
    count pytest
    # the libFuzzer targets, 8 s each
    phase fuzz run sh tests/fuzz/run-fuzz.sh 8
    count fuzz
else
    failed=$((failed + 1))
fi
echo "=== total: $(($(date +%s) - t_start)) s"
echo "check: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]

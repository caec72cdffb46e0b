#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# 'make check-stress': the robustness suite, timing each part:
# tests/stress/test-churn.sh (200 cycles through plain QMP, 30 with the
# daemon under valgrind, 30 through libvirt), tests/stress/test-faults.sh
# (every scenario), and,
# where present and executable, tests/fuzz/run-fuzz.sh 60 and
# tests/stress/test-qmp-args.sh.  Ends
# with the cycles done, faults injected, fuzz executions, crashes, leaks
# (fd or memory growth beyond tolerance) and "check-stress: N passed,
# N failed".  Logs go to build/stress/check/.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
log="$top/build/stress/check"
mkdir -p "$log"
. "$top/scripts/phases.sh"

# every log
sum() {
    sed -nE "$1" "$log"/*.log | awk '{ s += $1 } END { print s + 0 }'
}

# optional NAME SCRIPT CMD...: a suite that may not be there yet
optional() {
    name=$1
    script=$2
    if [ -x "$script" ]; then
        shift 2
        phase "$name" run "$@"
        count "$name"
    else
        rm -f "$log/$name.log"
        echo "# skipped $name: $script is not there or not executable"
        absent="$absent $name"
    fi
}
absent=""

t_start=$(date +%s)
rm -f "$log"/*.log
phase churn run sh tests/stress/test-churn.sh --cycles 200
count churn
phase churn-valgrind run sh tests/stress/test-churn.sh --valgrind --cycles 30
count churn-valgrind
phase churn-libvirt run sh tests/stress/test-churn.sh --libvirt --cycles 30
count churn-libvirt
phase faults run sh tests/stress/test-faults.sh
count faults
# the long pytest cases: 300 VMs
phase pytest-stress run /usr/bin/python3 -m pytest -v -rs \
    -p no:cacheprovider -m stress tests/integration
count pytest-stress
optional fuzz tests/fuzz/run-fuzz.sh sh tests/fuzz/run-fuzz.sh 60

echo "=== summary"
echo "# times:${times%,}"
echo "# cycles done: $(sum 's/^# cycles done: ([0-9]+).*/\1/p')"
echo "# faults injected: $(sum 's/^# faults injected: ([0-9]+).*/\1/p')"
echo "# fuzz executions: $(sum 's/^# total executions: ([0-9]+).*/\1/p')"
[ -s "$log/qmp-args.log" ] &&
    echo "# QMP requests: $(sum 's/^# ([0-9]+) requests sent.*/\1/p')"
# the suites' own "# crashes: N", and each fuzz target that crashed
crashes=$(($(sum 's/^# crashes: ([0-9]+).*/\1/p') +
    $(sum 's/^not ok - fuzz .* ([0-9]+) crash.*/\1/p')))
echo "# crashes = $crashes"
echo "# leaks = $(sum 's/^# leaks: ([0-9]+).*/\1/p')"
[ -z "$absent" ] || echo "# skipped (not there yet):$absent"
echo "# total: $(($(date +%s) - t_start)) s"
echo "check-stress: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]

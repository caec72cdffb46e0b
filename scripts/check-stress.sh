#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# 'make check-stress': the robustness suite, timing each part:
# tests/stress/test-churn.sh (200 cycles through plain QMP, 30 with the
# daemon under valgrind, 30 through libvirt), tests/stress/test-faults.sh
# (every scenario), and,
# where present and executable, tests/fuzz/run-fuzz.sh 60,
# tests/stress/test-qmp-args.sh and tests/stress/test-privilege.sh.  Ends
# with the cycles done, faults injected, fuzz executions, crashes, leaks
# (fd or memory growth beyond tolerance) and "check-stress: N passed,
# N failed".  Logs go to build/stress/check/.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
log="$top/build/stress/check"
mkdir -p "$log"
passed=0
failed=0
status=0

phase() {
    name=$1
    shift
    t0=$(date +%s)
    echo "=== $name"
    "$@" 2>&1 | tee "$log/$name.log"
    rc=$(cat "$log/.rc")
    t1=$(date +%s)
    echo "=== $name: $([ "$rc" -eq 0 ] && echo ok || echo FAILED) ($((t1 - t0)) s)"
    [ "$rc" -eq 0 ] || status=1
    times="$times $name $((t1 - t0)) s,"
}
times=""

# Runs a command, keeping its exit code for phase() across the pipe.
run() {
    "$@"
    echo $? >"$log/.rc"
}

# count NAME: add the suite's "SUITE: N passed, N failed"; a suite that
# ended without one failed
count() {
    line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' \
        "$log/$1.log" | tail -n 1)
    if [ -z "$line" ]; then
        echo "not ok - $1 ended without its summary line"
        failed=$((failed + 1))
        return
    fi
    ok=$(echo "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/')
    ko=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    passed=$((passed + ok))
    failed=$((failed + ko))
}

# sum PATTERN: the sum of the numbers that sed -n PATTERN prints from
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
        skipped="$skipped $name"
    fi
}
skipped=""

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
optional fuzz tests/fuzz/run-fuzz.sh sh tests/fuzz/run-fuzz.sh 60
optional qmp-args tests/stress/test-qmp-args.sh \
    sh tests/stress/test-qmp-args.sh
optional privilege tests/stress/test-privilege.sh \
    sh tests/stress/test-privilege.sh

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
[ -z "$skipped" ] || echo "# skipped (not there yet):$skipped"
echo "# total: $(($(date +%s) - t_start)) s"
echo "check-stress: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the libFuzzer targets (tests/fuzz/build.sh) if needed and run each
# for SECONDS, starting from its seed corpus in tests/fuzz/corpus/TARGET
# (never written to: new inputs go to build/fuzz/corpus/TARGET).  Prints
# "ok - fuzz TARGET: N executions, 0 crashes" or "not ok - ..." with the
# input that failed and how to replay it, the total executions, and last
# "fuzz: N passed, N failed".  Exits non-zero if any target failed.
# Usage: tests/fuzz/run-fuzz.sh [SECONDS] [TARGET...]   (default 10 s each)
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
out="$top/build/fuzz"
seconds=${1:-10}
[ $# -gt 0 ] && shift
targets=${*:-powerd-sample host-sysfs host-cpufreq host-rapl power-helper}
case $seconds in
''|*[!0-9]*|0) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

if ! sh "$top/tests/fuzz/build.sh"; then
    echo "not ok - fuzz: the fuzz targets could not be built"
    echo "fuzz: 0 passed, 1 failed"
    exit 1
fi

child=""
cleanup() {
    if [ -n "$child" ]; then
        kill "$child" 2>/dev/null
        wait "$child"
    fi
    exit 130
}
trap cleanup INT TERM

passed=0
failed=0
total=0
for t in $targets; do
    bin="$out/fuzz-$t"
    seeds="$top/tests/fuzz/corpus/$t"
    work="$out/corpus/$t"
    arts="$out/artifacts/$t"
    log="$out/$t.log"
    if [ ! -x "$bin" ]; then
        echo "not ok - fuzz $t: no such target"
        failed=$((failed + 1))
        continue
    fi
    if [ ! -d "$seeds" ]; then
        # (a posted series has no corpora): start from nothing
        echo "# fuzz $t: no seed corpus in $seeds"
        seeds=""
    fi
    mkdir -p "$work" "$arts"
    # in the background, so that a Ctrl-C here stops it
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -print_final_stats=1 -artifact_prefix="$arts/" \
        "$work" ${seeds:+"$seeds"} > "$log" 2>&1 &
    child=$!
    wait "$child"
    rc=$?
    child=""
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    n=${n:-0}
    total=$((total + n))
    crash=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
    if [ "$rc" -eq 0 ] && [ -z "$crash" ]; then
        echo "ok - fuzz $t: $n executions, 0 crashes"
        passed=$((passed + 1))
    else
        echo "not ok - fuzz $t: $n executions, 1 crash (exit $rc)"
        grep -E 'ERROR|SUMMARY|assertion|^ *#[0-9]+ ' "$log" | head -n 20 |
            sed 's/^/#   /'
        [ -n "$crash" ] && echo "#   input: $crash; replay: $bin $crash"
        echo "#   full log: $log"
        failed=$((failed + 1))
    fi
done
echo "# total executions: $total"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

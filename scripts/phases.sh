# SPDX-License-Identifier: GPL-2.0-or-later
#
# The phase runner of scripts/check.sh and scripts/check-stress.sh, sourced
# with $log set to the folder of the phases' logs:
#
#   phase NAME run CMD...   run CMD, its output shown and kept in
#                           $log/NAME.log, timed; a failing CMD fails the run
#   count NAME              add NAME's counts to passed/failed/skipped: from
#                           pytest's summary, meson's, or our suites' line
#                           "SUITE: N passed, N failed[, N skipped]"; a log
#                           with none of them counts as one failure
#
# Afterwards $passed, $failed, $skipped, $status (0 unless a phase failed)
# and $times ("NAME N s, ...") say how it went.

passed=0
failed=0
skipped=0
status=0
times=""

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
    return "$rc"
}

# Runs a command, keeping its exit code for phase() across the pipe.
run() {
    "$@"
    echo $? > "$log/.rc"
}

count() {
    f="$log/$1.log"
    ok=""
    ko=""
    sk=""
    pytest='^=+ .*[0-9]+ (passed|failed|errors?|deselected).* in [0-9.]+s'
    if grep -qE "$pytest" "$f"; then
        # "=== 3 passed, 1 failed, 2 skipped, 4 deselected in 9.1s ==="
        line=$(grep -E "$pytest" "$f" | tail -n 1)
        ok=$(echo "$line" | sed -nE 's/.* ([0-9]+) passed.*/\1/p')
        ko=$(echo "$line" | sed -nE 's/.* ([0-9]+) failed.*/\1/p')
        er=$(echo "$line" | sed -nE 's/.* ([0-9]+) errors?.*/\1/p')
        ko=$((${ko:-0} + ${er:-0}))
        sk=$(echo "$line" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p')
    elif grep -q '^Ok: ' "$f"; then
        ok=$(awk '/^Ok:/ {print $2}' "$f")
        ko=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {s += $NF} END {print s + 0}' "$f")
        sk=$(awk '/^Skipped:/ {print $2}' "$f")
    else
        line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$f" | tail -n 1)
        if [ -z "$line" ]; then
            echo "not ok - $1 ended without its summary line"
            failed=$((failed + 1))
            return
        fi
        ok=$(echo "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/')
        ko=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
        sk=$(echo "$line" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p')
    fi
    passed=$((passed + ${ok:-0}))
    failed=$((failed + ${ko:-0}))
    skipped=$((skipped + ${sk:-0}))
}

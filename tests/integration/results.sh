# SPDX-License-Identifier: GPL-2.0-or-later
#
# Result lines for the integration tests, sourced by test-*.sh: one
# "ok - ..." or "not ok - ..." line per check, and at the end one
# "NAME: N passed, N failed" line that make check adds up.

passed=0
failed=0

ok() {
    echo "ok - $*"
    passed=$((passed + 1))
}

not_ok() {
    echo "not ok - $*"
    failed=$((failed + 1))
}

note() {
    echo "# $*"
}

# result DESCRIPTION CMD...: ok if CMD succeeds
result() {
    d=$1
    shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}

# check DESCRIPTION CMD...: one result line from CMD's exit status; CMD's
# output (a reason or a measurement) is appended to the description.
check() {
    desc=$1
    shift
    if out=$("$@" 2>&1); then
        ok "$desc${out:+: $out}"
    else
        not_ok "$desc${out:+: $out}"
    fi
}

# collect FILE: count the result lines that a checker script wrote
collect() {
    while IFS= read -r line; do
        case $line in
        "ok - "*) ok "${line#ok - }" ;;
        "not ok - "*) not_ok "${line#not ok - }" ;;
        *) echo "$line" ;;
        esac
    done <"$1"
}

# summary NAME: the closing line; fails if any check failed
summary() {
    echo "$1: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

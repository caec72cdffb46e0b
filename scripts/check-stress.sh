#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# 'make check-stress': the long robustness cases, timing each part: the
# pytest cases marked 'stress' in tests/integration (200 churn cycles,
# 30 under valgrind, 30 through libvirt, every fault scenario, 300 VMs,
# 20000 random QMP requests) and tests/fuzz/run-fuzz.sh 60.  Ends with
# "check-stress: N passed, N failed, N skipped".  Logs go to
# build/stress/check/.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
log="$top/build/stress/check"
mkdir -p "$log"
rm -f "$log"/*.log
. "$top/scripts/phases.sh"

t_start=$(date +%s)
phase pytest-stress run /usr/bin/python3 -m pytest -v -rs \
    -p no:cacheprovider -m stress tests/integration
count pytest-stress
phase fuzz run sh tests/fuzz/run-fuzz.sh 60
count fuzz

echo "=== summary"
echo "# times:${times%,}"
echo "# fuzz executions: $(sed -nE 's/^# total executions: ([0-9]+).*/\1/p' \
    "$log/fuzz.log" | awk '{ s += $1 } END { print s + 0 }')"
echo "# total: $(($(date +%s) - t_start)) s"
echo "check-stress: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]

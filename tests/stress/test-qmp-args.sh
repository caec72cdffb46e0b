#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# QMP argument fuzzing of the host power commands (set-host-cpufreq,
# set-host-pstate, set-host-power-limit, query-host-power-policy,
# query-power) against a QEMU on a fake sysfs tree: see qmp-args.py.
# Each run prints its seed; --seed replays it.  Ends with
# "qmp-args: N passed, N failed".
# Usage: tests/stress/test-qmp-args.sh [--quick] [--requests N] [--seed S]
#   --quick   300 requests, for make check (default: 3000)
set -u

requests=3000
seed=""
while [ $# -gt 0 ]; do
    case $1 in
    --quick) requests=300 ;;
    --requests) requests=$2; shift ;;
    --seed) seed=$2; shift ;;
    *) echo "usage: $0 [--quick] [--requests N] [--seed S]" >&2; exit 2 ;;
    esac
    shift
done

. "$(dirname "$0")/run-helper.sh"
run_helper qmp-args qmp-args.py --requests "$requests" ${seed:+--seed "$seed"}

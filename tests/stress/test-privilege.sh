#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# QEMU as an unprivileged user on a root-owned fake sysfs tree with the
# permissions of a real host: see privilege-checks.py.  Needs root (to
# own the tree and to become nobody); skipped with the reason otherwise.
# Ends with "privilege: N passed, N failed".
# Usage: tests/stress/test-privilege.sh
set -u

if [ "$(id -u)" -ne 0 ]; then
    echo "# SKIP privilege: needs root, to own the fake tree and run QEMU" \
        "as nobody"
    echo "privilege: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
if ! command -v setpriv >/dev/null 2>&1 || ! id nobody >/dev/null 2>&1; then
    echo "not ok - privilege: needs setpriv (util-linux) and a user nobody"
    echo "privilege: 0 passed, 1 failed"
    exit 1
fi

. "$(dirname "$0")/run-helper.sh"
run_helper privilege privilege-checks.py

# SPDX-License-Identifier: GPL-2.0-or-later
#
# Sourced by test-qmp-args.sh and test-privilege.sh: run_helper runs one
# of their Python helpers in a private directory under build/stress/ and
# removes the directory afterwards, also on Ctrl-C or SIGTERM.  Only the
# helper, our child, is signalled, and a QEMU that it left running is
# killed only if its command line names our directory.

top=$(cd "$(dirname "$0")/../.." && pwd)
qemu=${QEMU:-$top/build/qemu-system-x86_64}
case $qemu in /*) ;; *) qemu=$(pwd)/$qemu ;; esac

helper_dir=""
helper_pid=""
helper_cleanup() {
    trap - EXIT INT TERM HUP
    if [ -n "$helper_pid" ]; then
        kill -TERM "$helper_pid" 2>/dev/null
        wait "$helper_pid" 2>/dev/null
    fi
    [ -n "$helper_dir" ] || return 0
    for f in "$helper_dir"/*/run/qemu.pid "$helper_dir"/run/qemu.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f")
        if { tr '\0' '\n' <"/proc/$p/cmdline"; } 2>/dev/null |
                grep -qF "$helper_dir/"; then
            kill -KILL "$p" 2>/dev/null
        fi
    done
    rm -rf "$helper_dir"
}

# run_helper NAME SCRIPT ARGS...: run SCRIPT --qemu QEMU --dir DIR ARGS...,
# whose last line is "NAME: N passed, N failed"; exit with its status
run_helper() {
    name=$1
    script=$2
    shift 2
    if [ ! -x "$qemu" ]; then
        echo "not ok - $name: no QEMU at $qemu (run make first)"
        echo "$name: 0 passed, 1 failed"
        exit 1
    fi
    mkdir -p "$top/build/stress"
    helper_dir=$(mktemp -d "$top/build/stress/$name.XXXXXX") || exit 1
    # mktemp's 0700 would keep out a QEMU run as another user
    chmod 755 "$helper_dir"
    trap helper_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    # in the background, so that a signal reaches our trap at once
    python3 "$top/tests/stress/$script" --qemu "$qemu" \
        --dir "$helper_dir/t" "$@" &
    helper_pid=$!
    wait "$helper_pid"
    rc=$?
    helper_pid=""
    case $rc in
    0|1) ;;
    *)
        echo "not ok - $name: $script failed (exit $rc)"
        echo "$name: 0 passed, 1 failed"
        rc=1
        ;;
    esac
    exit "$rc"
}

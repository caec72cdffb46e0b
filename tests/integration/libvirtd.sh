#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# libvirtd.sh start|stop DIR: run a private libvirtd for the integration
# tests, without systemd.  start writes a minimal qemu.conf (QEMU's output
# goes to a log file, so no virtlogd; QEMU runs as libvirt's default user,
# Debian's libvirt-qemu, or as LIBVIRTD_QEMU_USER), starts libvirtd in the
# background under a child subreaper (subreaper.py) with its log and PID
# file in DIR, and waits until qemu:///system answers.  The config is
# bind-mounted over /etc/libvirt/qemu.conf in libvirtd's own mount
# namespace; where that is not allowed, the system file is replaced and
# restored by stop.  stop terminates that libvirtd and waits for it.
# A libvirtd left behind by an earlier start with the same DIR is stopped
# first; any other running libvirtd is an error.
set -eu

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
uri=qemu:///system
conf=/etc/libvirt/qemu.conf
start_timeout=${LIBVIRTD_START_TIMEOUT:-60}
stop_timeout=${LIBVIRTD_STOP_TIMEOUT:-30}
# Set in libvirtd's environment, so that a later run can tell its own
# daemon from somebody else's even when DIR's PID file is gone.
marker="QEMU_POWER_LIBVIRTD_DIR=$dir"

die() {
    echo "libvirtd.sh: $*" >&2
    exit 1
}

# is_libvirtd PID: PID is a live libvirtd
is_libvirtd() {
    [ -n "$1" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = libvirtd ]
}

# is_ours PID: PID is a libvirtd started by this script with this DIR
is_ours() {
    is_libvirtd "$1" &&
        tr '\0' '\n' 2>/dev/null <"/proc/$1/environ" | grep -qxF "$marker"
}

# wait_gone PID SECONDS
wait_gone() {
    n=0
    while kill -0 "$1" 2>/dev/null; do
        [ "$n" -ge $(($2 * 20)) ] && return 1
        sleep 0.05
        n=$((n + 1))
    done
}

restore_conf() {
    if [ -f "$dir/qemu.conf.saved" ]; then
        mv -f "$dir/qemu.conf.saved" "$conf"
    elif [ -f "$dir/qemu.conf.none" ]; then
        rm -f "$conf" "$dir/qemu.conf.none"
    fi
}

# is_reaper PID: PID is the subreaper.py that start ran for this DIR
is_reaper() {
    [ -n "$1" ] &&
        tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" |
        grep -qF "subreaper.py $dir/libvirtd.pid "
}

stop() {
    # Interrupted just after start spawned it, the subreaper may not have
    # written libvirtd's PID yet: SIGTERM to it reaches libvirtd in any case.
    reaper=$(cat "$dir/reaper.pid" 2>/dev/null || true)
    if is_reaper "$reaper"; then
        kill -TERM "$reaper" 2>/dev/null || true
        n=0
        while [ ! -s "$dir/libvirtd.pid" ] && [ "$n" -lt 100 ] && is_reaper "$reaper"; do
            sleep 0.05
            n=$((n + 1))
        done
    fi
    pid=$(cat "$dir/libvirtd.pid" 2>/dev/null || true)
    if ! is_ours "$pid"; then
        pid=$(cat /run/libvirtd.pid 2>/dev/null || true)
        is_ours "$pid" || pid=""
    fi
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" "$stop_timeout"; then
            echo "libvirtd.sh: libvirtd $pid ignored SIGTERM for" \
                 "${stop_timeout} s, killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 5 || die "libvirtd $pid does not exit"
        fi
    fi
    rm -f "$dir/libvirtd.pid" "$dir/reaper.pid"
    restore_conf
}

start() {
    stop
    if virsh -c "$uri" list >/dev/null 2>&1; then
        pid=$(cat /run/libvirtd.pid 2>/dev/null || echo "?")
        die "another libvirtd (PID $pid) already serves $uri; stop it first"
    fi
    command -v libvirtd >/dev/null ||
        die "libvirtd not found; run scripts/install-deps.sh"

    # QEMU as libvirt's own user, as Debian ships it (libvirt-qemu);
    # LIBVIRTD_QEMU_USER=root for a test that needs root and says why
    {
        echo "# Written by tests/integration/libvirtd.sh"
        if [ -n "${LIBVIRTD_QEMU_USER:-}" ]; then
            echo "user = \"$LIBVIRTD_QEMU_USER\""
            echo "group = \"${LIBVIRTD_QEMU_GROUP:-$LIBVIRTD_QEMU_USER}\""
        fi
        echo 'stdio_handler = "file"'
    } >"$dir/qemu.conf"
    : >"$dir/libvirtd.log"
    if [ "${LIBVIRTD_NO_NAMESPACE:-}" != 1 ] && [ -f "$conf" ] &&
       unshare -m --propagation private true 2>/dev/null; then
        # shellcheck disable=SC2016 # expanded by the inner sh
        set -- unshare -m --propagation private sh -c \
            'mount --bind "$1" "$2" && shift 2 && exec "$@"' \
            sh "$dir/qemu.conf" "$conf" libvirtd
    else
        if [ -f "$conf" ]; then
            cp -p "$conf" "$dir/qemu.conf.saved"
        else
            mkdir -p "$(dirname "$conf")"
            : >"$dir/qemu.conf.none"
        fi
        cp "$dir/qemu.conf" "$conf"
        set -- libvirtd
    fi
    # setsid: a Ctrl-C in the caller's terminal must not reach libvirtd
    # before the caller has destroyed its domains.
    env "$marker" LIBVIRT_LOG_OUTPUTS="3:file:$dir/libvirtd.log" \
        setsid python3 "$here/subreaper.py" "$dir/libvirtd.pid" "$@" \
        </dev/null >"$dir/libvirtd.out" 2>&1 &
    reaper=$!
    echo "$reaper" >"$dir/reaper.pid"

    # 'list' needs no capability probing ('version' would probe every
    # qemu-system-* in PATH).
    n=0
    until virsh -c "$uri" list >/dev/null 2>&1; do
        if [ "$n" -ge $((start_timeout * 20)) ]; then
            tail -n 20 "$dir/libvirtd.out" "$dir/libvirtd.log" >&2 || true
            stop
            die "libvirtd did not answer on $uri within ${start_timeout} s (logs in $dir)"
        fi
        if ! kill -0 "$reaper" 2>/dev/null; then
            tail -n 20 "$dir/libvirtd.out" "$dir/libvirtd.log" >&2 || true
            stop
            die "libvirtd exited during start-up (logs in $dir)"
        fi
        sleep 0.05
        n=$((n + 1))
    done
}

case "$cmd" in
start) start ;;
stop) stop ;;
*) usage ;;
esac

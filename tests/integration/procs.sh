# SPDX-License-Identifier: GPL-2.0-or-later
#
# Process helpers of the integration and stress test scripts, sourced
# after setting $dir, the directory that holds the script's files.  Every
# background process is tracked, and only processes still running with
# "$dir/" on their command line are ever signalled, so that a script never
# touches a process it did not start (a PID may have been reused).

pids=""
track() {
    pids="$pids $1"
}
untrack() {
    pids=$(echo " $pids " | sed "s/ $1 / /; s/^ *//; s/ *$//")
}
# (builtins only where it can be: a fork costs up to 0.1 s on a loaded
# machine, and the churn asks this very often)
alive() {
    { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
    st=${st##*) }
    [ "${st%% *}" != Z ]
}
ours() {
    alive "$1" && grep -qF "$dir/" "/proc/$1/cmdline" 2>/dev/null
}
# sig SIGNAL PID: send SIGNAL to PID if it is ours; fails otherwise
sig() {
    ours "$2" && kill "-$1" "$2" 2>/dev/null
}
# stop_pid PID...: SIGTERM (and SIGCONT, for a stopped one) to those of
# PID... that are ours, SIGKILL to those still running 5 s later
stop_pid() {
    left=""
    for p in "$@"; do
        if ours "$p"; then
            kill -TERM "$p" 2>/dev/null
            kill -CONT "$p" 2>/dev/null
            left="$left $p"
        fi
    done
    n=0
    while [ -n "$left" ] && [ $n -lt 50 ]; do
        sleep 0.1
        n=$((n + 1))
        still=""
        for p in $left; do
            if alive "$p"; then still="$still $p"; fi
        done
        left=$still
    done
    for p in $left; do
        if ours "$p"; then kill -KILL "$p" 2>/dev/null; fi
    done
    return 0
}
# stop_all: stop every tracked process, and reap our own children
stop_all() {
    # shellcheck disable=SC2086
    stop_pid $pids
    for p in $pids; do
        wait "$p" 2>/dev/null
    done
    pids=""
}

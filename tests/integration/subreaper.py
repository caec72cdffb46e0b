#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# subreaper.py PIDFILE CMD [ARG...]: run CMD as the child of a child
# subreaper that reaps every orphan at once, and write CMD's PID to PIDFILE.
# libvirtd daemonizes QEMU, so a QEMU that exits becomes a zombie of PID 1;
# where PID 1 reaps late (as on some VMs and containers), libvirt waits for
# it and 'virsh destroy' and capability probing take seconds longer.
# SIGTERM, SIGINT and SIGHUP are passed on to CMD; exits when no child is left.
import ctypes
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36


def main():
    if len(sys.argv) < 3:
        sys.stderr.write("usage: subreaper.py PIDFILE CMD [ARG...]\n")
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.stderr.write("subreaper: prctl: %s\n" % os.strerror(ctypes.get_errno()))
    # Signals that arrive before the handlers are in place stay pending
    # and are passed on, not lost.
    sigs = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    pid = os.fork()
    if pid == 0:
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, sigs)
            os.execvp(sys.argv[2], sys.argv[2:])
        finally:
            os._exit(127)
    with open(sys.argv[1], "w") as f:
        f.write("%d\n" % pid)

    running = [True]

    def forward(sig, frame):
        if running[0]:          # never signal a reaped, maybe reused PID
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    for sig in sigs:
        signal.signal(sig, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, sigs)
    status = 0
    while True:
        try:
            p, st = os.wait()
        except ChildProcessError:
            break
        if p == pid:
            running[0] = False
            status = os.waitstatus_to_exitcode(st)
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main())

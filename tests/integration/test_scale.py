# SPDX-License-Identifier: GPL-2.0-or-later
#
# 300 tiny VMs (16 MiB each, KVM where the probe says it works) on plain
# QMP sockets: every interval lists all of them measured, and qemu-powerd's
# threads, file descriptors and memory stay bounded (they are printed).
# Part of make check-stress: starting 300 QEMUs takes minutes here.
#
# The QEMUs are started directly rather than through qemu.machine, whose
# own QMP connection and console socket per VM would double the sockets
# and the Python threads of the test itself, not of what is tested.
import json
import os
import subprocess
import time

import pytest

from machines import (POWERD, QEMU, kvm_probe, make_bios, fd_count,
                      status_field, wait_until)
from meter import Meter

N = 300
INTERVALS = 20


@pytest.mark.stress
@pytest.mark.parametrize('mode', ['auto', 'poll'])
def test_300_vms(tmpdir_short, mode):
    probe = kvm_probe()
    bios = make_bios('halt', os.path.join(tmpdir_short, 'halt.bin'))
    root = os.path.join(tmpdir_short, 'sys')
    procs = []
    meter = Meter(root).start()
    daemon = None
    try:
        for i in range(N):
            qmp = os.path.join(tmpdir_short, 'vm%03d.qmp' % i)
            procs.append(subprocess.Popen(
                [QEMU, '-machine', 'pc', '-accel', probe['POWER_ACCEL'],
                 '-cpu', probe['POWER_CPU'], '-m', '16', '-nodefaults',
                 '-display', 'none', '-bios', bios, '-name', 'vm%03d' % i,
                 '-qmp', 'unix:%s,server=on,wait=off' % qmp],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL))
        wait_until(lambda: all(os.path.exists(os.path.join(
            tmpdir_short, 'vm%03d.qmp' % i)) for i in range(N)), 300,
            'every QEMU listens')
        rss_qemu = sum(status_field(p.pid, 'VmRSS') for p in procs) / N
        daemon = subprocess.Popen(
            [POWERD, '--qmp', os.path.join(tmpdir_short, '*.qmp'),
             '--sysfs-root', root, '--energy-source', 'powercap',
             '--idle-watts', '10', '--interval', '1', '--format', 'json',
             '--mode', mode, '--count', str(INTERVALS + 10)],
            stdout=subprocess.PIPE, text=True)
        lines = []
        threads, fds, rss = [], [], []
        t0 = time.monotonic()
        for line in daemon.stdout:
            lines.append(line)
            if len(lines) > INTERVALS + 8:
                continue        # it is about to exit
            threads.append(status_field(daemon.pid, 'Threads'))
            fds.append(fd_count(daemon.pid))
            rss.append(status_field(daemon.pid, 'VmRSS'))
        took = time.monotonic() - t0
        assert daemon.wait(timeout=30) == 0
        parsed = [json.loads(x) for x in lines]
        complete = [sum(v['status'] == 'ok' for v in p['vms'])
                    for p in parsed]
        print('%s, %d VMs (%s, QEMU RSS %.0f MiB each): %d lines in %.0f s;'
              ' VMs measured per line %s; qemu-powerd threads %d..%d, fds '
              '%d..%d, RSS %.1f..%.1f MiB; rounds took up to %.3f s'
              % (mode, N, probe['POWER_ACCEL'], rss_qemu / 1024, len(lines),
                 took, complete, min(threads), max(threads), min(fds),
                 max(fds), min(rss) / 1024, max(rss) / 1024,
                 max(p['poll_s'] for p in parsed)))
        # the first lines may still have VMs without a previous sample
        steady = parsed[-INTERVALS:]
        for p in steady:
            assert len(p['vms']) == N
            assert all(v['status'] == 'ok' for v in p['vms']), \
                [v for v in p['vms'] if v['status'] != 'ok'][:3]
        assert max(threads) <= 96 + 8, threads
        # one socket per VM (QMP, or a channel without QMP), and a few of
        # its own
        assert max(fds) <= N + 32, fds
        # no growth over the steady intervals (a leak would show)
        assert rss[-1] <= rss[-INTERVALS + 4] * 1.1 + 1024, rss
    finally:
        if daemon and daemon.poll() is None:
            daemon.kill()
        meter.stop()
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()

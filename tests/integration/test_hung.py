# SPDX-License-Identifier: GPL-2.0-or-later
#
# Hung QEMUs cost their own line only.  Nine VMs, seven of them stopped
# with SIGSTOP (more than the five requests libvirtd serves one client at
# once), under libvirt and over plain QMP, in push and in poll mode:
# qemu-powerd keeps printing a line every interval with the two healthy
# VMs measured, /metrics keeps answering at once and shows the stopped
# VMs as down with no watts, SIGCONT brings them back, and SIGTERM ends
# the daemon within two seconds while calls to hung QEMUs are still
# outstanding.
import json
import os
import signal
import statistics
import subprocess
import threading
import time
import urllib.request

import pytest

from machines import (BUILD, POWERD, TinyVM, free_port, kvm_probe, make_bios,
                      tiny_domain_xml, wait_until)
from meter import Meter

VMS = 9
HUNG = 7
INTERVAL = 1.0
# a line is due every interval; a round may end a timeout late
MAX_GAP = 2 * INTERVAL
WATCH_S = 12


class Daemon:
    """qemu-powerd, its JSON lines recorded with their arrival times."""

    def __init__(self, args):
        self.lines = []
        self.port = free_port()
        self.proc = subprocess.Popen(
            [POWERD, '--format', 'json', '--interval', str(INTERVAL),
             '--listen', '127.0.0.1:%d' % self.port] + args,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                self.lines.append((time.monotonic(), json.loads(line)))

    def fetch(self):
        """(seconds the page took, the page)."""
        t = time.monotonic()
        with urllib.request.urlopen('http://127.0.0.1:%d/metrics'
                                    % self.port, timeout=5) as r:
            text = r.read().decode()
        return time.monotonic() - t, text

    def stop(self):
        """Seconds from SIGTERM to the exit."""
        t = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return time.monotonic() - t


def statuses(line):
    return {v['name']: v['status'] for v in line['vms']}


def exercise(daemon, names, pids):
    """Stop HUNG of the VMs, watch, continue them; the checks."""
    hung, healthy = names[:HUNG], names[HUNG:]

    def all_ok():
        return daemon.lines and \
            set(statuses(daemon.lines[-1][1]).values()) == {'ok'} and \
            len(daemon.lines[-1][1]['vms']) == VMS

    wait_until(all_ok, 40, 'every VM measured')
    for name in hung:
        os.kill(pids[name], signal.SIGSTOP)
    stopped = time.monotonic()
    latencies = []
    try:
        while time.monotonic() - stopped < WATCH_S:
            took, text = daemon.fetch()
            latencies.append(took)
            time.sleep(0.2)
        took, page = daemon.fetch()
        latencies.append(took)
        during = [(t, ln) for t, ln in daemon.lines if t > stopped]
    finally:
        for name in hung:
            os.kill(pids[name], signal.SIGCONT)

    arrivals = [stopped] + [t for t, _ in during] + [stopped + WATCH_S]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    print('lines while %d of %d VMs were stopped: %d in %.0f s, largest gap '
          '%.2f s; /metrics took median %.1f ms, max %.1f ms over %d scrapes'
          % (HUNG, VMS, len(during), WATCH_S, max(gaps),
             statistics.median(latencies) * 1000, max(latencies) * 1000,
             len(latencies)))
    assert len(during) >= WATCH_S / INTERVAL - 2, gaps
    assert max(gaps) <= MAX_GAP, gaps
    # from the third line on: the healthy measured, the hung failed
    for _, line in during[2:]:
        st = statuses(line)
        for name in healthy:
            assert st[name] == 'ok', line
        for name in hung:
            assert st[name] == 'failed', line
    assert statistics.median(latencies) < 0.1, latencies
    assert max(latencies) < 1.0, latencies
    for name in hung:
        assert 'qemu_power_vm_watts{vm="%s"' % name not in page, name
        assert 'qemu_power_vm_up{vm="%s"' % name in page
    up = [ln for ln in page.splitlines()
          if ln.startswith('qemu_power_vm_up{')]
    assert sum(ln.endswith(' 0') for ln in up) == HUNG, up

    resumed = time.monotonic()
    wait_until(all_ok, 20, 'every VM measured again after SIGCONT')
    print('all %d VMs measured again %.1f s after SIGCONT'
          % (VMS, time.monotonic() - resumed))


def outstanding(daemon):
    """
    Wait for four more lines: past the misses after which a pushing VM
    is asked again, so that calls to the stopped QEMUs are outstanding.
    """
    n = len(daemon.lines)
    wait_until(lambda: len(daemon.lines) >= n + 4, 10 * INTERVAL,
               'four more lines')


def run(names, pids, root, vm_args, mode):
    """
    qemu-powerd on the VMs @names (found with @vm_args) over the meter on
    @root: exercise(), then SIGTERM with calls to hung QEMUs outstanding.
    """
    meter = Meter(root).start()
    daemon = Daemon(vm_args + ['--sysfs-root', root, '--energy-source',
                               'powercap', '--idle-watts', '10', '--mode',
                               mode])
    try:
        exercise(daemon, names, pids)
        for name in names[:HUNG]:
            os.kill(pids[name], signal.SIGSTOP)
        outstanding(daemon)
        took = daemon.stop()
        daemon = None
        print('SIGTERM to exit: %.2f s' % took)
        assert took < 2.0
    finally:
        for name in names[:HUNG]:
            os.kill(pids[name], signal.SIGCONT)
        if daemon:
            daemon.stop()
        meter.stop()


def vm_names(prefix):
    return ['%shung%d' % (prefix, i) for i in range(HUNG)] + \
        ['%sok%d' % (prefix, i) for i in range(VMS - HUNG)]


@pytest.mark.parametrize('mode', ['auto', 'poll'])
def test_hung_qmp(tmpdir_short, mode):
    probe = kvm_probe()
    vms, pids = [], {}
    names = vm_names('')
    try:
        for name in names:
            qmp = os.path.join(tmpdir_short, name + '.qmp')
            vm = TinyVM(probe, tmpdir_short, name, 'halt',
                        args=('-qmp', 'unix:%s,server=on,wait=off' % qmp))
            vm.launch()
            vms.append(vm)
            pids[name] = vm.get_pid()
        run(names, pids, os.path.join(tmpdir_short, 'sys'),
            ['--qmp', os.path.join(tmpdir_short, '*.qmp')], mode)
    finally:
        for vm in vms:
            vm.shutdown(hard=True)


@pytest.mark.parametrize('mode', ['auto', 'poll'])
def test_hung_libvirt(libvirtd, mode):
    probe = kvm_probe()
    bios = make_bios('halt', os.path.join(BUILD, 'integration',
                                          'hung-halt.bin'))
    names = vm_names('qph-')
    for name in names:
        libvirtd.create(name, tiny_domain_xml(probe, name, bios))
    pids = {name: libvirtd.pid(name) for name in names}
    run(names, pids, os.path.join(libvirtd.dir, 'sys-' + mode),
        ['--libvirt', libvirtd.URI], mode)

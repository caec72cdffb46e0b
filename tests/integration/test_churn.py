# SPDX-License-Identifier: GPL-2.0-or-later
#
# qemu-powerd while VMs come and go (what tests/stress/test-churn.sh did).
# Two VMs stay up the whole time; next to them, tiny spin, half and halt
# guests are started and stopped, up to three at once, in an order and
# with lifetimes drawn from a seed (printed; CHURN_SEED=N repeats a run),
# and stopped in turn by SIGTERM, SIGKILL (the stale socket stays for a
# cycle), QMP quit, or SIGKILL right after the start; through libvirt,
# transient domains are created and destroyed, persistent ones defined,
# started, destroyed and undefined, and domains' QEMUs SIGKILLed.  The
# daemon never dies and exits 0 on SIGTERM; its fds and memory do not grow
# from a quiet moment after the warm-up to one at the end; no QEMU
# crashes; every line keeps the invariants (machines.check_lines) and
# forgets the VMs gone; and the two VMs that stay up, and the zone, are
# measured over the whole run as the meter has them.
import os
import random
import signal
import time

import pytest

from machines import (BUILD, POWERD, check_lines, fd_count, host_zone,
                      kvm_probe, make_bios, measured_joules, meter_past,
                      status_field, tiny_domain_xml, vm_in, wait_until)

IDLE_W = 10.0
KEEP = (('keep-half', 'half'), ('keep-halt', 'halt'))
GUESTS = ('halt', 'halt', 'halt', 'half', 'half', 'spin')
LIVE_MAX = 3                    # churned VMs running at once, at most
# Growth allowed from the warm-up to the end: no fd at all; for memory,
# what glibc's allocator may keep for the worker threads' arenas and
# GLib's slices, not a per-VM leak (about 1 KiB a cycle would be 200 KiB
# over the long run, and a leaked sample or socket buffer far more).
GROW_FDS, GROW_KIB = 0, 512
# A QEMU that does little but answer QMP (a halted guest) runs in bursts
# of microseconds, where task-clock (what QEMU counts) and the scheduler's
# run time (the meter's truth) drift apart by up to about 0.1 % of a CPU,
# either way (measured here under TCG: -24 % of 48 ms over 15 s idle,
# +10 % of 179 ms polled every 50 ms).  vm_bounds()' 15 ms of CPU covers
# that over seconds, not over the minutes of a churn: so much more per
# second.  Another VM's energy, or the idle power, is off by watts.
DRIFT_CPU = 0.001


class Timing:
    """
    The daemon's pace: @interval; a VM gone must be forgotten within
    @forget; no gap between lines over @max_gap; the fraction of lines a
    VM that stays up may miss (a QEMU starting next to it on two CPUs may
    starve it of a deadline, seldom).  Under valgrind the daemon is some
    20 times slower: longer intervals, and its first ones may come short.
    """

    def __init__(self, valgrind):
        self.valgrind = valgrind
        self.interval = 0.5 if valgrind else 0.2
        self.forget = 2.5 if valgrind else 1.0
        self.max_gap = 1.5 if valgrind else 1.0
        self.keep_misses = 0.05 if valgrind else 0.005


class QmpChurn:
    """VMs on QMP sockets of the test's folder, through qemu.machine."""

    METHODS = ('term', 'term', 'kill', 'quit', 'early')
    PAUSE = 0.4                 # the most a VM lives before the next start

    def __init__(self, tiny, tmpdir):
        self.tiny, self.tmpdir = tiny, tmpdir
        self.stale = []
        self.bad = []           # QEMUs that did not exit as their stop wants

    def args(self):
        return ['--qmp', os.path.join(self.tmpdir, '*.qmp')]

    def keep(self, name, guest):
        return self.tiny(name, guest).get_pid()

    def start(self, name, guest, method):
        # a manager would remove the socket of a QEMU SIGKILLed; ours stay
        # until the next start, so that the daemon meets dead sockets too
        self.tidy()
        return self.tiny(name, guest)

    def stop(self, name, vm, method):
        want = 0
        if method == 'term':
            os.kill(vm.get_pid(), signal.SIGTERM)
            vm.wait(10)
        elif method == 'quit':
            vm.shutdown()       # QMP quit, on qemu.machine's own monitor
        else:
            vm.kill()
            want = -signal.SIGKILL
            self.stale.append(os.path.join(self.tmpdir, name + '.qmp'))
        if vm.exitcode() != want:
            self.bad.append('%s (%s): exit %s' % (name, method,
                                                  vm.exitcode()))

    def tidy(self):
        for path in self.stale:
            if os.path.exists(path):
                os.unlink(path)
        self.stale = []


class LibvirtChurn:
    """Domains of the private libvirtd, their QEMUs as libvirt-qemu."""

    METHODS = ('destroy', 'destroy', 'persistent', 'kill')
    PAUSE = 0.6
    bad = ()                    # libvirt reaps its QEMUs, not the test

    def __init__(self, libvirtd):
        self.lv = libvirtd
        self.probe = kvm_probe()
        # readable by libvirt-qemu, unlike the test's folder
        self.bios = {g: make_bios(g, os.path.join(
            BUILD, 'integration', 'churn-%s.bin' % g)) for g in set(GUESTS)}

    def args(self):
        return ['--libvirt', self.lv.URI]

    def keep(self, name, guest):
        self.start(name, guest, 'destroy')
        return self.lv.pid(name)

    def start(self, name, guest, method):
        xml = tiny_domain_xml(self.probe, name, self.bios[guest])
        if method == 'persistent':
            self.lv.define(name, xml)
        else:
            self.lv.create(name, xml)
        return name

    def stop(self, name, handle, method):
        if method == 'kill':
            # the domain's QEMU dies under libvirt, which notices on its own
            os.kill(self.lv.pid(name), signal.SIGKILL)
            wait_until(lambda: name not in self.lv.running(), 10,
                       '%s gone after its QEMU was SIGKILLed' % name)
            return
        self.lv.virsh('destroy', name)
        if method == 'persistent':
            self.lv.virsh('undefine', name)

    def tidy(self):
        pass


def schedule(seed, cycles, methods, pause):
    """(cycle, guest, stop method, seconds to the next start) per cycle."""
    rnd = random.Random(seed)
    return [(i, rnd.choice(GUESTS), rnd.choice(methods),
             rnd.random() * pause) for i in range(1, cycles + 1)]


def daemon_numbers(pid):
    """fds, VmRSS KiB, RssAnon KiB and threads of process @pid."""
    return (fd_count(pid), status_field(pid, 'VmRSS'),
            status_field(pid, 'RssAnon'), status_field(pid, 'Threads'))


def valgrind_summary(log):
    """memcheck's lines about leaks and errors in @log."""
    with open(log) as f:
        return [ln.split('== ', 1)[-1].strip() for ln in f
                if 'lost:' in ln or 'ERROR SUMMARY' in ln]


CHURNS = [
    pytest.param('qmp', 20, id='qmp-20'),
    pytest.param('qmp', 200, id='qmp-200', marks=pytest.mark.stress),
    pytest.param('valgrind', 30, id='valgrind-30',
                 marks=pytest.mark.stress),
    pytest.param('libvirt', 30, id='libvirt-30', marks=pytest.mark.stress),
]


@pytest.mark.parametrize('how,cycles', CHURNS)
def test_churn(request, tiny, meters, daemons, tmpdir_short, how, cycles):
    """
    test-churn.sh --cycles N (qmp), --valgrind (the daemon under
    memcheck, which must find no byte definitely or indirectly lost and
    no error) and --libvirt.
    """
    seed = int(os.environ.get('CHURN_SEED', '1'))
    tm = Timing(how == 'valgrind')
    if how == 'libvirt':
        backend = LibvirtChurn(request.getfixturevalue('libvirtd'))
    else:
        backend = QmpChurn(tiny, tmpdir_short)
    print('churn %s: %d cycles, seed %d (CHURN_SEED=%d repeats it), '
          'interval %g s, load average %s' % (
              how, cycles, seed, seed, tm.interval,
              open('/proc/loadavg').read().split()[:3]))
    meter = meters(idle_watts=IDLE_W)
    for name, guest in KEEP:
        meter.track(name, backend.keep(name, guest))
    args = backend.args() + [
        '--sysfs-root', meter.root, '--energy-source', 'powercap',
        '--idle-watts', str(IDLE_W), '--format', 'json',
        '--interval', str(tm.interval)]
    vglog = os.path.join(tmpdir_short, 'valgrind.log')
    if tm.valgrind:
        d = daemons('--leak-check=full',
                    '--errors-for-leak-kinds=definite,indirect',
                    '--error-exitcode=99', '--log-file=' + vglog, POWERD,
                    *args, binary='valgrind')
    else:
        d = daemons(*args)
    wait_until(lambda: len(d.lines) >= 3, 60 if tm.valgrind else 20,
               'three lines of qemu-powerd')

    live, quiet, done = [], [], 0

    def stop_oldest():
        nonlocal done
        name, handle, method = live.pop(0)
        backend.stop(name, handle, method)
        done += 1

    def quiet_moment():
        """No churned VM: until three lines past @forget, then the
        daemon's numbers."""
        while live:
            stop_oldest()
        backend.tidy()
        t = time.time() + tm.forget
        wait_until(lambda: len([ln for ln in d.lines
                                if ln['time'] >= t]) >= 3,
                   tm.forget + 20, 'three lines %g s after the churned VMs '
                   'stopped' % tm.forget)
        quiet.append((t, d.lines[-1]['time']))
        return daemon_numbers(d.pid)

    warm = min(max(cycles // 10, 5), cycles)
    t_start = time.monotonic()
    for i, guest, method, dwell in schedule(seed, cycles, backend.METHODS,
                                            backend.PAUSE):
        assert d.proc.poll() is None, \
            'qemu-powerd died after %d cycles: %s' % (done, d.stderr())
        name = 'churn%d' % i
        handle = backend.start(name, guest, method)
        if method == 'early':
            # killed as it starts, perhaps while the daemon connects
            backend.stop(name, handle, 'kill')
            done += 1
            continue
        live.append((name, handle, method))
        time.sleep(dwell)       # its lifetime, as drawn: the churn itself
        while len(live) >= LIVE_MAX:
            stop_oldest()
        if i == warm:
            at_warm = quiet_moment()
    at_end = quiet_moment()
    took = time.monotonic() - t_start
    assert d.proc.poll() is None, 'qemu-powerd died: %s' % d.stderr()
    os.kill(d.pid, signal.SIGTERM)
    rc = d.wait(120 if tm.valgrind else 10)
    lines = d.lines
    meter_past(meter, lines[-1]['time'])
    print('%d cycles in %.0f s, %d lines; qemu-powerd at the warm-up and at '
          'the end (fds, VmRSS KiB, RssAnon KiB, threads): %s, %s'
          % (done, took, len(lines), at_warm, at_end))
    if tm.valgrind:
        print('valgrind: ' + '; '.join(valgrind_summary(vglog)))
    assert rc == 0, 'qemu-powerd on SIGTERM: %s; %s' % (
        rc, d.stderr()[-2000:])
    assert done == cycles
    assert not backend.bad, backend.bad
    # (a VM counting user mode only is the host's setting, and a libvirtd
    # slow to list its domains while it starts one is libvirt's, each said
    # once a minute: not faults of the daemon)
    warnings = [ln for ln in d.stderr().splitlines()
                if not any(x in ln for x in (
                    'counts user mode only',
                    'libvirt has not listed its domains')) and any(
                    w in ln.lower() for w in (
                        'critical', 'warning', 'assert', 'abort',
                        'segmentation', 'corrupt', 'double free'))]
    assert not warnings, warnings

    # the daemon: every line sane, on time, no fd or memory growth
    check_lines(lines, 2 * (meter.idle + meter.k * os.cpu_count()))
    times = [ln['time'] for ln in lines]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) <= tm.max_gap, max(gaps)
    if not tm.valgrind:
        short = [ln['interval_s'] for ln in lines
                 if ln['interval_s'] < tm.interval / 2]
        assert not short, short
    assert at_end[0] <= at_warm[0] + GROW_FDS, (at_warm, at_end)
    if not tm.valgrind:         # valgrind's memory, not the daemon's
        assert at_end[1] <= at_warm[1] + GROW_KIB, (at_warm, at_end)
        assert at_end[2] <= at_warm[2] + GROW_KIB, (at_warm, at_end)

    # the VMs: those that stay up in every line, churned ones measured,
    # those gone forgotten
    keep = {name for name, _ in KEEP}
    allowed = max(2, int((len(lines) - 1) * tm.keep_misses))
    for name in keep:
        assert all(vm_in(ln, name) for ln in lines), name
        missed = [vm_in(ln, name).get('error') for ln in lines[1:]
                  if vm_in(ln, name)['status'] != 'ok']
        assert len(missed) <= allowed, (name, missed)
    churned = {v['name'] for ln in lines for v in ln['vms']
               if v['name'] not in keep and v['status'] == 'ok'}
    print('%d churned VMs measured; misses of the VMs kept up: %s'
          % (len(churned), {n: sum(vm_in(ln, n)['status'] != 'ok'
                                   for ln in lines[1:]) for n in keep}))
    assert len(churned) >= cycles // 4, sorted(churned)
    for t0, t1 in quiet:
        seen = [ln for ln in lines if t0 <= ln['time'] <= t1]
        assert seen, (t0, t1)
        for ln in seen:
            assert {v['name'] for v in ln['vms']} == keep, \
                (ln['time'] - t0, [v['name'] for v in ln['vms']])

    # against the meter, over the whole run
    for name in keep:
        got, true, t1, t2 = measured_joules(meter, lines, name)
        lo, hi = meter.vm_bounds(true, t1, t2)
        drift = meter.k * DRIFT_CPU * (t2 - t1)
        print('%s: %.3f J reported, %.3f J true over %.0f s (%.3f..%.3f J)'
              % (name, got, true, t2 - t1, lo - drift, hi + drift))
        assert lo - drift <= got <= hi + drift, (name, got, lo, hi, drift)
    first, end = lines[1], lines[-1]
    got = host_zone(end)['energy_joules'] - host_zone(first)['energy_joules']
    true = meter.host_joules(first['time'], end['time'])
    print('package-0: %.2f J reported, %.2f J true' % (got, true))
    assert abs(got - true) <= meter.zone_tolerance(
        true, true / (end['time'] - first['time']))

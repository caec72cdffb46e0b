# SPDX-License-Identifier: GPL-2.0-or-later
#
# Faults under a running qemu-powerd (what tests/stress/test-faults.sh
# did, beyond test_live_faults.py, test_bad_replies.py and
# test_operations.py, which have the rest): QEMUs stopped with SIGSTOP,
# two at once and one over and over, a stopped QEMU SIGKILLed, a QEMU
# restarted on its socket at once; libvirtd stopped and SIGKILLed under
# --libvirt; the RAPL counter unreadable for a while.  The VMs nothing
# happened to, and the zone, are measured over the whole run as the meter
# has them; the VMs that were stopped, restarted or lost libvirt for a
# while fail while they cannot be measured, with no watts, and are
# measured again, as the meter has them, once they can; every line keeps
# the invariants of machines.check_lines.
import os
import signal
import time

import pytest

from machines import (BUILD, check_lines, host_zone, kvm_probe, make_bios,
                      measured_joules, meter_past, tiny_domain_xml, vm_in,
                      wait_until)
from meter import write_atomic

IDLE_W = 10.0


def status(line, name):
    return (vm_in(line, name) or {}).get('status')


def between(lines, t0, t1):
    return [ln for ln in lines if t0 < ln['time'] < t1]


def ok_again(lines, name, t0, within, until=float('inf')):
    """VM @name measured within @within s after @t0, and in every line
    after that one up to @until: how long it took."""
    later = between(lines, t0, until)
    oks = [i for i, ln in enumerate(later) if status(ln, name) == 'ok']
    assert oks, (name, [status(ln, name) for ln in later])
    took = later[oks[0]]['time'] - t0
    assert took <= within, (name, took)
    assert all(status(ln, name) == 'ok' for ln in later[oks[0]:]), \
        (name, [status(ln, name) for ln in later])
    return took


def failed_without_watts(lines, name, gone_ok=False):
    """In every one of @lines (at least one), VM @name failed with no
    watts (or, with @gone_ok, not listed)."""
    assert lines, name
    for ln in lines:
        v = vm_in(ln, name)
        if v is None and gone_ok:
            continue
        assert v is not None and v['status'] == 'failed', (name, v)
        assert all(z['watts'] == 0 for z in v.get('zones') or []), v


def against_meter(meter, lines, name, since=0.0):
    got, true, t1, t2 = measured_joules(meter, lines, name, since)
    lo, hi = meter.vm_bounds(true, t1, t2)
    print('%s: %.3f J reported, %.3f J true over %.1f s'
          % (name, got, true, t2 - t1))
    assert lo <= got <= hi, (name, got, lo, hi)


def zone_against_meter(meter, first, end):
    t1, t2 = first['time'], end['time']
    got = host_zone(end)['energy_joules'] - host_zone(first)['energy_joules']
    true = meter.host_joules(t1, t2)
    print('package-0: %.2f J reported, %.2f J true over %.1f s'
          % (got, true, t2 - t1))
    assert abs(got - true) <= meter.zone_tolerance(true, true / (t2 - t1))


def limit(meter):
    """A zone's watts no line may exceed: twice the model's most."""
    return 2 * (meter.idle + meter.k * os.cpu_count())


def test_hang(tiny, meters, tmpdir_short, daemons):
    """
    test-faults.sh hang (and reset's QEMU restarted on its socket): two
    QEMUs SIGSTOPped overlapping, one of them then stopped and continued
    six times for less and more than the timeout, a stopped QEMU
    SIGKILLed, a QEMU stopped with SIGTERM and started again on its socket
    at once (its counters start again from 0), twice.  The others are
    measured in every line as the meter has them, the daemon keeps its
    pace and its timeout; a stopped VM fails with no watts and is measured
    again within a few intervals of SIGCONT, then as the meter has it; the
    killed one fails with no watts; the restarted one is measured again
    and its energy goes on, never back, as the meter has it.
    """
    iv, to = 0.5, 0.3
    meter = meters(idle_watts=IDLE_W)
    vms = {}
    for name, guest in (('keep-a', 'half'), ('keep-b', 'halt'),
                        ('stop-a', 'half'), ('stop-b', 'halt'),
                        ('kill-b', 'half'), ('rs', 'half')):
        vms[name] = tiny(name, guest)
        meter.track(name, vms[name].get_pid())
    pid = {name: vm.get_pid() for name, vm in vms.items()}
    d = daemons('--qmp', os.path.join(tmpdir_short, '*.qmp'),
                '--sysfs-root', meter.root, '--energy-source', 'powercap',
                '--idle-watts', str(IDLE_W), '--format', 'json',
                '--interval', str(iv), '--timeout', str(to))
    wait_until(lambda: d.lines and all(
        status(d.lines[-1], n) == 'ok' for n in vms), 20,
        'every VM measured')
    ev = {}

    def sig(name, s, what=None):
        os.kill(pid[name], s)
        if what:
            ev[what, name] = time.time()

    sig('stop-a', signal.SIGSTOP, 'stop')
    d.wait_lines(2, 'stop-a stopped')
    sig('stop-b', signal.SIGSTOP, 'stop')
    try:
        # long enough that lines fall into the windows checked, which
        # leave out interval + timeout after a stop and a timeout before
        # the SIGCONT
        d.wait_lines(4, 'both stopped')
    finally:
        sig('stop-b', signal.SIGCONT, 'cont')
        d.wait_lines(2, 'stop-a alone stopped')
        sig('stop-a', signal.SIGCONT, 'cont')
    wait_until(lambda: all(status(d.lines[-1], n) == 'ok'
                           for n in ('stop-a', 'stop-b')), 10,
               'both measured again')
    # stopped for less than the timeout and for longer, across rounds:
    # the stops and the pauses between them are the fault itself
    ev['flicker', 'stop-b'] = time.time()
    try:
        for dt in (0.1, 0.25, 0.4, 0.15, 0.6, 0.05):
            sig('stop-b', signal.SIGSTOP)
            time.sleep(dt)
            sig('stop-b', signal.SIGCONT)
            time.sleep(0.2)
    finally:
        sig('stop-b', signal.SIGCONT)
    ev['flickered', 'stop-b'] = time.time()
    # a stopped QEMU SIGKILLed
    sig('kill-b', signal.SIGSTOP, 'stop')
    d.wait_lines(2, 'kill-b stopped')
    vms['kill-b'].kill()
    ev['kill', 'kill-b'] = time.time()
    d.wait_lines(3, 'kill-b killed')
    # QEMU stopped and started again on its socket at once, spinning now
    for k in range(2):
        os.kill(pid['rs'], signal.SIGTERM)
        vms['rs'].wait(10)
        assert vms['rs'].exitcode() == 0, vms['rs'].get_log()
        vms['rs'] = tiny('rs', 'spin')
        pid['rs'] = vms['rs'].get_pid()
        meter.track('rs', pid['rs'])
        ev['restart%d' % k, 'rs'] = time.time()
        d.wait_lines(8, 'rs restarted')
    t_end = time.time()
    os.kill(d.pid, signal.SIGTERM)
    assert d.wait(10) == 0, d.stderr()
    lines = d.lines
    meter_past(meter, lines[-1]['time'])
    # no QEMU crashed: each still there ends on SIGTERM with status 0
    for name in ('keep-a', 'keep-b', 'stop-a', 'stop-b', 'rs'):
        os.kill(pid[name], signal.SIGTERM)
        vms[name].wait(10)
        assert vms[name].exitcode() == 0, (name, vms[name].get_log())
    for name in ('stop-a', 'stop-b', 'kill-b', 'rs'):
        print('%s: %s' % (name, ' '.join(str(status(ln, name))
                                         for ln in lines)))

    check_lines(lines, limit(meter))
    times = [ln['time'] for ln in lines]
    assert max(b - a for a, b in zip(times, times[1:])) <= 2 * iv + 0.1
    assert min(ln['interval_s'] for ln in lines) >= iv / 2
    assert max(ln['poll_s'] for ln in lines) <= to + 0.25
    # the VMs nothing happened to
    for name in ('keep-a', 'keep-b'):
        missed = [status(ln, name) for ln in lines[1:]
                  if status(ln, name) != 'ok']
        assert len(missed) <= 2, (name, missed)
        against_meter(meter, lines, name)
    zone_against_meter(meter, lines[1], lines[-1])
    # (a line's time is that of its host sample: the VMs' answers come up
    # to the timeout later)
    for name in ('stop-a', 'stop-b'):
        t0, t1 = ev['stop', name], ev['cont', name]
        failed_without_watts(between(lines, t0 + to + iv + 0.1, t1 - to),
                             name)
        print('%s measured %.2f s after SIGCONT' % (name, ok_again(
            lines, name, t1, 5 * iv + 0.2, ev['flicker', 'stop-b'])))
    print('stop-b measured %.2f s after the last SIGCONT' % ok_again(
        lines, 'stop-b', ev['flickered', 'stop-b'], 5 * iv + 0.2))
    against_meter(meter, lines, 'stop-a', since=ev['cont', 'stop-a'])
    against_meter(meter, lines, 'stop-b', since=ev['cont', 'stop-b'])
    failed_without_watts(between(lines, ev['kill', 'kill-b'] + to + iv +
                                 0.1, times[-1] + 1), 'kill-b', gone_ok=True)
    restarts = [ev['restart%d' % k, 'rs'] for k in range(2)]
    for k, (t0, t1) in enumerate(zip(restarts, restarts[1:] + [t_end])):
        print('rs measured %.2f s after restart %d'
              % (ok_again(lines, 'rs', t0, 6 * iv + 1, t1), k + 1))
    against_meter(meter, lines, 'rs', since=ev['restart1', 'rs'])


@pytest.mark.stress
def test_libvirtd_restarts(libvirtd, meters, daemons):
    """
    test-faults.sh libvirtd: under qemu-powerd --libvirt, libvirtd stopped
    and started, then SIGKILLed and started.  While it is down the
    domains fail with no watts; once it is back the daemon reconnects on
    its own and they are measured again within 5 s, as the meter has
    them; a domain created afterwards is found and measured; the domains'
    QEMUs live through it all; the daemon exits 0 on SIGTERM.
    """
    iv, within = 0.5, 5.0
    probe = kvm_probe()
    meter = meters(idle_watts=IDLE_W)
    bios = {g: make_bios(g, os.path.join(BUILD, 'integration',
                                         'faults-%s.bin' % g))
            for g in ('half', 'halt')}
    doms = ('lv-half', 'lv-halt')
    for name in doms:
        libvirtd.create(name, tiny_domain_xml(probe, name,
                                              bios[name[3:]]))
        meter.track(name, libvirtd.pid(name))
    pids = [libvirtd.pid(name) for name in doms]
    d = daemons('--libvirt', libvirtd.URI, '--sysfs-root', meter.root,
                '--energy-source', 'powercap', '--idle-watts', str(IDLE_W),
                '--format', 'json', '--interval', str(iv))
    wait_until(lambda: d.lines and all(
        status(d.lines[-1], n) == 'ok' for n in doms), 30,
        'both domains measured')
    ev = {}
    for kill in (False, True):
        how = 'SIGKILL' if kill else 'stop'
        ev['down', how] = time.time()
        libvirtd.stop_daemon(kill=kill)
        d.wait_lines(4, 'libvirtd down (%s)' % how)
        ev['starting', how] = time.time()
        libvirtd.start()
        ev['up', how] = time.time()
        wait_until(lambda: all(status(d.lines[-1], n) == 'ok'
                               for n in doms), 30,
                   'the domains measured again after libvirtd came back')
        d.wait_lines(4, 'libvirtd back')
    libvirtd.create('lv-new', tiny_domain_xml(probe, 'lv-new',
                                              bios['halt']))
    meter.track('lv-new', libvirtd.pid('lv-new'))
    ev['created'] = time.time()
    wait_until(lambda: status(d.lines[-1], 'lv-new') == 'ok', 30,
               'lv-new measured')
    d.wait_lines(6, 'lv-new measured')
    os.kill(d.pid, signal.SIGTERM)
    assert d.wait(10) == 0, d.stderr()
    lines = d.lines
    meter_past(meter, lines[-1]['time'])
    print('stderr: %s' % sorted(set(d.stderr().splitlines()))[:8])
    for name in doms + ('lv-new',):
        print('%s: %s' % (name, ' '.join(str(status(ln, name))
                                         for ln in lines)))
    assert [libvirtd.pid(name) for name in doms] == pids

    check_lines(lines, limit(meter))
    for how, until in (('stop', ev['down', 'SIGKILL']),
                       ('SIGKILL', float('inf'))):
        for name in doms:
            failed_without_watts(between(lines, ev['down', how] + iv,
                                         ev['starting', how] - iv),
                                 name, gone_ok=True)
            print('%s measured %.2f s after libvirtd came back (%s)' % (
                name, ok_again(lines, name, ev['up', how], within, until),
                how))
    print('lv-new measured %.2f s after its creation'
          % ok_again(lines, 'lv-new', ev['created'], within))
    for name in doms:
        against_meter(meter, lines, name)
    against_meter(meter, lines, 'lv-new', since=ev['created'])
    zone_against_meter(meter, lines[1], lines[-1])


@pytest.mark.stress
def test_rapl_unreadable(tiny, meters, tmpdir_short, daemons):
    """
    test-faults.sh raplerr: the package zone's energy_uj holds junk, then
    is gone, for a while each.  The daemon says why on stderr, prints no
    line for the intervals it cannot measure, and goes on once the counter
    reads again, with no spike: every line's zone energy is the meter's
    over its interval, and afterwards the VM's and the zone's energy are
    the meter's.
    """
    iv, span = 0.5, 1.2
    meter = meters(idle_watts=IDLE_W)
    meter.track('re-half', tiny('re-half', 'half').get_pid())
    d = daemons('--qmp', os.path.join(tmpdir_short, '*.qmp'),
                '--sysfs-root', meter.root, '--energy-source', 'powercap',
                '--idle-watts', str(IDLE_W), '--format', 'json',
                '--interval', str(iv))
    wait_until(lambda: len(d.lines) >= 4, 20, 'four lines')
    energy = os.path.join(meter.dir, 'energy_uj')
    t_broken = time.time()
    meter.paused = True         # the meter no longer writes the file
    try:
        write_atomic(energy, 'not a number\n')
        time.sleep(span)        # the fault's span
        os.unlink(energy)
        time.sleep(span)
    finally:
        meter.paused = False
    wait_until(lambda: os.path.exists(energy), 5, 'energy_uj back')
    t_fixed = time.time()
    d.wait_lines(8, 'the counter read again')
    os.kill(d.pid, signal.SIGTERM)
    assert d.wait(10) == 0, d.stderr()
    lines = d.lines
    meter_past(meter, lines[-1]['time'])
    err = d.stderr()
    print('stderr: ' + err.strip())
    assert 'energy_uj' in err, err

    check_lines(lines, limit(meter))
    assert not between(lines, t_broken + iv, t_fixed), \
        [ln['time'] - t_broken for ln in lines]
    after = [ln for ln in lines if ln['time'] > t_fixed]
    print('next line %.2f s after the counter came back'
          % (after[0]['time'] - t_fixed))
    assert after[0]['time'] - t_fixed <= 2 * iv + 0.1
    for ln in lines[1:]:
        t = ln['time']
        z = host_zone(ln)
        true = meter.host_joules(t - ln['interval_s'], t)
        assert abs(z['watts'] * ln['interval_s'] - true) <= \
            meter.zone_tolerance(true, z['watts']), (t - t_broken, z, true)
    against_meter(meter, lines, 're-half', since=t_fixed)
    zone_against_meter(meter, after[0], lines[-1])

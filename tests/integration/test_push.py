# SPDX-License-Identifier: GPL-2.0-or-later
#
# Push mode (set-power-sampling, POWER_SAMPLE events; docs/qmp.rst and
# docs/qemu-powerd.rst): the same tiny guests measured by one qemu-powerd
# in event mode and another in poll mode at once, both against the meter;
# a QEMU that cannot push polled beside one that does; the lease of a
# consumer killed with SIGKILL; two consumers of one QEMU.
import asyncio
import os
import signal
import time

from machines import meter_past, vm_in, vm_zone_joules, wait_until

from qemu.qmp.legacy import QEMUMonitorProtocol

IDLE_W = 10.0           # the meter's idle power (Meter's default)


def powerd_args(meter, glob, *more):
    return ['--qmp', glob, '--format', 'json', '--energy-source',
            'powercap', '--sysfs-root', meter.root] + list(more)


def samples_for(pull, seconds):
    """
    The POWER_SAMPLE events that @pull (a get_qmp_event or pull_event)
    gives within @seconds, waiting for each until the deadline.
    """
    deadline = time.monotonic() + seconds
    got = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return got
        try:
            e = pull(wait=left)
        except asyncio.TimeoutError:
            return got
        if e and e['event'] == 'POWER_SAMPLE':
            got.append(e['data'])


def test_event_and_poll_agree(tiny, meters, tmpdir_short, daemons):
    """
    (Scenario j.)  Three VMs (spin, half, halt), each with two QMP
    sockets: one qemu-powerd in event mode on the first, one in poll mode
    on the second, at once, --count 8 --interval 1.  After the first
    interval every VM answers by events in the one and is polled in the
    other; the event rounds stay one interval apart; over the run each
    VM's energy in each output is its true energy (the meter's), and so
    the two agree.
    """
    meter = meters()
    for d in ('a', 'b'):
        os.mkdir(os.path.join(tmpdir_short, d))
    names = {'j-spin': 'spin', 'j-half': 'half', 'j-halt': 'halt'}
    for name, guest in names.items():
        vm = tiny(name, guest, sockets=[
            os.path.join(tmpdir_short, d, name + '.qmp') for d in 'ab'])
        meter.track(name, vm.get_pid())
    common = ('--count', '8', '--interval', '1', '--idle-watts', str(IDLE_W))
    ev = daemons(*powerd_args(meter, os.path.join(tmpdir_short, 'a', '*.qmp'),
                              '--mode', 'event', *common))
    po = daemons(*powerd_args(meter, os.path.join(tmpdir_short, 'b', '*.qmp'),
                              '--mode', 'poll', *common))
    assert ev.wait(40) == 0, ev.stderr()
    assert po.wait(40) == 0, po.stderr()
    assert len(ev.lines) == 8 and len(po.lines) == 8
    meter_past(meter, max(ev.lines[-1]['time'], po.lines[-1]['time']))

    for ln in ev.lines[1:]:
        for v in ln['vms']:
            assert (v['mode'], v['status']) == ('event', 'ok'), v
    assert {v['mode'] for ln in po.lines for v in ln['vms']} == {'poll'}
    steps = [b['time'] - a['time'] for a, b in zip(ev.lines, ev.lines[1:])]
    assert all(abs(s - 1) < 0.3 for s in steps), steps

    means = {}
    for label, d in (('event', ev), ('poll', po)):
        first, end = d.lines[1], d.lines[-1]
        t1, t2 = first['time'], end['time']
        for name in names:
            got = vm_zone_joules(end, name) - vm_zone_joules(first, name)
            true = meter.vm_joules(name, t1, t2)
            print('%s mode, %s: %.3f J reported, %.3f J true, %.3f CPU s '
                  'stolen' % (label, name, got, true,
                              meter.steal_s(t1, t2)))
            lo, hi = meter.vm_bounds(true, t1, t2)
            assert lo <= got <= hi, (label, name, lo, hi)
            means.setdefault(name, []).append(got / (t2 - t1))
    for name, (e, p) in means.items():
        # both within the meter's bounds; stated apart for the reader
        print('%s: event mode %.2f W, poll mode %.2f W' % (name, e, p))
    # the meaning of the guests: spinning costs most, halting about nothing
    assert means['j-halt'][0] < means['j-half'][0] < means['j-spin'][0]


def test_fallback_to_polling(tiny, fake_qmp, meters, tmpdir_short,
                             daemons):
    """
    In event mode, a QEMU without set-power-sampling (fake-qmp.py) is
    polled, and the real one beside it pushes; both are measured.
    """
    meter = meters()
    vm = tiny('j-halt', 'halt')
    meter.track('j-halt', vm.get_pid())
    fake_qmp('j-fake', 'good')
    d = daemons(*powerd_args(meter, os.path.join(tmpdir_short, '*.qmp'),
                             '--count', '3', '--interval', '0.5'))
    assert d.wait(30) == 0, d.stderr()
    assert len(d.lines) == 3
    for ln in d.lines[1:]:
        assert (vm_in(ln, 'j-halt')['mode'], vm_in(ln, 'j-halt')['status']) \
            == ('channel', 'ok'), ln
        assert (vm_in(ln, 'j-fake')['mode'], vm_in(ln, 'j-fake')['status']) \
            == ('poll', 'ok'), ln


def test_lease_after_sigkill(tiny, meters, tmpdir_short, daemons):
    """
    A consumer (qemu-powerd, --lease 2 --interval 0.2) killed with
    SIGKILL cannot stop sampling: its lease does.  Seen from another
    monitor: samples go on after the kill until the lease runs out, none
    after; then query-power-sampling says lease-expired and no sample
    comes any more.
    """
    meter = meters()
    vm = tiny('j-lease', 'halt')
    d = daemons(*powerd_args(meter, os.path.join(tmpdir_short, '*.qmp'),
                             '--mode', 'event', '--lease', '2',
                             '--interval', '0.2'))

    def sampling():
        return vm.qmp('query-power-sampling')['return']
    st = wait_until(lambda: sampling().get('active') and sampling(), 10,
                    'the consumer starts sampling')
    assert st['lease-ms'] == 2000 and st['interval-ms'] == 200, st
    vm.get_qmp_events()                 # what came before the kill
    killed = time.monotonic_ns()
    d.kill(signal.SIGKILL)
    wait_until(lambda: not sampling()['active'], 2 + 2,
               'sampling stops when the lease runs out')
    after = [s for s in samples_for(vm.get_qmp_event, 0.1)
             if s['timestamp-ns'] > killed]
    late = [s for s in after if s['timestamp-ns'] >= killed + 2 * 10**9]
    assert after, 'no sample after SIGKILL: the kill stopped sampling'
    assert not late, late
    st = sampling()
    assert st['stop-reason'] == 'lease-expired', st
    assert samples_for(vm.get_qmp_event, 1.0) == []


def test_two_consumers(tiny, tmpdir_short):
    """
    Two consumers of one QEMU, on two monitors, asking for different
    intervals: the last request wins for both (documented); both receive
    the same events, every 200 ms, numbered without gaps; either can stop
    sampling.
    """
    vm = tiny('j-two', 'half')
    other = QEMUMonitorProtocol(os.path.join(tmpdir_short, 'j-two.qmp'))
    other.connect()
    try:
        vm.cmd('set-power-sampling', enable=True, interval_ms=1000,
               lease_ms=10000)
        other.cmd('set-power-sampling', **{'enable': True,
                                            'interval-ms': 200,
                                            'lease-ms': 5000})
        st = vm.qmp('query-power-sampling')['return']
        assert (st['interval-ms'], st['lease-ms']) == (200, 5000), st
        vm.get_qmp_events()
        other.clear_events()
        a = samples_for(vm.get_qmp_event, 1.2)
        b = samples_for(other.pull_event, 0.1)
        assert {s['interval-ms'] for s in a} == {200}, a
        assert len(a) >= 4 and len(b) >= 4, (len(a), len(b))
        seqs = [s['seq'] for s in a]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
        # the same events on both monitors
        assert {s['seq'] for s in a} & {s['seq'] for s in b}
        other.cmd('set-power-sampling', enable=False)
        st = vm.qmp('query-power-sampling')['return']
        assert not st['active'] and st['stop-reason'] == 'stopped', st
    finally:
        other.close()

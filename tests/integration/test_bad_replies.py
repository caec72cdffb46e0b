# SPDX-License-Identifier: GPL-2.0-or-later
#
# (Scenario d.)  QMP servers that answer query-power badly, next to a
# real VM: every bad one is failed in every line with an error and no
# watts, whatever it sent; the real VM is measured as if they were not
# there (against the meter); one that fails once is failed for that
# interval only; one whose counters go back (a restarted QEMU) is new
# again, then measured.  The cases are fake-qmp.py's own.
import os

from machines import FakeQMP, meter_past, vm_in, vm_zone_joules

IDLE_W = 10.0


def statuses(lines, name):
    return [(vm_in(ln, name) or {}).get('status') for ln in lines]


def test_bad_replies(tiny, meters, tmpdir_short, daemons):
    meter = meters(idle_watts=IDLE_W)
    meter.track('d-real', tiny('d-real', 'spin').get_pid())
    # The fakes that answer claim 0.25 CPU each, which no process here
    # does: with a busy CPU outside the VMs the host's work stays above
    # the VMs' sum, so that the real VM's share is its own.
    tiny('other', 'spin', sockets=[os.path.join(tmpdir_short, 'other.s')])
    bad = [c for c in FakeQMP.cases() if c not in ('good', 'restart')]
    fakes = [FakeQMP(os.path.join(tmpdir_short, 'fake-%s.qmp' % c),
                     'fake-%s' % c, c) for c in bad]
    fakes.append(FakeQMP(os.path.join(tmpdir_short, 'fake-flaky.qmp'),
                         'fake-flaky', 'good,good,good,truncated,good'))
    fakes.append(FakeQMP(os.path.join(tmpdir_short, 'fake-restart.qmp'),
                         'fake-restart', 'good,good,good,restart'))
    try:
        for f in fakes:
            f.start()
        d = daemons('--qmp', os.path.join(tmpdir_short, '*.qmp'),
                    '--sysfs-root', meter.root, '--energy-source',
                    'powercap', '--idle-watts', str(IDLE_W), '--format',
                    'json', '--interval', '0.5', '--count', '6')
        assert d.wait(30) == 0, d.stderr()
    finally:
        for f in fakes:
            f.stop()
    lines = d.lines
    assert len(lines) == 6
    for c in bad:
        for ln in lines:
            v = vm_in(ln, 'fake-' + c)
            assert v is not None, (c, ln['vms'])
            assert v['status'] == 'failed' and v['error'], (c, v)
            assert all(z['watts'] == 0 for z in v.get('zones') or []), v
    print('errors: %s' % '; '.join('%s: %.80s' % (
        c, vm_in(lines[-1], 'fake-' + c)['error']) for c in bad))
    flaky = statuses(lines, 'fake-flaky')
    assert flaky.count('failed') == 1 and flaky[-1] == 'ok', flaky
    restart = statuses(lines, 'fake-restart')
    assert 'failed' not in restart and 'new' in restart[1:] and \
        restart[-1] == 'ok', restart
    assert statuses(lines, 'd-real')[1:] == ['ok'] * 5

    # the real VM's energy, as if the others were not there
    first, end = lines[1], lines[-1]
    meter_past(meter, end['time'])
    got = vm_zone_joules(end, 'd-real') - vm_zone_joules(first, 'd-real')
    true = meter.vm_joules('d-real', first['time'], end['time'])
    lo, hi = meter.vm_bounds(true, first['time'], end['time'])
    print('d-real: %.3f J reported, %.3f J true' % (got, true))
    assert lo <= got <= hi, (got, lo, hi)


def test_count_ends_with_a_vm_that_never_answers(tiny, meters, tmpdir_short,
                                                 daemons):
    """
    --count 2 ends, with status 0, while a worker still waits for a VM
    that accepted the connection and never answers.
    """
    meter = meters(idle_watts=IDLE_W)
    tiny('d-real', 'halt')
    hang = FakeQMP(os.path.join(tmpdir_short, 'fake-hang.qmp'), 'fake-hang',
                   'hang').start()
    try:
        d = daemons('--qmp', hang.socket, '--qmp',
                    os.path.join(tmpdir_short, 'd-real.qmp'),
                    '--sysfs-root', meter.root, '--energy-source',
                    'powercap', '--idle-watts', str(IDLE_W), '--format',
                    'json', '--interval', '0.2', '--count', '2')
        assert d.wait(20) == 0, d.stderr()
    finally:
        hang.stop()
    assert len(d.lines) == 2
    assert statuses(d.lines, 'fake-hang')[-1] == 'failed', d.lines

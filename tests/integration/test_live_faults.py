# SPDX-License-Identifier: GPL-2.0-or-later
#
# (Scenario c.)  Faults while qemu-powerd runs, against the meter: a QEMU
# killed with SIGKILL and started again on its socket, one stopped with
# SIGSTOP for 3 s, one started late, and a RAPL counter that wraps during
# the run.  The VM nothing happened to is measured in every line as the
# meter has it; the zone's energy across the wrap is the meter's; the
# stopped VM is failed within the timeout and the intervals keep their
# pace; every VM ends measured.
import os
import signal

from machines import host_zone, meter_past, vm_in, vm_zone_joules, \
    wait_until

IDLE_W = 10.0
INTERVAL, TIMEOUT = 0.5, 0.4


def status(line, name):
    return (vm_in(line, name) or {}).get('status')


def test_faults_while_running(tiny, meters, tmpdir_short, daemons):
    # about 45 W here: the counter wraps every 3 s or so
    meter = meters(idle_watts=IDLE_W, max_range=150 * 1000 * 1000)
    for name, guest in (('c-keep', 'spin'), ('c-kill', 'halt'),
                        ('c-stop', 'half')):
        vm = tiny(name, guest)
        meter.track(name, vm.get_pid())
        if name == 'c-kill':
            kill_pid = vm.get_pid()
        elif name == 'c-stop':
            stop_pid = vm.get_pid()
    d = daemons('--qmp', os.path.join(tmpdir_short, '*.qmp'),
                '--sysfs-root', meter.root, '--energy-source', 'powercap',
                '--idle-watts', str(IDLE_W), '--format', 'json',
                '--interval', str(INTERVAL), '--timeout', str(TIMEOUT))

    def lines_after(t, n):
        return len([ln for ln in d.lines if ln['time'] > t]) >= n

    def wait_lines(n, what):
        t = d.lines[-1]['time'] if d.lines else 0
        wait_until(lambda: lines_after(t, n), 20, what)
        return d.lines[-1]['time']

    wait_lines(4, 'four lines')
    os.kill(kill_pid, signal.SIGKILL)
    t_kill = d.lines[-1]['time']
    wait_lines(3, 'three lines after the SIGKILL')
    os.kill(stop_pid, signal.SIGSTOP)
    t_stop = d.lines[-1]['time']
    try:
        t_cont = wait_lines(6, 'six lines while a QEMU is stopped')
    finally:
        os.kill(stop_pid, signal.SIGCONT)
    tiny('c-late', 'halt')
    tiny('c-kill', 'halt')          # again, on the same socket
    wait_until(lambda: d.lines and all(
        status(d.lines[-1], n) == 'ok'
        for n in ('c-keep', 'c-stop', 'c-late', 'c-kill')), 20,
        'every VM measured again')
    d.kill(signal.SIGTERM)
    lines = d.lines
    assert d.proc.returncode == 0, d.stderr()
    meter_past(meter, lines[-1]['time'])

    times = [ln['time'] for ln in lines]
    assert all(b - a < 2 * INTERVAL for a, b in zip(times, times[1:])), \
        times
    assert all(status(ln, 'c-keep') == 'ok' for ln in lines[1:])
    after_kill = [ln for ln in lines
                  if t_kill + 2 * INTERVAL < ln['time'] < t_cont]
    assert after_kill and all(status(ln, 'c-kill') in (None, 'failed')
                              for ln in after_kill)
    # a line's VM answers may come up to the timeout after its time
    stopped = [ln for ln in lines
               if t_stop + TIMEOUT + INTERVAL < ln['time'] < t_cont - TIMEOUT]
    assert len(stopped) >= 3, [status(ln, 'c-stop') for ln in lines]
    for ln in stopped:
        assert status(ln, 'c-stop') == 'failed', ln['vms']
        assert ln['poll_s'] <= TIMEOUT + 0.25, ln['poll_s']
    print('c-stop: %s' % ' '.join(str(status(ln, 'c-stop'))
                                  for ln in lines))

    # against the meter, over the whole run and the wraps in it
    first, end = lines[1], lines[-1]
    t1, t2 = first['time'], end['time']
    wraps = [w for w in meter.wraps if t1 < w < t2]
    assert wraps, (meter.wraps, t1, t2)
    got = host_zone(end)['energy_joules'] - \
        host_zone(first)['energy_joules']
    true = meter.host_joules(t1, t2)
    print('package-0 over %d wraps: %.2f J reported, %.2f J true'
          % (len(wraps), got, true))
    assert abs(got - true) <= meter.zone_tolerance(true, true / (t2 - t1))
    got = vm_zone_joules(end, 'c-keep') - vm_zone_joules(first, 'c-keep')
    true = meter.vm_joules('c-keep', t1, t2)
    lo, hi = meter.vm_bounds(true, t1, t2)
    print('c-keep: %.3f J reported, %.3f J true' % (got, true))
    assert lo <= got <= hi, (got, lo, hi)

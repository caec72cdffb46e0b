# SPDX-License-Identifier: GPL-2.0-or-later
#
# qemu-powerd's JSON output, --once and live, against the meter
# (meter.py): tiny guests that spin, half-spin and halt, a package zone
# whose power is 10 W + 20 W per busy CPU of measured CPU time and a dram
# zone of a constant 5 W.  Each VM's energy must be its QEMU's measured CPU
# time under the meter's model, the zone's energy the meter's; the fields
# and the invariants of docs/qemu-powerd.rst are checked on the way.
import csv
import io
import json
import os

from machines import host_zone, meter_past, parts_add_up, run_powerd, vm_in, \
    vm_zone_joules, wait_until

IDLE_W = 10.0
DRAM_W = 5.0


def start_vms(tiny, meter, guests):
    vms = {}
    for name, guest in guests:
        vms[name] = tiny(name, guest)
        meter.track(name, vms[name].get_pid())
    return vms


def powerd_args(meter, tmp, *more):
    return ['--qmp', os.path.join(tmp, '*.qmp'), '--format', 'json',
            '--energy-source', 'powercap', '--sysfs-root', meter.root] + \
        list(more)


def test_once(tiny, meters, tmpdir_short):
    """
    (Scenario a.)  --once: one object over one interval of 2 s; each VM
    named by -name with uuid "", ok, counted by task-clock; the package
    zone's energy is the meter's, its idle the one given; dram's idle is
    the one given for it; each VM's energy is its true energy.
    """
    meter = meters(dram_watts=DRAM_W)
    vms = start_vms(tiny, meter, [('a-spin1', 'spin'), ('a-spin2', 'spin'),
                                  ('a-idle', 'halt')])
    res = run_powerd(powerd_args(meter, tmpdir_short, '--once',
                                 '--interval', '2',
                                 '--idle-watts', str(IDLE_W),
                                 '--idle-watts', 'dram-0=2'))
    assert res.returncode == 0, res.stderr
    o = json.loads(res.stdout)          # one object, not lines
    t, iv = o['time'], o['interval_s']
    meter_past(meter, t)
    assert (o['energy_source'], o['estimated'], o['counter_unit']) == \
        ('powercap', False, 'nanoseconds')
    assert abs(iv - 2) < 0.1, iv
    assert 0 <= o['poll_s'] < iv
    assert sorted(v['name'] for v in o['vms']) == sorted(vms)
    for v in o['vms']:
        assert v['uuid'] == '' and v['status'] == 'ok', v
        assert v['counter_source'] == 'task-clock', v
        assert 0 <= v['share'] <= 1, v
    parts_add_up(o)

    pkg = host_zone(o)
    assert pkg['idle_watts'] == IDLE_W and not pkg['idle_estimated']
    assert pkg['idle_method'] == 'given'
    true = meter.host_joules(t - iv, t)
    print('package-0: %.2f W x %.3f s, true %.2f J' % (pkg['watts'], iv,
                                                      true))
    assert abs(pkg['watts'] * iv - true) <= \
        meter.zone_tolerance(true, pkg['watts'])
    dram = host_zone(o, 'dram-0')
    assert dram['idle_watts'] == 2 and not dram['idle_estimated']
    assert abs(dram['watts'] - DRAM_W) <= 0.02 * DRAM_W, dram

    for name in vms:
        got = vm_zone_joules(o, name)
        true = meter.vm_joules(name, t - iv, t)
        print('%s: %.3f J reported, %.3f J true, %.3f CPU s stolen'
              % (name, got, true, meter.steal_s(t - iv, t)))
        lo, hi = meter.vm_bounds(true, t - iv, t)
        assert lo <= got <= hi, (name, lo, hi)
    # the meaning of the scenario: a halted VM costs about nothing
    assert vm_in(o, 'a-idle')['zones'][0]['watts'] < 0.5


def test_live(tiny, meters, tmpdir_short, daemons):
    """
    (Scenario b.)  Live mode, --count 8 --interval 0.5: each line is
    printed when its interval ends (not at exit); 8 lines one interval
    apart; every VM in every line, ok after the first; energies never
    decrease; package-0's idle is the one given, dram's estimated; over
    the run each VM's and each zone's energy is the meter's.
    """
    meter = meters(dram_watts=DRAM_W)
    vms = start_vms(tiny, meter, [('b-spin', 'spin'), ('b-half', 'half'),
                                  ('b-idle', 'halt')])
    d = daemons(*powerd_args(meter, tmpdir_short, '--count', '8',
                             '--interval', '0.5', '--idle-watts',
                             'package-0=%g' % IDLE_W))
    # flushed as it goes: the first line while the daemon still runs
    wait_until(lambda: d.lines, 5, 'the first line')
    assert d.proc.poll() is None, 'the first line came only at the exit'
    assert d.wait(30) == 0, d.stderr()
    lines = d.lines
    assert len(lines) == 8
    meter_past(meter, lines[-1]['time'])
    last = {}
    for i, ln in enumerate(lines):
        assert (ln['energy_source'], ln['estimated']) == ('powercap', False)
        assert abs(ln['interval_s'] - 0.5) < 0.05, ln['interval_s']
        if i:
            step = ln['time'] - lines[i - 1]['time']
            assert abs(step - ln['interval_s']) < 0.05, step
        assert sorted(v['name'] for v in ln['vms']) == sorted(vms)
        if i:
            assert all(v['status'] == 'ok' for v in ln['vms']), ln['vms']
        parts_add_up(ln)
        pkg, dram = host_zone(ln), host_zone(ln, 'dram-0')
        assert pkg['idle_watts'] == IDLE_W and pkg['idle_method'] == 'given'
        assert dram['idle_estimated'] is True, dram
        assert dram['idle_method'] in ('none-yet', 'regression'), dram
        for v in ln['vms']:
            for z in v.get('zones') or []:
                key = (v['name'], z['zone'])
                assert z['energy_joules'] >= last.get(key, 0), (key, z)
                last[key] = z['energy_joules']

    # Over the run: lines 2..8 (the first has no VM interval yet).
    first, end = lines[1], lines[-1]
    t1, t2 = first['time'], end['time']
    for zone, true in (('package-0', meter.host_joules(t1, t2)),
                       ('dram-0', DRAM_W * (t2 - t1))):
        got = host_zone(end, zone)['energy_joules'] - \
            host_zone(first, zone)['energy_joules']
        print('%s: %.2f J reported, %.2f J true' % (zone, got, true))
        assert abs(got - true) <= meter.zone_tolerance(
            true, true / (t2 - t1)), zone
    for name in vms:
        got = vm_zone_joules(end, name) - vm_zone_joules(first, name)
        true = meter.vm_joules(name, t1, t2)
        print('%s: %.3f J reported, %.3f J true, %.3f CPU s stolen'
              % (name, got, true, meter.steal_s(t1, t2)))
        lo, hi = meter.vm_bounds(true, t1, t2)
        assert lo <= got <= hi, (name, lo, hi)
    # the half-busy guest costs less than the spinning one, more than idle
    assert meter.vm_joules('b-idle', t1, t2) < \
        meter.vm_joules('b-half', t1, t2) < \
        meter.vm_joules('b-spin', t1, t2)


def test_estimate(tiny, meters, tmpdir_short, daemons):
    """
    (Scenario e.)  --energy-source estimate, idle 30 W and 130 W at full
    load: every line is labelled an estimate; the zone's power is the
    model's at the host's measured utilisation (the meter's record of all
    tasks' CPU time over wall time on every CPU; its RAPL files are not
    read) and each VM's energy its QEMU's CPU time at (130 - 30) / CPUs
    watts per busy CPU.  Then the other formats: JSON without --format
    and a terminal, a table that says it is estimated, CSV rows.
    """
    idle, full, ncpus = 30.0, 130.0, os.sysconf('SC_NPROCESSORS_ONLN')
    per_cpu = (full - idle) / ncpus
    meter = meters()
    vms = start_vms(tiny, meter, [('e-spin', 'spin'), ('e-halt', 'halt')])
    est = ['--qmp', os.path.join(tmpdir_short, '*.qmp'), '--energy-source',
           'estimate', '--idle-watts', str(idle), '--max-watts', str(full),
           '--sysfs-root', meter.root, '--interval', '0.5']
    d = daemons(*est, '--format', 'json', '--count', '6')
    assert d.wait(30) == 0, d.stderr()
    lines = d.lines
    assert len(lines) == 6
    meter_past(meter, lines[-1]['time'])
    for ln in lines:
        assert (ln['energy_source'], ln['estimated']) == ('estimate', True)
        parts_add_up(ln)
        for z in ln['host']['zones']:
            assert z['idle_watts'] == idle and z['idle_method'] == 'model'
            assert idle <= z['watts'] <= full, z
    first, end = lines[1], lines[-1]
    t1, t2 = first['time'], end['time']
    zone = end['host']['zones'][0]['zone']       # the model's one zone
    assert len(end['host']['zones']) == 1, end['host']
    got = host_zone(end, zone)['energy_joules'] - \
        host_zone(first, zone)['energy_joules']
    true = idle * (t2 - t1) + per_cpu * meter.host_busy_s(t1, t2)
    print('%s: %.2f J reported, %.2f J true' % (zone, got, true))
    assert abs(got - true) <= 0.02 * true, zone
    for name in vms:
        got = vm_zone_joules(end, name, zone) - \
            vm_zone_joules(first, name, zone)
        true = per_cpu * meter.vm_cpu_s(name, t1, t2)
        print('%s: %.3f J reported, %.3f J true' % (name, got, true))
        lo, hi = meter.vm_bounds(true, t1, t2, per_cpu)
        assert lo <= got <= hi, (name, lo, hi)
    assert meter.vm_cpu_s('e-halt', t1, t2) < \
        meter.vm_cpu_s('e-spin', t1, t2)

    # no --format, stdout not a terminal: JSON
    res = run_powerd(est + ['--once'])
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)['estimated'] is True
    res = run_powerd(est + ['--once', '--format', 'table'])
    assert res.returncode == 0, res.stderr
    assert 'estimat' in res.stdout.lower(), res.stdout
    res = run_powerd(est + ['--once', '--format', 'csv'])
    assert res.returncode == 0, res.stderr
    rows = [r for r in csv.reader(io.StringIO(res.stdout)) if r]
    assert rows[0] == ['time', 'vm', 'uuid', 'zone', 'watts', 'share',
                       'energy_joules', 'mode'], rows
    assert sorted({r[1] for r in rows[1:]}) == sorted(vms), rows
    for r in rows[1:]:
        assert len(r) == 8 and r[3] == zone and r[7] == 'poll', r
        [float(r[i]) for i in (0, 4, 5, 6)]

# SPDX-License-Identifier: GPL-2.0-or-later
#
# qemu-power-helper with the QEMU that libvirt really runs: unprivileged.
# The helper runs as root over a root-owned fake sysfs tree with a real
# host's modes (energy_uj 0400, knobs 0644); QEMU runs as nobody, without
# groups or capabilities, and reaches the tree only through the helper.
# The truth is the tree itself: what each file held before and after.
# Needs root (to own the tree and to become nobody).
import json
import os
import pwd
import re
import signal
import socket
import subprocess
import time

import pytest

from machines import BUILD, HELPER, QEMU, host_zone, kvm_probe, \
    make_bios, meter_past, run_powerd, tiny_domain_xml, vm_zone_joules, \
    wait_until

import hostqmp as h
from qemu.machine import QEMUMachine

NOBODY = 65534
AS_NOBODY = ['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY,
             '--clear-groups']
KNOBS = re.compile(r'(scaling_governor|scaling_min_freq|scaling_max_freq|'
                   r'scaling_setspeed|max_perf_pct|min_perf_pct|no_turbo|'
                   r'enabled|constraint_\d+_power_limit_uw|'
                   r'constraint_\d+_time_window_us)$')
CPUFREQ = h.CPU % 1 + 'scaling_governor'
PSTATE_MAX = h.PSTATE + 'max_perf_pct'
LIMIT = h.ZONE % 0 + 'constraint_0_power_limit_uw'
ENERGY = h.ZONE % 0 + 'energy_uj'

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason='needs root: the tree is root\'s '
                                'and QEMU runs as nobody')


@pytest.fixture
def host(tmpdir_short):
    """A root-owned fake host tree with a real host's modes, in a folder
    nobody may search (for the helper's socket) but not write."""
    tree = os.path.join(tmpdir_short, 'sys')
    files = h.fake_host(tree)
    h.write_tree(tree, files)
    for k in files:
        mode = 0o400 if k.endswith('/energy_uj') else \
            0o644 if KNOBS.search(k) else 0o444
        os.chmod(os.path.join(tree, k), mode)
    for d, dirs, _ in os.walk(tmpdir_short):
        os.chmod(d, 0o755)
    return tree


@pytest.fixture
def nobody_qemu(tmpdir_short):
    """A factory of launched QEMUs run as nobody (QMP on a socketpair, no
    path), each with -object host-power,id=hp0 and @opts."""
    vms = []

    def make(opts):
        vm = QEMUMachine(QEMU, wrapper=AS_NOBODY, base_temp_dir=tmpdir_short)
        vm.set_machine('none')
        vm.add_args('-accel', 'tcg', '-nodefaults',
                    '-object', 'host-power,id=hp0' + opts)
        vms.append(vm)
        vm.launch()
        return vm

    yield make
    for vm in vms:
        vm.shutdown(hard=True)


def status(pid):
    with open('/proc/%d/status' % pid) as f:
        return dict(line.split(':', 1) for line in f if ':' in line)


def meta(tree):
    """Values (as sysfs shows them: less one newline), modes and owners
    of everything in @tree."""
    snap = h.snapshot(tree)
    return {k: (h.value(snap, k), os.lstat(os.path.join(tree, k)).st_mode,
                os.lstat(os.path.join(tree, k)).st_uid) for k in snap}


def zone(rep, name):
    return {z['name']: z for z in rep['return']['host-energy']['zones']}[name]


def bump(tree, rel, by):
    """Add @by to the counter @rel of the tree, as the hardware would."""
    path = os.path.join(tree, rel)
    with open(path) as f:
        v = int(f.read())
    with open(path, 'w') as f:
        f.write('%d\n' % (v + by))


def test_unprivileged_qemu_through_helper(host, helpers, nobody_qemu):
    """QEMU as nobody gets the host's energy and changes exactly the
    knobs it asks for, only through the helper; its changes go back when
    it quits."""
    before = meta(host)
    hp = helpers(host, '--allow-energy', 'nobody', '--allow-policy', 'nobody')
    vm = nobody_qemu(',helper=%s,allow-policy=on' % hp.sock)
    st = status(vm.get_pid())
    assert st['Uid'].split() == [str(NOBODY)] * 4
    assert not st['Groups'].split() and int(st['CapEff'], 16) == 0

    r1 = vm.qmp('query-power')
    assert r1['return']['host-energy']['available'] is True, r1
    assert zone(r1, 'package-0')['raw-uj'] == 1000000
    bump(host, ENERGY, 4321000)
    r2 = vm.qmp('query-power')
    assert zone(r2, 'package-0')['energy-uj'] - \
        zone(r1, 'package-0')['energy-uj'] == 4321000
    assert zone(r2, 'package-1')['energy-uj'] == \
        zone(r1, 'package-1')['energy-uj']
    with open(os.path.join(host, ENERGY)) as f:
        energy_now = f.read()

    cases = [
        ('set-host-cpufreq', {'cpus': [1], 'governor': 'performance'},
         {CPUFREQ: 'performance'}),
        ('set-host-cpufreq', {'cpus': [2, 3], 'max-khz': 2400000},
         {h.CPU % 2 + 'scaling_max_freq': '2400000',
          h.CPU % 3 + 'scaling_max_freq': '2400000'}),
        ('set-host-pstate', {'max-perf-pct': 50}, {PSTATE_MAX: '50'}),
        ('set-host-power-limit', {'zone': 'package-0',
                                  'constraint': 'long_term',
                                  'power-limit-uw': 100000000},
         {LIMIT: '100000000'}),
    ]
    for cmd, args, want in cases:
        snap = h.snapshot(host)
        r = vm.qmp(cmd, **args)
        assert 'return' in r, (cmd, r)
        after = h.snapshot(host)
        assert h.changed_values(snap, after) == sorted(want), (cmd, r)
        for rel, v in want.items():
            assert h.value(after, rel) == v
    pid = vm.get_pid()
    assert re.search(r'pid %d uid %d .* set %s from .ondemand. to '
                     r'.performance.' % (pid, NOBODY, re.escape(CPUFREQ)),
                     hp.log()), hp.log()

    vm.shutdown()

    def unrestored():
        # everything as before but the counter the test moved itself
        now = meta(host)
        return [k for k in set(now) | set(before)
                if k != ENERGY and now.get(k) != before.get(k)]
    try:
        wait_until(lambda: not unrestored(), 10,
                   'the helper restores what QEMU changed when it goes')
    except AssertionError as e:
        raise AssertionError('%s: %s\n%s' % (e, unrestored(), hp.log()))
    assert h.snapshot(host)[ENERGY] == energy_now.encode()
    assert hp.stop() == 0


def test_unprivileged_qemu_without_helper(host, nobody_qemu):
    """No helper: a clear reason, clear errors, nothing changed."""
    before = meta(host)
    vm = nobody_qemu(',allow-policy=on')
    e = vm.qmp('query-power')['return']['host-energy']
    assert e['available'] is False and e['zones'] == []
    assert 'qemu-power-helper' in e['reason'], e
    for cmd, args in [('set-host-cpufreq', {'governor': 'performance'}),
                      ('set-host-pstate', {'max-perf-pct': 50}),
                      ('set-host-power-limit', {'zone': 'package-0',
                                                'enabled': False})]:
        r = vm.qmp(cmd, **args)
        assert 'needs qemu-power-helper' in r['error']['desc'], r
    p = vm.qmp('query-host-power-policy')
    assert 'qemu-power-helper' in json.dumps(p), p
    assert meta(host) == before


def test_peer_not_allowed(host, helpers, nobody_qemu):
    """A helper that allows root only: nobody's QEMU is told so, by
    name, and changes nothing."""
    before = meta(host)
    hp = helpers(host, '--allow-energy', 'root', '--allow-policy', 'root')
    vm = nobody_qemu(',helper=%s,allow-policy=on' % hp.sock)
    e = vm.qmp('query-power')['return']['host-energy']
    assert e['available'] is False, e
    assert "does not allow this QEMU to query-energy: This peer (uid %d) " \
        "may not use 'query-energy'" % NOBODY in e['reason'], e
    r = vm.qmp('set-host-pstate', **{'max-perf-pct': 50})
    assert 'does not allow this QEMU to set-host-pstate' in \
        r['error']['desc'], r
    assert 'uid %d' % NOBODY in r['error']['desc'], r
    assert meta(host) == before


def test_policy_not_given(host, helpers, nobody_qemu):
    """--allow-energy alone: energy yes, policy changes no."""
    before = meta(host)
    hp = helpers(host, '--allow-energy', 'nobody')
    vm = nobody_qemu(',helper=%s,allow-policy=on' % hp.sock)
    assert vm.qmp('query-power')['return']['host-energy']['available']
    r = vm.qmp('set-host-cpufreq', governor='performance')
    assert 'does not allow' in r['error']['desc'], r
    assert meta(host) == before


def test_two_qemus_one_knob(host, helpers, nobody_qemu):
    """Two VMs change one knob: the later value holds while its VM runs;
    the original comes back when both are gone, in either order."""
    orig = h.value(h.snapshot(host), PSTATE_MAX)
    hp = helpers(host, '--allow-energy', 'nobody', '--allow-policy', 'nobody')
    a = nobody_qemu(',helper=%s,allow-policy=on' % hp.sock)
    b = nobody_qemu(',helper=%s,allow-policy=on' % hp.sock)
    assert 'return' in a.qmp('set-host-pstate', **{'max-perf-pct': 50})
    assert 'return' in b.qmp('set-host-pstate', **{'max-perf-pct': 70})
    pid = a.get_pid()
    a.shutdown()
    wait_until(lambda: re.search(r'pid %d .* left; its changes are undone'
                                 % pid, hp.log()), 10,
               'the helper sees the first QEMU go')
    assert h.value(h.snapshot(host), PSTATE_MAX) == '70'
    b.shutdown()
    wait_until(lambda: h.value(h.snapshot(host), PSTATE_MAX) == orig, 10,
               'the original back once both are gone')


def test_changed_behind_its_back(host, helpers, nobody_qemu):
    """A knob someone else changed after the VM did (tuned, an operator)
    is reported when the VM goes, and left as they set it."""
    hp = helpers(host, '--allow-energy', 'nobody', '--allow-policy', 'nobody')
    vm = nobody_qemu(',helper=%s,allow-policy=on' % hp.sock)
    assert 'return' in vm.qmp('set-host-cpufreq', cpus=[1],
                             governor='powersave')
    with open(os.path.join(host, CPUFREQ), 'w') as f:
        f.write('schedutil\n')
    pid = vm.get_pid()
    vm.shutdown()
    wait_until(lambda: re.search(r'pid %d .* left' % pid, hp.log()), 10,
               'the helper sees the QEMU go')
    assert re.search(r"%s: is 'schedutil', not 'powersave' as the helper "
                     r"wrote: changed by someone else, left alone"
                     % re.escape(CPUFREQ), hp.log()), hp.log()
    assert h.value(h.snapshot(host), CPUFREQ) == 'schedutil'


def test_energy_survives_object_del_and_add(host, helpers, nobody_qemu):
    """The totals are the helper's: deleting and re-adding the host-power
    object does not start them again from 0 ("counts only grow")."""
    hp = helpers(host, '--allow-energy', 'nobody')
    vm = nobody_qemu(',helper=%s' % hp.sock)
    bump(host, ENERGY, 5000000)
    e1 = zone(vm.qmp('query-power'), 'package-0')['energy-uj']
    assert e1 >= 5000000
    assert 'return' in vm.qmp('object-del', id='hp0')
    assert 'return' in vm.qmp('object-add', **{
        'qom-type': 'host-power', 'id': 'hp0', 'helper': hp.sock})
    bump(host, ENERGY, 1000)
    e2 = zone(vm.qmp('query-power'), 'package-0')['energy-uj']
    assert e2 == e1 + 1000


def test_client_sigkilled(host, helpers, nobody_qemu):
    """A QEMU SIGKILLed: its changes are restored all the same."""
    before = h.snapshot(host)
    hp = helpers(host, '--allow-energy', 'nobody', '--allow-policy', 'nobody')
    vm = nobody_qemu(',helper=%s,allow-policy=on' % hp.sock)
    assert 'return' in vm.qmp('set-host-cpufreq', governor='powersave')
    assert h.value(h.snapshot(host), CPUFREQ) == 'powersave'
    os.kill(vm.get_pid(), signal.SIGKILL)
    wait_until(lambda: h.changed_values(before, h.snapshot(host)) == [],
               10, 'the helper restores a SIGKILLed client\'s changes')


def test_helper_sigkilled_and_restarted(host, helpers, nobody_qemu):
    """The helper SIGKILLed while a change is in place: the restarted
    helper still knows the original and restores it at its clean stop."""
    before = h.snapshot(host)
    hp = helpers(host, '--allow-energy', 'nobody', '--allow-policy', 'nobody')
    vm = nobody_qemu(',helper=%s,allow-policy=on' % hp.sock)
    assert 'return' in vm.qmp('set-host-pstate', **{'max-perf-pct': 40})
    assert hp.stop(signal.SIGKILL) == -signal.SIGKILL
    vm.shutdown()
    assert h.value(h.snapshot(host), PSTATE_MAX) == '40'
    hp.start()
    assert 'knobs changed by a previous run' in hp.log(), hp.log()
    assert h.value(h.snapshot(host), PSTATE_MAX) == '40'
    assert hp.stop() == 0
    assert h.changed_values(before, h.snapshot(host)) == []
    assert not os.path.exists(hp.state)


def test_socket_activation(host, tmpdir_short):
    """Started by systemd's socket activation (systemd-socket-activate
    stands in for the .socket unit), it serves on the socket passed."""
    sock = os.path.join(tmpdir_short, 'act.sock')
    log = open(os.path.join(tmpdir_short, 'act.log'), 'w+')
    proc = subprocess.Popen(
        ['systemd-socket-activate', '-l', sock, HELPER, '--sysfs-root', host,
         '--state-file', os.path.join(tmpdir_short, 'act.state'),
         '--allow-energy', 'root'], stdout=log, stderr=log)
    try:
        wait_until(lambda: os.path.exists(sock), 10, 'the socket')
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        f = s.makefile('rw')
        assert json.loads(f.readline()) == \
            {'qemu-power-helper': {'version': 1}}
        f.write('{"execute": "query-energy", "id": 7}\n')
        f.flush()
        r = json.loads(f.readline())
        assert r['id'] == 7 and r['return']['available'] is True, r
        s.close()
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_powerd_energy_through_helper(helpers, meters, tiny, tmpdir_short):
    """qemu-powerd --helper: the host's energy from the helper (which
    reads the meter's counter) is the meter's, and so is a VM's share."""
    meter = meters()
    vm = tiny('spin', 'spin')
    meter.track('spin', vm.get_pid())
    hp = helpers(meter.root, '--allow-energy', 'root')
    res = run_powerd(['--qmp', os.path.join(tmpdir_short, '*.qmp'),
                      '--format', 'json', '--helper', hp.sock, '--once',
                      '--interval', '2', '--idle-watts', '10'])
    assert res.returncode == 0, res.stderr
    o = json.loads(res.stdout)
    t, iv = o['time'], o['interval_s']
    meter_past(meter, t)
    assert o['energy_source'] == 'helper', o
    pkg = host_zone(o)
    true = meter.host_joules(t - iv, t)
    print('package-0: %.2f W x %.3f s, true %.2f J' % (pkg['watts'], iv,
                                                      true))
    assert abs(pkg['watts'] * iv - true) <= \
        meter.zone_tolerance(true, pkg['watts'])
    got, true = vm_zone_joules(o, 'spin'), meter.vm_joules('spin', t - iv, t)
    lo, hi = meter.vm_bounds(true, t - iv, t)
    assert lo <= got <= hi, (got, lo, hi)


def test_libvirt_domain_through_helper(host, helpers, libvirtd, tmpdir_short):
    """A libvirt domain, QEMU as libvirt-qemu as Debian ships it, asks
    the helper through virsh qemu-monitor-command: query-power has the
    host's energy, set-host-cpufreq changes the host, and the helper puts
    it back when the domain is destroyed."""
    before = h.snapshot(host)
    hp = helpers(host, '--allow-energy', 'libvirt-qemu',
                 '--allow-policy', 'libvirt-qemu')
    probe = kvm_probe()
    bios = make_bios('halt', os.path.join(BUILD, 'integration',
                                          'libvirt-halt.bin'))
    libvirtd.create('qph-halt', tiny_domain_xml(
        probe, 'qph-halt', bios, qemu_args=[
            '-object', 'host-power,id=hp0,helper=%s,allow-policy=on'
            % hp.sock]))
    pid = libvirtd.pid('qph-halt')
    assert status(pid)['Uid'].split()[0] == str(pwd.getpwnam(
        'libvirt-qemu').pw_uid)
    e = libvirtd.qmp('qph-halt', 'query-power')['host-energy']
    assert e['available'] is True, e
    assert {z['name'] for z in e['zones']} >= {'package-0', 'package-1'}
    out = json.loads(libvirtd.virsh(
        'qemu-monitor-command', 'qph-halt',
        '{"execute": "set-host-cpufreq", "arguments": '
        '{"cpus": [1], "governor": "powersave"}}'))
    assert 'return' in out, out
    assert h.changed_values(before, h.snapshot(host)) == [CPUFREQ]
    assert h.value(h.snapshot(host), CPUFREQ) == 'powersave'
    assert re.search(r"pid %d uid \d+ name 'qph-halt' set %s" %
                     (pid, re.escape(CPUFREQ)), hp.log()), hp.log()
    libvirtd.virsh('destroy', 'qph-halt')
    libvirtd.domains.remove('qph-halt')
    wait_until(lambda: h.changed_values(before, h.snapshot(host)) == [],
               10, 'the governor back once the domain is gone')


def test_energy_wraps_between_queries(helpers, meters, tiny):
    """A counter that wraps several times between two queries: the
    helper reads it on its own timer, so the total is the meter's, not
    what is left after the last wrap."""
    meter = meters(max_range=20000000)          # 20 J: a wrap every ~1 s
    vm = tiny('spin', 'spin')
    meter.track('spin', vm.get_pid())
    hp = helpers(meter.root, '--allow-energy', 'root')

    def package():
        t0, m0 = time.time(), time.monotonic_ns()
        z = {z['name']: z for z in hp.request('query-energy')['zones']}
        m1 = time.monotonic_ns()
        # the reading's own time, in CLOCK_MONOTONIC (to the us)
        assert m0 - 1000 <= z['package-0']['timestamp-ns'] <= m1, (m0, z)
        return (t0 + time.time()) / 2, z['package-0']['energy-uj']
    t1, e1 = package()
    n = len(meter.wraps)
    wait_until(lambda: len(meter.wraps) >= n + 3, 20, 'three wraps')
    t2, e2 = package()
    meter_past(meter, t2)
    true = meter.host_joules(t1, t2)
    got = (e2 - e1) / 1e6
    print('%.2f J over %d wraps in %.1f s, true %.2f J'
          % (got, len(meter.wraps) - n, t2 - t1, true))
    assert abs(got - true) <= meter.zone_tolerance(true, true / (t2 - t1))

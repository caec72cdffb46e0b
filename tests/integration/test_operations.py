# SPDX-License-Identifier: GPL-2.0-or-later
#
# qemu-powerd as a service: what systemd hears from it (READY, STATUS,
# WATCHDOG, STOPPING on a notify socket of our own, as systemd would set
# one up), how it logs (journal priorities when stderr is the journal),
# its exit codes, and a state file that carries the energy and the idle
# estimate over a restart, judged against the meter.
import json
import os
import select
import signal
import socket
import subprocess
import threading
import time

import pytest

from machines import POWERD, TinyVM, kvm_probe, meter_past, wait_until
from meter import Meter

IDLE_W, K_W = 10.0, 20.0


class NotifySocket:
    """An AF_UNIX datagram socket standing for systemd's NOTIFY_SOCKET."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.messages = []              # (monotonic time, assignment)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            now = time.monotonic()
            for line in data.decode(errors='replace').split('\n'):
                if line:
                    self.messages.append((now, line))

    def times(self, msg):
        return [t for t, m in list(self.messages) if m == msg]

    def first(self, prefix):
        return next((m for _, m in list(self.messages)
                     if m.startswith(prefix)), None)

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


def powerd_cmd(meter, *args):
    return [POWERD, '--sysfs-root', meter.root, '--energy-source',
            'powercap', '--format', 'json'] + list(args)


def meter_in(tmp):
    return Meter(os.path.join(tmp, 'sys'), idle_watts=IDLE_W,
                 watts_per_cpu=K_W)


def run_powerd(args, env=None, timeout=30):
    return subprocess.run([POWERD] + args, capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_notify_ready_watchdog_stopping(tmpdir_short):
    """
    Under a notify socket with WatchdogSec=2 and --interval 5: READY=1,
    then WATCHDOG=1 at least every second (a quarter of the watchdog, even
    while the main loop sleeps for 5 s), a STATUS= per interval, and on
    SIGTERM STOPPING=1 and an exit within 2 s.
    """
    meter = meter_in(tmpdir_short)
    ns = NotifySocket(os.path.join(tmpdir_short, 'notify'))
    env = dict(os.environ, NOTIFY_SOCKET=ns.path, WATCHDOG_USEC='2000000')
    env.pop('WATCHDOG_PID', None)
    meter.start()
    try:
        d = subprocess.Popen(powerd_cmd(meter, '--qmp', os.path.join(
            tmpdir_short, 'none-*.qmp'), '--interval', '5'), env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: ns.times('READY=1'), 10, 'READY=1')
        ready = ns.times('READY=1')[0]
        # two intervals: the first report, and its STATUS=
        wait_until(lambda: ns.first('STATUS=0 VMs'), 15,
                   'a STATUS= after an interval (got %r)' % ns.messages)
        t_term = time.monotonic()
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=10)
        t_exit = time.monotonic()
        wait_until(lambda: ns.times('STOPPING=1'), 2, 'STOPPING=1')
    finally:
        meter.stop()
        ns.close()
    print('exit %.3f s after SIGTERM; status %r'
          % (t_exit - t_term, ns.first('STATUS=0 VMs')))
    assert d.returncode == 0, d.stderr.read()
    assert t_exit - t_term < 2.0
    pings = [t for t in ns.times('WATCHDOG=1') if t <= t_term]
    gaps = [b - a for a, b in zip([ready] + pings, pings + [t_term])]
    print('%d pings over %.1f s, longest gap %.3f s'
          % (len(pings), t_term - ready, max(gaps)))
    assert t_term - ready > 5           # at least one whole interval slept
    assert max(gaps) <= 1.0, gaps
    assert ns.times('STOPPING=1')[0] >= t_term


def test_watchdog_while_a_vm_hangs(tmpdir_short):
    """
    A QEMU stopped with SIGSTOP holds every round for --timeout (4 s of a
    5 s interval): the watchdog still hears from qemu-powerd at least
    every second, and SIGTERM still ends it within 2 s.
    """
    meter = meter_in(tmpdir_short)
    qmp = os.path.join(tmpdir_short, 'hung.qmp')
    vm = TinyVM(kvm_probe(), tmpdir_short, 'hung', 'halt', args=(
        '-qmp', 'unix:%s,server=on,wait=off' % qmp))
    vm.launch()
    ns = NotifySocket(os.path.join(tmpdir_short, 'notify'))
    env = dict(os.environ, NOTIFY_SOCKET=ns.path, WATCHDOG_USEC='2000000')
    env.pop('WATCHDOG_PID', None)
    meter.start()
    try:
        os.kill(vm.get_pid(), signal.SIGSTOP)
        d = subprocess.Popen(powerd_cmd(meter, '--qmp', qmp, '--mode',
                                        'poll', '--interval', '5'),
                             env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        wait_until(lambda: ns.first('STATUS=1 VMs (1 failed)'), 20,
                   'an interval with the VM failed')
        t_term = time.monotonic()
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=10)
        t_exit = time.monotonic()
    finally:
        meter.stop()
        ns.close()
        os.kill(vm.get_pid(), signal.SIGCONT)
        vm.shutdown(hard=True)
    err = d.stderr.read()
    pings = [t for t in ns.times('WATCHDOG=1') if t <= t_term]
    gaps = [b - a for a, b in zip(pings, pings[1:] + [t_term])]
    print('%s; %d pings, longest gap %.3f s; exit %.3f s after SIGTERM'
          % (err.strip(), len(pings), max(gaps), t_exit - t_term))
    assert 'not measured' in err
    assert d.returncode == 0, err
    assert t_exit - t_term < 2.0
    assert max(gaps) <= 1.0, gaps


def test_watchdog_for_another_pid(tmpdir_short):
    """WATCHDOG_PID names another process: READY, but no pings."""
    meter = meter_in(tmpdir_short)
    ns = NotifySocket(os.path.join(tmpdir_short, 'notify'))
    env = dict(os.environ, NOTIFY_SOCKET=ns.path, WATCHDOG_USEC='400000',
               WATCHDOG_PID='1')
    meter.start()
    try:
        res = subprocess.run(powerd_cmd(meter, '--qmp', os.path.join(
            tmpdir_short, 'none-*.qmp'), '--interval', '0.5', '--count',
            '3'), env=env, capture_output=True, text=True, timeout=30)
        wait_until(lambda: ns.times('STOPPING=1'), 2, 'STOPPING=1')
    finally:
        meter.stop()
        ns.close()
    assert res.returncode == 0, res.stderr
    assert ns.times('READY=1')
    assert not ns.times('WATCHDOG=1')


def journal_env(path):
    st = os.stat(path)
    return dict(os.environ, JOURNAL_STREAM='%d:%d' % (st.st_dev, st.st_ino))


def test_journal_priorities(tmpdir_short):
    """
    With stderr the journal's stream: "<4>" before a warning (the corrupt
    state file moved aside) and "<3>" before an error; without it, the
    same lines as "qemu-powerd: warning: ...".  A VM-chosen newline in a
    message stays inside its line.
    """
    meter = meter_in(tmpdir_short)
    state = os.path.join(tmpdir_short, 'state')
    err = os.path.join(tmpdir_short, 'stderr')
    qmp = os.path.join(tmpdir_short, 'none-*.qmp')
    other = os.path.join(tmpdir_short, 'other')
    outputs = {}
    open(other, 'w').close()
    meter.start()
    try:
        for how in ('journal', 'other-inode', 'plain'):
            # stderr is the journal's stream, or another file is, or none
            with open(state, 'w') as f:
                f.write('not a state\nfile\n')
            with open(err, 'w') as f:
                env = dict(os.environ)
                env.pop('JOURNAL_STREAM', None)
                if how != 'plain':
                    env = journal_env(err if how == 'journal' else other)
                res = subprocess.run(
                    powerd_cmd(meter, '--qmp', qmp, '--interval', '0.5',
                               '--count', '2', '--state-file', state),
                    env=env, stdout=subprocess.DEVNULL, stderr=f,
                    timeout=30)
            assert res.returncode == 0
            with open(err) as f:
                outputs[how] = f.read()
            # an error: a zone that does not exist, with a newline in it
            with open(err, 'w') as f:
                if how == 'journal':
                    env = journal_env(err)
                res = subprocess.run(
                    powerd_cmd(meter, '--qmp', qmp, '--idle-watts',
                               'bad\nzone=3'), env=env,
                    stdout=subprocess.DEVNULL, stderr=f, timeout=30)
            assert res.returncode == 1
            with open(err) as f:
                outputs[how + '-error'] = f.read()
    finally:
        meter.stop()
    for k, v in outputs.items():
        print('--- %s:\n%s' % (k, v), end='')
    j = outputs['journal'].splitlines()
    assert j and j[0].startswith("<4>state file '%s' is corrupt" % state)
    for how in ('other-inode', 'plain'):
        assert outputs[how].startswith(
            "qemu-powerd: warning: state file '%s' is corrupt" % state)
    je = outputs['journal-error'].splitlines()
    assert len(je) == 1, je
    assert je[0].startswith("<3>--idle-watts: this host has no zone "
                            "'bad\\x0azone'")
    pe = outputs['plain-error'].splitlines()
    assert len(pe) == 1 and pe[0].startswith('qemu-powerd: error: '), pe


def test_repeats_limited(tmpdir_short):
    """
    The host's energy file gone: every interval fails the same way, and
    the line says so once, not once per interval.
    """
    meter = meter_in(tmpdir_short)
    energy = os.path.join(meter.dir, 'energy_uj')
    d = subprocess.Popen(powerd_cmd(meter, '--qmp', os.path.join(
        tmpdir_short, 'none-*.qmp'), '--interval', '0.2'),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # set up over the meter's first value: its first line printed
        assert select.select([d.stdout], [], [], 10)[0], 'no first line'
        d.stdout.readline()
        os.rename(energy, energy + '.gone')
        t0 = time.monotonic()
        # a report per interval would have been 15 of them
        wait_until(lambda: time.monotonic() - t0 > 3, 10, '3 s')
        d.send_signal(signal.SIGTERM)
        _, err = d.communicate(timeout=10)
    finally:
        if d.poll() is None:
            d.kill()
    print(err)
    lines = [ln for ln in err.splitlines() if 'energy_uj' in ln]
    assert d.returncode == 0
    assert len(lines) == 1, err


BAD_OPTIONS = [
    (['--bogus-option'], "unknown option '--bogus-option'"),
    (['-x'], "unknown option '-x'"),
    (['--interval'], "option '--interval' needs an argument"),
    (['--interval', '2', '--state-interval', '1'],
     '--state-interval cannot be shorter than --interval'),
    (['--state-interval', '5x'], "'5x'"),
    (['--state-keep', '30'], "--state-keep wants a time of at least 60"),
    (['--state-keep', '2m', '--state-interval', '3m'],
     '--state-keep cannot be shorter than --state-interval'),
    (['--idle-watts', '=5'], "a zone name before '='"),
    (['--idle-watts', 'dram=5'],
     "this host has no zone 'dram' (its zones: package-0)"),
    (['--mode', 'push'], "--mode is auto, event or poll, not 'push'"),
    (['--lease', '0.5'], "--lease wants a number of at least 1, not '0.5'"),
    (['--lease', '100000'], "--lease is at most 86400 seconds"),
    (['--interval', '2', '--lease', '1'],
     '--lease cannot be shorter than --interval'),
]


@pytest.mark.parametrize('args,message', BAD_OPTIONS,
                         ids=[' '.join(a) for a, _ in BAD_OPTIONS])
def test_bad_options(tmpdir_short, args, message):
    """Bad options: exit status 1 and a line that names what is wrong."""
    meter = meter_in(tmpdir_short)
    res = run_powerd(powerd_cmd(meter, '--qmp', os.path.join(
        tmpdir_short, 'none-*.qmp'), '--count', '1')[1:] + args)
    assert res.returncode == 1, res
    assert message in res.stderr, res.stderr
    assert res.stderr.startswith('qemu-powerd: error: ')


@pytest.mark.parametrize('args,message', [
    (['--interval', '0.01'], "'0.01'"),
    (['--format', 'xml'], "'xml'"),
    (['--energy-source', 'nuclear'], "'nuclear'"),
], ids=['interval', 'format', 'energy-source'])
def test_bad_values(tmpdir_short, args, message):
    """A value out of range or not known: exit status 1, naming it."""
    meter = meter_in(tmpdir_short)
    res = run_powerd(powerd_cmd(meter, '--qmp', os.path.join(
        tmpdir_short, 'none-*.qmp'), '--once')[1:] + args)
    assert res.returncode == 1, res
    assert message in res.stderr, res.stderr


def test_exit_codes(tmpdir_short):
    """
    (Scenario h.)  The runtime failures of docs/qemu-powerd.rst, each
    with its status and a message on stderr: no VM found (2), libvirt
    unreachable (3), no energy source (4).
    """
    from machines import FakeQMP
    meter = meter_in(tmpdir_short)
    empty = os.path.join(tmpdir_short, 'empty')
    os.mkdir(empty)
    fake = FakeQMP(os.path.join(tmpdir_short, 'h-fake.qmp'), 'h-fake',
                   'good').start()
    try:
        cases = [
            (2, ['--qmp', os.path.join(tmpdir_short, 'none-*.qmp'),
                 '--energy-source', 'powercap', '--sysfs-root',
                 meter.root]),
            (3, ['--libvirt', 'qemu+unix:///system?socket=/nonexistent',
                 '--energy-source', 'estimate', '--sysfs-root',
                 meter.root]),
            (4, ['--qmp', fake.socket, '--energy-source', 'powercap',
                 '--sysfs-root', empty]),
        ]
        for status, args in cases:
            res = run_powerd(args + ['--once', '--interval', '0.5'])
            print(status, res.stderr.strip())
            assert res.returncode == status, res
            assert res.stderr.startswith('qemu-powerd: error: '), res
    finally:
        fake.stop()


def test_energy_that_does_not_move(tmpdir_short):
    """
    A RAPL tree whose counter stands still (the meter not started: its
    files keep their first value) measures nothing: exit status 4 with a
    message that says so and names the zone, rather than 0 W for every
    VM; within about a second as a daemon, and at the end of the one
    interval of --once.
    """
    from machines import FakeQMP
    meter = meter_in(tmpdir_short)
    energy = os.path.join(meter.dir, 'energy_uj')
    with open(energy) as f:
        before = f.read()
    res = run_powerd(powerd_cmd(meter, '--qmp', os.path.join(
        tmpdir_short, 'none-*.qmp'), '--interval', '0.2')[1:], timeout=10)
    print(res.stderr.strip())
    assert res.returncode == 4, res
    assert "(powercap: package-0) have not moved in 1." in res.stderr
    assert res.stdout.count('\n') <= 6, res.stdout    # 5 intervals at most
    fake = FakeQMP(os.path.join(tmpdir_short, 'e-fake.qmp'), 'e-fake',
                   'good').start()
    try:
        res = run_powerd(powerd_cmd(meter, '--qmp', fake.socket, '--once',
                                    '--interval', '0.5')[1:])
    finally:
        fake.stop()
    assert res.returncode == 4, res
    assert 'have not moved' in res.stderr and not res.stdout, res
    with open(energy) as f:
        assert f.read() == before           # it did stand still


def test_help_and_version():
    for opt in ('-h', '--help'):
        res = run_powerd([opt])
        assert res.returncode == 0
        assert res.stdout.startswith('Usage: qemu-powerd')
        assert '5  --state-file or --json-log cannot be read or' in res.stdout
    res = run_powerd(['--version'])
    assert res.returncode == 0
    assert 'systemd notification: ' in res.stdout


def test_files_are_runtime_failures(tmpdir_short):
    """
    A state file or JSON log that cannot be read or written is exit
    status 5 (worth a restart), not 1; the unreadable state is left alone.
    """
    meter = meter_in(tmpdir_short)
    qmp = os.path.join(tmpdir_short, 'none-*.qmp')
    state = os.path.join(tmpdir_short, 'state')
    os.mkdir(state)                     # a directory cannot be read
    res = run_powerd(powerd_cmd(meter, '--qmp', qmp, '--count', '1',
                                '--state-file', state)[1:])
    assert res.returncode == 5, res
    assert "Could not read state file '%s'" % state in res.stderr
    assert os.path.isdir(state)
    res = run_powerd(powerd_cmd(meter, '--qmp', qmp, '--count', '1',
                                '--json-log', os.path.join(
                                    tmpdir_short, 'no', 'log'))[1:])
    assert res.returncode == 5, res
    assert 'no/log' in res.stderr


def json_lines(proc, out, stop):
    """Read @proc's JSON lines into @out until EOF."""
    for line in proc.stdout:
        if line.strip():
            out.append(json.loads(line))
    stop.set()


def zone(line):
    return line['host']['zones'][0]


def vm_line(line, name):
    return next(v for v in line['vms'] if v['name'] == name)


def vm_joules(line, name):
    return vm_line(line, name)['zones'][0]['energy_joules']


def test_restart_keeps_energy_and_idle(tmpdir_short):
    """
    A daemon whose idle estimate converged (a VM stopped and continued
    every 3 s) is stopped with SIGTERM and started again over its state
    file: the first interval of the new one already uses the regression,
    within 1 W of the meter's idle power, and the energies go on from
    where they were, by the VM's true energy over that interval.
    """
    probe = kvm_probe()
    meter = meter_in(tmpdir_short)
    state = os.path.join(tmpdir_short, 'state')
    vms = {}
    for name in ('steady', 'toggle'):
        vms[name] = TinyVM(probe, tmpdir_short, name, 'spin', args=(
            '-qmp', 'unix:%s,server=on,wait=off'
            % os.path.join(tmpdir_short, name + '.qmp')))
        vms[name].launch()
        meter.track(name, vms[name].get_pid())
    done = threading.Event()

    def toggler():
        paused = False
        while not done.wait(3):
            vms['toggle'].cmd('cont' if paused else 'stop')
            paused = not paused
        if paused:
            vms['toggle'].cmd('cont')

    cmd = powerd_cmd(meter, '--qmp', os.path.join(tmpdir_short, '*.qmp'),
                     '--interval', '1', '--state-file', state,
                     '--state-interval', '1h')
    th = threading.Thread(target=toggler)
    meter.start()
    th.start()
    try:
        first, eof = [], threading.Event()
        d = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        threading.Thread(target=json_lines, args=(d, first, eof),
                         daemon=True).start()

        def settled(ln):
            return zone(ln)['idle_method'] == 'regression' and \
                zone(ln)['idle_uncertainty_watts'] < 0.5

        def converged():
            # ten in a row: one interval more would not undo it
            return len(first) >= 10 and all(settled(ln)
                                             for ln in first[-10:])
        wait_until(converged, 120, 'ten intervals of a converged idle '
                   'estimate', interval=0.2)
        # well inside --state-interval: only the exit writes the file
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=10)
        eof.wait(5)
        assert d.returncode == 0, d.stderr.read()
        with open(state) as f:
            text = f.read()
        print('state file, first lines:\n' + '\n'.join(
            ln[:160] for ln in text.splitlines()[:6]))
        saved = json.loads(text)
        assert saved['qemu-powerd-state'] == 2
        assert os.stat(state).st_mode & 0o777 == 0o600
        for row in saved['energy']:
            assert abs(row[5] - time.time()) < 60, row
        assert [z for z, pts in saved['idle']] == ['package-0']
        assert len(saved['idle'][0][1]) == len(first)

        done.set()
        th.join()
        second = run_powerd(cmd[1:] + ['--count', '3'], timeout=60)
        assert second.returncode == 0, second.stderr
        again = [json.loads(x) for x in second.stdout.splitlines()]
    finally:
        done.set()
        if th.is_alive():
            th.join()
        meter.stop()
        for vm in vms.values():
            vm.shutdown(hard=True)
    print('%d intervals before the restart; after it: %s' % (
        len(first), [(zone(ln)['idle_method'], round(zone(ln)['idle_watts'],
                                                     2)) for ln in again]))
    last, new = first[-1], again[0]
    print('before: idle %.2f W (%s); after: idle %.2f W (%s, +/- %.2f)'
          % (zone(last)['idle_watts'], zone(last)['idle_method'],
             zone(new)['idle_watts'], zone(new)['idle_method'],
             zone(new)['idle_uncertainty_watts']))
    assert zone(new)['idle_method'] == 'regression'
    assert abs(zone(new)['idle_watts'] - IDLE_W) < 1.0
    assert zone(new)['energy_joules'] > zone(last)['energy_joules']
    for name in vms:
        got = vm_joules(new, name) - vm_joules(last, name)
        t = new['time']
        true = meter.vm_joules(name, t - new['interval_s'], t)
        print('%s: %.2f J before, %.2f J after the restart: +%.2f J, '
              'true %.2f J' % (name, vm_joules(last, name),
                               vm_joules(new, name), got, true))
        assert vm_line(new, name)['status'] == 'ok'
        assert abs(got - true) <= 0.10 * true + 0.5


def state_rows(path):
    """The energy rows of state file @path: {(KIND, NAME, UUID, ZONE): J}."""
    with open(path) as f:
        return {tuple(row[:4]): row[4] for row in json.load(f)['energy']}


def energies(line):
    """Every cumulative energy of JSON line @line, keyed as in the state
    file: {(KIND, NAME, UUID, ZONE): J}."""
    out = {('host', '', '', z['zone']): z['energy_joules']
           for z in line['host']['zones']}
    for v in line['vms']:
        for z in v.get('zones') or []:
            out['vm', v['name'], v['uuid'], z['zone']] = z['energy_joules']
    return out


@pytest.mark.parametrize('kills', [2, pytest.param(
    5, marks=pytest.mark.stress)])
def test_kill9_keeps_energy(tiny, meters, tmpdir_short, daemons, kills):
    """
    (Scenario f; test-faults.sh state.)  qemu-powerd killed with SIGKILL
    @kills times, at moments drawn from a seed, its state file written
    every interval, and started again over it each time.  The state file
    holds what one of the last two lines printed for every VM (one
    without -name, named by its socket, among them) and zone, never more:
    what a kill loses is at most the last interval, no more than its true
    energy (the meter's).  After each restart every energy goes on from
    the file, by its true energy over the first interval (nothing for a
    VM new in it), and then grows by the VMs' and the zone's true energy.
    """
    import random
    from machines import (host_zone, measured_joules, vm_in,
                          vm_zone_joules)
    rnd = random.Random(7)
    iv = 0.5
    meter = meters(idle_watts=IDLE_W, watts_per_cpu=K_W)
    for name, guest in (('f-spin', 'spin'), ('f-halt', 'halt')):
        meter.track(name, tiny(name, guest).get_pid())
    meter.track('f-noname', tiny(None, 'half', sockets=[os.path.join(
        tmpdir_short, 'f-noname.qmp')]).get_pid())
    names = ('f-spin', 'f-halt', 'f-noname')
    state = os.path.join(tmpdir_short, 'state')
    args = ['--qmp', os.path.join(tmpdir_short, '*.qmp'), '--sysfs-root',
            meter.root, '--energy-source', 'powercap', '--format', 'json',
            '--idle-watts', str(IDLE_W), '--interval', str(iv),
            '--state-file', state, '--state-interval', str(iv)]
    runs, saved = [], []
    for k in range(kills):
        d = daemons(*args)
        wait_until(lambda: len(d.lines) >= 4 and all(
            v['status'] == 'ok' for v in d.lines[-1]['vms']), 20,
            'four lines, every VM measured')
        time.sleep(rnd.random() * iv)   # the moment of the kill, drawn
        d.kill(signal.SIGKILL)
        runs.append(d.lines)
        saved.append(state_rows(state))
    d = daemons(*args, '--count', '4')
    assert d.wait(30) == 0, d.stderr()
    runs.append(d.lines)
    meter_past(meter, d.lines[-1]['time'])
    assert vm_in(d.lines[-1], 'f-noname')['name'].endswith('/f-noname.qmp')

    for k, rows in enumerate(saved):
        before, after = runs[k], runs[k + 1][0]
        last = before[-1]
        t0 = last['time'] - last['interval_s']
        t1 = after['time'] - after['interval_s']
        for key, e in energies(last).items():
            # the value of the last line, or of the one before it
            back = [i for i, ln in enumerate(reversed(before[-2:]))
                    if abs(energies(ln).get(key, -1) - rows[key]) < 1e-6]
            lost = e - rows[key]
            if key[0] == 'host':
                true = meter.host_joules(t0, last['time'])
                most = true + meter.zone_tolerance(
                    true, true / last['interval_s'])
                true = meter.host_joules(t1, after['time'])
                tol = meter.zone_tolerance(true, true / after['interval_s'])
                lo, hi = true - tol, true + tol
                now = host_zone(after, key[3])['energy_joules']
            else:
                name = next(n for n in names if vm_in(last, n)['name'] ==
                            key[1])
                _, most = meter.vm_bounds(meter.vm_joules(
                    name, t0, last['time']), t0, last['time'])
                lo, hi = meter.vm_bounds(meter.vm_joules(
                    name, t1, after['time']), t1, after['time'])
                if vm_in(after, name)['status'] != 'ok':
                    lo = hi = 0
                now = vm_zone_joules(after, name, key[3])
            print('kill %d, %s %s: %.3f J at the kill, %.3f J saved (%s '
                  'lines back), %.3f J after the restart (%.3f..%.3f J '
                  'added)' % (k + 1, key[1] or 'host', key[3], e,
                              rows[key], back, now, lo, hi))
            assert back, key
            assert lost <= most, (key, lost, most)
            assert rows[key] + lo - 1e-6 <= now <= rows[key] + hi + 1e-6, \
                key
    for lines in runs:
        for name in names:
            got, true, t1, t2 = measured_joules(meter, lines, name)
            lo, hi = meter.vm_bounds(true, t1, t2)
            assert lo <= got <= hi, (name, got, lo, hi)

# SPDX-License-Identifier: GPL-2.0-or-later
#
# What the integration suite, make validate and make demo share: the KVM
# probe's answer, the Linux guest, QEMUs driven through QEMU's own python
# packages (qemu.machine, qemu.qmp from the tree we build), and the one way
# to wait here: until a condition holds, within a deadline.
import json
import os
import shlex
import subprocess
import sys
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.path.join(TOP, 'build')
QEMU = os.path.join(BUILD, 'qemu-system-x86_64')
# QEMU_POWERD: another build of qemu-powerd (to see a test fail on it)
POWERD = os.environ.get('QEMU_POWERD', os.path.join(BUILD, 'qemu-powerd'))
HELPER = os.path.join(BUILD, 'qemu-power-helper')
# Debian's own QEMU (7.2 on bookworm), installed with libvirt: a QEMU
# without the patch set, which qemu-powerd measures from /proc
STOCK_QEMU = '/usr/bin/qemu-system-x86_64'

sys.path.insert(0, os.path.join(BUILD, 'qemu', 'python'))

from qemu.machine import QEMUMachine  # noqa: E402


# Lines for the end of the pytest log (conftest.py prints them): the
# numbers a run measured, such as test_power_cap.py's settling times.
RESULTS = []


def wait_until(cond, timeout, what, interval=0.05):
    """cond()'s first true value, polled until @timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError('not within %.1f s: %s' % (timeout, what))
        time.sleep(interval)


def meter_past(meter, t):
    """Until @meter has recorded a tick after Unix time @t."""
    wait_until(lambda: meter.host.t and meter.host.t[-1] > t, 5,
               'the meter past %.3f' % t)


def kvm_probe(qemu=QEMU, linux=False):
    """
    scripts/kvm-probe.sh's answer: POWER_ACCEL, POWER_CPU, ...; with
    @linux, for the Linux guest (which it builds).
    """
    cmd = ['sh', os.path.join(TOP, 'scripts', 'kvm-probe.sh')] + \
        (['--linux'] if linux else []) + [qemu]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                         text=True).stdout
    return dict(w.split('=', 1) for w in shlex.split(out, comments=True))


def build_guest():
    """build/guest/{vmlinuz,initrd.gz}, built by scripts/build-guest.sh."""
    subprocess.run(['sh', os.path.join(TOP, 'scripts', 'build-guest.sh')],
                   check=True, stdout=subprocess.DEVNULL)
    d = os.path.join(BUILD, 'guest')
    return os.path.join(d, 'vmlinuz'), os.path.join(d, 'initrd.gz')


def thread_cpu_ns(pid, tid):
    """Run time of thread @tid of @pid from schedstat, in ns."""
    with open('/proc/%d/task/%d/schedstat' % (pid, tid)) as f:
        return int(f.read().split()[0])


# How far query-power's count of a vCPU may be from the scheduler's run
# time of its thread: task-clock and the scheduler are two clocks.
CLOCKS_AGREE = 0.05


def counts_agree(counted, sched, steal):
    """
    Whether a vCPU's @counted CPU/s matches its thread's @sched run time:
    within CLOCKS_AGREE, and above by up to the @steal of the same span
    too.  On a host that is itself a VM, task-clock runs on while the
    hypervisor below has the CPU, which the run time leaves out: steal
    can only make the count higher.
    """
    return (1 - CLOCKS_AGREE) * sched <= counted <= \
        (1 + CLOCKS_AGREE) * sched + steal


def vcpu_rates(query, pid, seconds):
    """
    Over @seconds, per vCPU of query() (a query-power return) of QEMU
    @pid: (counted, scheduler's) CPU seconds per second; the CPU seconds
    per second stolen from this host meanwhile; and the last answer.
    """
    from meter import host_steal_s
    a = query()
    steal0 = host_steal_s()
    s0 = {v['thread-id']: thread_cpu_ns(pid, v['thread-id'])
          for v in a['vcpus']}
    time.sleep(seconds)     # the span to measure over
    b = query()
    wall = (b['timestamp-ns'] - a['timestamp-ns']) / 1e9
    rates = []
    for va, vb in zip(a['vcpus'], b['vcpus']):
        tid = vb['thread-id']
        rates.append(((vb['count'] - va['count']) / 1e9 / wall,
                      (thread_cpu_ns(pid, tid) - s0[tid]) / 1e9 / wall))
    return rates, (host_steal_s() - steal0) / wall, b


def fd_count(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def status_field(pid, field):
    """A number of /proc/PID/status (VmRSS, Threads, ...), or None once
    the process is gone."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class LinuxVM(QEMUMachine):
    """
    A Linux guest (scripts/build-guest.sh) running @work on @smp vCPUs,
    with the accelerator and CPU model of @probe (kvm_probe(linux=True));
    launch() returns once the guest printed its ready line.
    """

    def __init__(self, probe, guest, tmpdir, name, work, smp='1',
                 mem=256, args=()):
        kernel, initrd = guest
        self.console_path = os.path.join(tmpdir, name + '.console')
        super().__init__(QEMU, name=name, base_temp_dir=tmpdir,
                         console_log=self.console_path, drain_console=True)
        self.work = work
        self.set_machine('q35')
        self.set_console()
        self.add_args('-accel', probe['POWER_ACCEL'],
                      '-cpu', probe['POWER_CPU'], '-smp', str(smp),
                      '-m', str(mem), '-name', name,
                      '-kernel', kernel, '-initrd', initrd,
                      '-append', 'console=ttyS0 quiet panic=-1 work=' + work,
                      '-no-reboot', *args)

    def console(self):
        try:
            with open(self.console_path, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def launch(self, timeout=120):
        super().launch()
        assert self.console_socket      # starts draining it into the log
        wait_until(lambda: 'qemu-power-guest: ready' in self.console(),
                   timeout, '%s: the guest\'s ready line (console: %r)'
                   % (self._name, self.console()[-500:]), interval=0.1)
        assert 'qemu-power-guest: error' not in self.console(), \
            self.console()

    def query_power(self):
        return self.qmp('query-power')['return']


def make_bios(guest, path):
    """The -bios image of tiny guest @guest (spin, halt, half, ...)."""
    subprocess.run(['sh', os.path.join(TOP, 'scripts', 'make-guest-bios.sh'),
                    guest, path], check=True)
    return path


class TinyVM(QEMUMachine):
    """A tiny firmware-free guest (tests/qtest/power/guest.S), 1 vCPU."""

    def __init__(self, probe, tmpdir, name, guest, args=(), qemu=QEMU):
        super().__init__(qemu, base_temp_dir=tmpdir)
        # one image per guest and folder: building one takes 0.3 s, which
        # a test starting hundreds of VMs (test_churn.py) would pay each time
        bios = os.path.join(tmpdir, 'bios-' + guest)
        if not os.path.exists(bios):
            make_bios(guest, bios + '.tmp')
            os.rename(bios + '.tmp', bios)
        self.set_machine('pc')
        self.add_args('-accel', probe['POWER_ACCEL'],
                      '-cpu', probe['POWER_CPU'], '-m', '16',
                      '-nodefaults', '-bios', bios, *args)
        if name is not None:
            # QEMU's option syntax: a comma is written twice
            self.add_args('-name', 'guest=' + name.replace(',', ',,'))


def domain_xml(probe, name, os_xml, vcpus=1, mem=64, devices='',
               qemu_args=(), perf_events=(), emulator=QEMU):
    """
    A transient libvirt domain of our QEMU (or @emulator), with the probe's
    accelerator and CPU model: the one builder of every test's and
    benchmark's XML.
    @qemu_args go on QEMU's command line (libvirt's qemu:commandline);
    libvirt's @perf_events (task_clock, ...) are enabled.
    """
    from xml.sax.saxutils import quoteattr
    perf = ''
    if perf_events:
        perf = '  <perf>%s</perf>\n' % ''.join(
            "<event name='%s' enabled='yes'/>" % e for e in perf_events)
    extra = ''
    if qemu_args:
        extra = '  <qemu:commandline>\n%s  </qemu:commandline>\n' % ''.join(
            '    <qemu:arg value=%s/>\n' % quoteattr(a) for a in qemu_args)
    return """<domain type='%s'
        xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>%s</name>
  <memory unit='MiB'>%d</memory>
  <vcpu>%d</vcpu>
  %s
  <os>
%s
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
%s  <devices>
    <emulator>%s</emulator>
%s
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
%s</domain>
""" % (probe['POWER_LIBVIRT_TYPE'], name, mem, vcpus,
       probe['POWER_LIBVIRT_CPU'], os_xml, perf, emulator, devices, extra)


def linux_domain_xml(probe, guest, name, work, console, vcpus=1, mem=256):
    """
    The Linux guest with @work, its serial console written to the file
    @console.
    """
    kernel, initrd = guest
    return domain_xml(probe, name, """    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>%s</kernel>
    <initrd>%s</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 work=%s</cmdline>"""
                      % (kernel, initrd, work), vcpus, mem,
                      "    <serial type='file'><source path='%s'/>"
                      "<target port='0'/></serial>" % console)


def tiny_domain_xml(probe, name, bios, **kw):
    """
    A tiny guest (make_bios()) as the domain's firmware, no disk; @kw as
    for domain_xml().
    """
    return domain_xml(probe, name, """    <type arch='x86_64' machine='pc'>hvm</type>
    <loader type='rom'>%s</loader>""" % bios, **kw)


class Libvirtd:
    """A private libvirtd (tests/integration/libvirtd.sh) on qemu:///system."""

    URI = 'qemu:///system'

    def __init__(self, directory):
        self.dir = directory
        self.script = os.path.join(TOP, 'tests', 'integration',
                                   'libvirtd.sh')
        self.domains = []
        self.defined = []

    def start(self):
        subprocess.run(['sh', self.script, 'start', self.dir], check=True)
        return self

    def virsh(self, *args):
        return subprocess.run(['virsh', '-q', '-c', self.URI] + list(args),
                              check=True, capture_output=True,
                              text=True).stdout

    def create(self, name, xml):
        path = os.path.join(self.dir, name + '.xml')
        with open(path, 'w') as f:
            f.write(xml)
        self.virsh('create', path)
        self.domains.append(name)

    def define(self, name, xml):
        """A persistent domain, defined and started; stop() undefines it
        if the test has not."""
        path = os.path.join(self.dir, name + '.xml')
        with open(path, 'w') as f:
            f.write(xml)
        self.virsh('define', path)
        self.defined.append(name)
        self.virsh('start', name)
        self.domains.append(name)

    def running(self):
        """The names of the running domains."""
        return self.virsh('list', '--name').split()

    def daemon_pid(self):
        """libvirtd's PID."""
        with open(os.path.join(self.dir, 'libvirtd.pid')) as f:
            return int(f.read())

    def stop_daemon(self, kill=False):
        """
        libvirtd alone stopped, with SIGTERM (libvirtd.sh stop) or SIGKILL,
        its domains left running; start() starts it again.
        """
        if not kill:
            subprocess.run(['sh', self.script, 'stop', self.dir], check=True)
            return
        pid = self.daemon_pid()
        os.kill(pid, 9)
        # reaped at once by its subreaper (subreaper.py)
        wait_until(lambda: not os.path.exists('/proc/%d' % pid), 10,
                   'libvirtd %d gone after SIGKILL' % pid)

    def qmp(self, name, cmd):
        out = self.virsh('qemu-monitor-command', name,
                         '{"execute":"%s"}' % cmd)
        return json.loads(out)['return']

    def pid(self, name):
        with open('/run/libvirt/qemu/%s.pid' % name) as f:
            return int(f.read())

    def stop(self):
        for name in self.domains:
            subprocess.run(['virsh', '-q', '-c', self.URI, 'destroy', name],
                           capture_output=True)
        for name in self.defined:
            subprocess.run(['virsh', '-q', '-c', self.URI, 'undefine', name],
                           capture_output=True)
        subprocess.run(['sh', self.script, 'stop', self.dir], check=True)


def powerd_on_meter(meter, qmp_glob, count, idle_watts=None, args=()):
    """
    qemu-powerd on the QMP sockets @qmp_glob for @count intervals of 1 s,
    with @meter's tree as RAPL and @args, while the meter runs: its JSON
    lines.
    """
    cmd = [POWERD, '--qmp', qmp_glob, '--sysfs-root', meter.root,
           '--energy-source', 'powercap', '--format', 'json',
           '--interval', '1', '--count', str(count)] + list(args)
    if idle_watts is not None:
        cmd += ['--idle-watts', str(idle_watts)]
    meter.start()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=count + 60)
        if res.returncode != 0:
            raise RuntimeError('qemu-powerd failed (%d): %s'
                               % (res.returncode, res.stderr))
        lines = [json.loads(x) for x in res.stdout.splitlines() if x.strip()]
        if lines:
            meter_past(meter, lines[-1]['time'])
    finally:
        meter.stop()
    return lines



def free_port():
    """A TCP port of 127.0.0.1 that nobody listens on just now."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def qmp_args(*paths):
    """QEMU arguments for a QMP server socket at each of @paths."""
    out = []
    for p in paths:
        out += ['-qmp', 'unix:%s,server=on,wait=off' % p]
    return out


class FakeQMP:
    """
    tests/integration/fake-qmp.py serving @case (a comma-separated
    sequence, one per query-power) on @socket, named @name; start()
    returns once it listens.
    """

    SCRIPT = os.path.join(TOP, 'tests', 'integration', 'fake-qmp.py')

    def __init__(self, socket_path, name, case):
        self.socket = socket_path
        self.pidfile = socket_path + '.pid'
        self.cmd = [sys.executable, self.SCRIPT, '--socket', socket_path,
                    '--name', name, '--case', case, '--pidfile',
                    self.pidfile]
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.cmd)
        wait_until(lambda: os.path.exists(self.pidfile) or
                   self.proc.poll() is not None, 10,
                   'fake-qmp.py listens on ' + self.socket)
        assert self.proc.poll() is None, self.cmd
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @staticmethod
    def cases():
        out = subprocess.run([sys.executable, FakeQMP.SCRIPT, '--list'],
                             check=True, capture_output=True, text=True)
        return out.stdout.split()


class Powerd:
    """
    qemu-powerd with @args in the background, its JSON lines collected
    as they are printed (self.lines) with their arrival times
    (self.arrived, monotonic), stderr kept in a file of @tmpdir.
    """

    def __init__(self, args, tmpdir, binary=POWERD):
        import itertools
        import threading
        self.lines, self.arrived = [], []
        for n in itertools.count():
            path = os.path.join(tmpdir, 'powerd-%d.err' % n)
            if not os.path.exists(path):
                break
        self.err = open(path, 'w+')
        self.proc = subprocess.Popen([binary] + list(args),
                                     stdout=subprocess.PIPE,
                                     stderr=self.err, text=True)
        self.pid = self.proc.pid
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                self.lines.append(json.loads(line))
                self.arrived.append(time.monotonic())

    def stderr(self):
        self.err.seek(0)
        return self.err.read()

    def wait(self, timeout):
        """The exit status, within @timeout seconds, all lines read."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError('qemu-powerd still runs after %.0f s: %s'
                                 % (timeout, self.stderr()[-1000:]))
        self._reader.join(10)
        return rc

    def wait_lines(self, n, what, timeout=20, after=None):
        """Until @n lines timed after Unix time @after (default: now)
        have come, within @timeout seconds: the last line."""
        after = time.time() if after is None else after
        wait_until(lambda: sum(ln['time'] > after for ln in
                               list(self.lines)) >= n, timeout,
                   '%d lines: %s' % (n, what))
        return self.lines[-1]

    def kill(self, sig=9):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait()
        self._reader.join(10)

    def close(self):
        self.kill()
        self.err.close()


class Helper:
    """
    qemu-power-helper (as root) on the socket @tmpdir/NAME.sock over the
    fake sysfs @root, its state file and log in @tmpdir; @args are more
    options (--allow-energy ..., --allow-policy ...).  start() returns
    once it says it is ready.
    """

    def __init__(self, tmpdir, root, args=(), name='helper', wrapper=()):
        self.sock = os.path.join(tmpdir, name + '.sock')
        self.state = os.path.join(tmpdir, name + '.state')
        self.logpath = os.path.join(tmpdir, name + '.log')
        self.cmd = list(wrapper) + [
            HELPER, '--socket', self.sock, '--sysfs-root', root,
            '--state-file', self.state] + list(args)
        self.proc = None

    def log(self):
        try:
            with open(self.logpath, errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def start(self):
        with open(self.logpath, 'a') as log:
            start = log.tell()
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError('qemu-power-helper exited with %d: %s'
                                     % (self.proc.returncode,
                                        self.log()[start:]))
            return 'qemu-power-helper: ready' in self.log()[start:]
        wait_until(ready, 10, 'qemu-power-helper ready')
        return self

    def request(self, cmd, args=None):
        """One request on a new connection: the reply's 'return', or
        AssertionError with its 'error'."""
        import socket
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(self.sock)
            f = s.makefile('rw')
            json.loads(f.readline())            # the greeting
            req = {'execute': cmd}
            if args is not None:
                req['arguments'] = args
            f.write(json.dumps(req) + '\n')
            f.flush()
            r = json.loads(f.readline())
        if 'return' not in r:
            raise AssertionError('%s: %s' % (cmd, r))
        return r['return']

    def stop(self, sig=15):
        """Signal it (SIGTERM: a clean stop) and return its status."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        return self.proc.wait(timeout=20)


def run_powerd(args, timeout=60, binary=POWERD):
    """qemu-powerd with @args to its end: the CompletedProcess."""
    return subprocess.run([binary] + list(args), capture_output=True,
                          text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def vm_in(line, name):
    """VM @name (or socket .../@name.qmp) of JSON line @line, or None."""
    for v in line['vms']:
        if v['name'] == name or v.get('socket', '').endswith(
                '/%s.qmp' % name):
            return v
    return None


def vm_zone_joules(line, name, zone='package-0'):
    """The cumulative energy of VM @name in @zone in JSON line @line."""
    for z in vm_in(line, name)['zones']:
        if z['zone'] == zone:
            return z['energy_joules']
    raise KeyError('%s has no zone %s' % (name, zone))


def host_zone(line, zone='package-0'):
    return next(z for z in line['host']['zones'] if z['zone'] == zone)


def parts_add_up(line, tol=1e-6):
    """The invariant of every line: watts = idle + VMs + unattributed +
    other, per zone (an invariant only: the truth is the meter's)."""
    for z in line['host']['zones']:
        vms = sum(vz['watts'] for v in line['vms']
                  for vz in v.get('zones') or [] if vz['zone'] == z['zone'])
        parts = z['idle_watts'] + z['unattributed_watts'] + \
            z['other_watts'] + vms
        assert abs(parts - z['watts']) < tol + 1e-6 * abs(z['watts']), \
            (z, vms)


def check_lines(lines, limit):
    """
    The invariants of every line of a run (invariants only: the truth is
    the meter's): parts_add_up(); no value negative, not finite or above
    @limit W; no VM above its zone's watts; a VM that is not ok has no
    watts and no share; a VM's energy never decreasing while it is listed
    (one that went away may come back from 0); time increasing.
    """
    import math

    def sane(x, what):
        assert isinstance(x, (int, float)) and math.isfinite(x) and \
            x >= -1e-6, what
        return x

    energy = {}
    for i, ln in enumerate(lines):
        at = 'line %d: ' % (i + 1)
        parts_add_up(ln)
        assert i == 0 or ln['time'] > lines[i - 1]['time'], at + 'time'
        watts = {}
        for z in ln['host']['zones']:
            for k in ('watts', 'idle_watts', 'unattributed_watts',
                      'other_watts', 'energy_joules'):
                sane(z[k], at + '%s %s' % (z['zone'], k))
            assert z['watts'] <= limit, at + str(z)
            watts[z['zone']] = z['watts']
        listed = set()
        for v in ln['vms']:
            key = (v['name'], v['uuid'])
            listed.add(key)
            what = at + 'VM %s' % v['name']
            share = sane(v['share'], what + ' share')
            assert share <= 1 + 1e-6, what
            assert v['status'] == 'ok' or share == 0, what
            for z in v.get('zones') or []:
                w = sane(z['watts'], what + ' watts')
                e = sane(z['energy_joules'], what + ' energy_joules')
                assert w <= watts[z['zone']] + 1e-6, (what, z)
                assert v['status'] == 'ok' or w == 0, (what, v)
                k = key + (z['zone'],)
                assert e >= energy.get(k, 0) - 1e-6, (what, z, energy[k])
                energy[k] = e
        for k in [k for k in energy if k[:2] not in listed]:
            del energy[k]


def measured_joules(meter, lines, name, since=0.0, zone='package-0'):
    """
    VM @name's energy as @lines (qemu-powerd's JSON lines) report it and
    as @meter has it, over the intervals after Unix time @since in which
    the VM was measured (status ok): (reported J, true J, first, last),
    first and last the times the intervals span.  An interval right after
    one the VM missed is left out of both: its rate is the average since
    the VM's last sample, the miss included, which is right over the two
    intervals and not over the last alone.
    """
    got = true = 0.0
    first = last = None
    prev = None
    for ln in lines:
        v = vm_in(ln, name)
        start = ln['time'] - ln['interval_s']
        if v is None or start < since:
            prev = None
            continue
        e = vm_zone_joules(ln, name, zone) if v.get('zones') else None
        if v['status'] == 'ok' and prev is not None and prev[0] == 'ok':
            got += e - prev[1]
            true += meter.vm_joules(name, start, ln['time'])
            first = start if first is None else first
            last = ln['time']
        prev = (v['status'], e)
    assert first is not None, '%s never measured after %.3f' % (name, since)
    return got, true, first, last

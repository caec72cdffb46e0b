# SPDX-License-Identifier: GPL-2.0-or-later
#
# Helpers shared by the benchmarks of tests/bench: where the binaries are,
# the tiny guests, QEMUs started directly or as domains of the private
# libvirtd (tests/integration/libvirtd.sh), CPU time and memory of a
# process, and a description of the machine for the JSON results.  The
# benchmarks run under any python3; the parts that need the libvirt module
# run under the interpreter libvirt_python() finds.
import functools
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BENCH = os.path.join(TOP, 'tests', 'bench')
sys.path.insert(0, os.path.join(TOP, 'tests', 'integration'))
import meter  # noqa: E402
QEMU = os.path.join(TOP, 'build', 'qemu-system-x86_64')
POWERD = os.path.join(TOP, 'build', 'qemu-powerd')
LIBVIRTD_SH = os.path.join(TOP, 'tests', 'integration', 'libvirtd.sh')
FAKE_RAPL = os.path.join(TOP, 'tests', 'integration', 'fake-rapl.py')
REF_POLLER = os.path.join(BENCH, 'ref-poller.py')
LIBVIRT_DIR = os.path.join(TOP, 'build', 'bench', 'libvirtd')
URI = 'qemu:///system'
# names of the benchmarks' domains: left over from an interrupted run, they
# are destroyed when the private libvirtd starts
DOMAIN_PREFIX = 'qpb-'


@functools.lru_cache(maxsize=None)
def probe():
    """
    scripts/kvm-probe.sh's answer for our QEMU: POWER_ACCEL, POWER_CPU,
    POWER_LIBVIRT_TYPE, POWER_LIBVIRT_CPU and POWER_PROBE (the reason).
    """
    out = subprocess.run(['sh', os.path.join(TOP, 'scripts', 'kvm-probe.sh'),
                          QEMU], check=True, capture_output=True,
                         text=True).stdout
    return dict(w.split('=', 1) for w in shlex.split(out, comments=True))


def wait_binaries(timeout=300):
    """
    Wait until QEMU and qemu-powerd run: while the tree is rebuilt they
    may be missing or half-linked for a while.
    """
    end = time.monotonic() + timeout
    for b in (QEMU, POWERD):
        while True:
            try:
                if subprocess.run([b, '--version'], capture_output=True,
                                  timeout=30).returncode == 0:
                    break
            except (OSError, subprocess.TimeoutExpired):
                pass
            if time.monotonic() > end:
                sys.exit('%s does not run; build it first (make)' % b)
            print('waiting for %s to be built' % b, flush=True)
            time.sleep(5)


def make_bios(tmp, guest):
    """The -bios image of tiny guest @guest (spin, half, halt, count)."""
    bios = os.path.join(tmp, guest + '.bios')
    if not os.path.exists(bios):
        subprocess.run(['sh', os.path.join(TOP, 'scripts',
                                           'make-guest-bios.sh'),
                        guest, bios], check=True)
    return bios


def libvirt_python():
    """A python3 that has the libvirt module, or None."""
    for py in (sys.executable, '/usr/bin/python3'):
        if os.path.exists(py) and subprocess.run(
                [py, '-c', 'import libvirt, libvirt_qemu'],
                capture_output=True).returncode == 0:
            return py
    return None


def powerd_mode(mode):
    """
    qemu-powerd's options for sampling mode @mode ('poll': query-power
    every interval; 'auto': POWER_SAMPLE events where QEMU can push them),
    or None if this qemu-powerd cannot.  A qemu-powerd without --mode
    only polls, so 'poll' then needs no option.
    """
    out = subprocess.run([POWERD, '--help'], capture_output=True,
                         text=True).stdout
    if '--mode' in out:
        return ['--mode', mode]
    return [] if mode == 'poll' else None


def machine():
    """What the numbers were measured on."""
    cpu = '?'
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    osname = '?'
    try:
        with open('/etc/os-release') as f:
            for line in f:
                if line.startswith('PRETTY_NAME='):
                    osname = line.split('=', 1)[1].strip().strip('"')
    except OSError:
        pass
    with open('/proc/meminfo') as f:
        mem_kb = int(f.readline().split()[1])
    with open('/proc/loadavg') as f:
        load = [float(x) for x in f.read().split()[:3]]
    return {'date': time.strftime('%Y-%m-%d %H:%M:%S %Z'),
            'host': platform.node(), 'kernel': platform.release(),
            'os': osname, 'cpu': cpu, 'cpus': os.cpu_count(),
            'mem_gib': round(mem_kb / 2**20, 1),
            'accel': probe()['POWER_ACCEL'], 'cpu_model': probe()['POWER_CPU'],
            'loadavg_at_start': load}


def write_json(path, result, mach):
    result = dict(result, machine=mach)
    with open(path, 'w') as f:
        json.dump(result, f, indent=2)
    print('\nwritten to %s' % path)


def start_qemu(tmp, name, bios, smp=1, mem=32, qmp=(), extra=()):
    """A daemonized QEMU with a QMP server on each path of @qmp: its PID."""
    pidf = os.path.join(tmp, name + '.pid')
    cmd = [QEMU, '-name', name, '-M', 'pc', '-accel', probe()['POWER_ACCEL'],
           '-cpu', probe()['POWER_CPU'],
           '-smp', str(smp), '-m', str(mem), '-nodefaults',
           '-display', 'none', '-bios', bios, '-pidfile', pidf,
           '-daemonize']
    for q in qmp:
        cmd += ['-qmp', 'unix:%s,server=on,wait=off' % q]
    subprocess.run(cmd + list(extra), check=True)
    with open(pidf) as f:
        return int(f.read())


class Qmp:
    """A QMP client on a UNIX socket; waits for QEMU to listen."""

    def __init__(self, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX)
        end = time.monotonic() + timeout
        while True:
            try:
                self.s.connect(path)
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
        self.f = self.s.makefile('rw')
        json.loads(self.f.readline())           # the greeting
        self.cmd('qmp_capabilities')

    def cmd(self, name, **args):
        self.f.write(json.dumps({'execute': name, 'arguments': args}) + '\n')
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if 'error' in r:
                raise RuntimeError('%s: %s' % (name, r['error']['desc']))
            if 'event' not in r:
                return r['return']

    def close(self):
        self.s.close()


def stop_pids(pids, timeout=20):
    """SIGTERM each QEMU of @pids and wait until all are gone."""
    for p in pids:
        try:
            os.kill(p, 15)
        except ProcessLookupError:
            pass
    end = time.monotonic() + timeout
    for p in pids:
        while os.path.exists('/proc/%d' % p) and time.monotonic() < end:
            time.sleep(0.05)


# Run time of a process's live threads in ns (schedstat), or None.
cpu_ns = meter.process_cpu_ns


def status_kb(pid, key):
    """A 'kB' field of /proc/PID/status (VmRSS, VmHWM), or None."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Libvirtd:
    """The private libvirtd of tests/integration/libvirtd.sh."""

    def __init__(self):
        self.pid = None

    def __enter__(self):
        subprocess.run(['sh', LIBVIRTD_SH, 'start', LIBVIRT_DIR],
                       check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(LIBVIRT_DIR, 'libvirtd.pid')) as f:
            self.pid = int(f.read())
        self.names = []
        # The daemon takes over the running domains it finds in
        # /run/libvirt: ours are left-overs, others' are polled too by
        # whatever polls all domains, and the results say so.
        out = subprocess.run(['virsh', '-q', '-c', URI, 'list', '--name'],
                             capture_output=True, text=True).stdout.split()
        self.foreign = [n for n in out if not n.startswith(DOMAIN_PREFIX)]
        for name in out:
            if name.startswith(DOMAIN_PREFIX):
                self.destroy(name)
        if self.foreign:
            print('benchlib: warning: other domains run too, and are polled '
                  'with ours: %s' % ' '.join(self.foreign))
        return self

    def __exit__(self, *exc):
        self.destroy_all()
        subprocess.run(['sh', LIBVIRTD_SH, 'stop', LIBVIRT_DIR],
                       stdout=subprocess.DEVNULL)

    def create(self, tmp, name, bios, vcpus=1, mem=32, qemu_args=()):
        """A transient domain of our QEMU, perf task_clock enabled."""
        ns = " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"
        cmdline = ''
        if qemu_args:
            cmdline = '  <qemu:commandline>\n%s  </qemu:commandline>\n' % \
                ''.join("    <qemu:arg value='%s'/>\n" % a for a in qemu_args)
        xml = os.path.join(tmp, name + '.xml')
        with open(xml, 'w') as f:
            f.write("""<domain type='%s'%s>
  <name>%s</name><memory unit='MiB'>%d</memory><vcpu>%d</vcpu>
  %s
  <os><type arch='x86_64' machine='pc'>hvm</type>
      <loader type='rom'>%s</loader></os>
  <perf><event name='task_clock' enabled='yes'/></perf>
  <devices><emulator>%s</emulator>
    <controller type='usb' model='none'/><memballoon model='none'/>
  </devices>
%s</domain>
""" % (probe()['POWER_LIBVIRT_TYPE'], ns, name, mem, vcpus,
                probe()['POWER_LIBVIRT_CPU'], bios,
                QEMU, cmdline))
        subprocess.run(['virsh', '-q', '-c', URI, 'create', xml],
                       check=True, capture_output=True)
        self.names.append(name)
        return self.qemu_pid(name)

    def destroy(self, name):
        subprocess.run(['virsh', '-q', '-c', URI, 'destroy', name],
                       capture_output=True)
        if name in self.names:
            self.names.remove(name)

    def destroy_all(self):
        for name in list(self.names):
            self.destroy(name)

    @staticmethod
    def qemu_pid(name):
        with open('/run/libvirt/qemu/%s.pid' % name) as f:
            return int(f.read())

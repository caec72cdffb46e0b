# SPDX-License-Identifier: GPL-2.0-or-later
#
# Helpers shared by the benchmarks of tests/bench, on the integration
# suite's own (tests/integration/machines.py, meter.py): where the
# binaries are, the probe's answer, the tiny guests, QEMUs started
# directly (many at once, without a QMP connection each) or as domains of
# the private libvirtd with the one domain-XML builder, the meter's fake
# RAPL tree, CPU time and memory of a process, and a description of the
# machine for the JSON results.  The parts that need the libvirt module run
# under the interpreter libvirt_python() finds.
import functools
import json
import os
import platform
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BENCH = os.path.join(TOP, 'tests', 'bench')
sys.path.insert(0, os.path.join(TOP, 'tests', 'integration'))
import machines  # noqa: E402
import meter  # noqa: E402
QEMU = machines.QEMU
POWERD = machines.POWERD
REF_POLLER = os.path.join(BENCH, 'ref-poller.py')
LIBVIRT_DIR = os.path.join(TOP, 'build', 'bench', 'libvirtd')
URI = machines.Libvirtd.URI
# names of the benchmarks' domains: left over from an interrupted run, they
# are destroyed when the private libvirtd starts
DOMAIN_PREFIX = 'qpb-'


@functools.lru_cache(maxsize=None)
def probe():
    """
    scripts/kvm-probe.sh's answer for our QEMU: POWER_ACCEL, POWER_CPU,
    POWER_LIBVIRT_TYPE, POWER_LIBVIRT_CPU and POWER_PROBE (the reason).
    """
    return machines.kvm_probe()


def fake_rapl(root):
    """
    The meter's package zone on @root (its power follows the host's
    load), started; the caller stops it.  Every method reads it each
    round, as it would read RAPL.
    """
    return meter.Meter(root, period=0.1).start()


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
        machines.make_bios(guest, bios)
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


def qmp(path, timeout=10):
    """A QMP connection (qemu.qmp) to the socket @path, once it listens."""
    from qemu.qmp.legacy import QEMUMonitorProtocol
    machines.wait_until(lambda: os.path.exists(path), timeout,
                        'QEMU listens on ' + path)
    q = QEMUMonitorProtocol(path)
    q.connect()
    return q


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


def cpu_total_s(pid):
    """
    CPU time of process @pid in s, the threads that have exited included
    (utime + stime of /proc/PID/stat, to the clock tick), or None once it
    is gone: for a process whose worker threads come and go, whose run
    time cpu_ns() would lose with them.
    """
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


# A field of /proc/PID/status (VmRSS, VmHWM in kB), or None.
status_kb = machines.status_field


class Libvirtd(machines.Libvirtd):
    """
    The private libvirtd of the integration suite, as a context manager
    that destroys the benchmarks' domains left over from an interrupted
    run and tells of others' (which whatever polls all domains polls too).
    """

    def __init__(self):
        super().__init__(LIBVIRT_DIR)
        self.libvirtd_pid = None
        self.foreign = []

    def __enter__(self):
        self.start()
        with open(os.path.join(LIBVIRT_DIR, 'libvirtd.pid')) as f:
            self.libvirtd_pid = int(f.read())
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
        self.stop()

    def create(self, tmp, name, bios, vcpus=1, mem=32, qemu_args=()):
        """
        A transient domain of our QEMU with perf task_clock enabled (for
        libvirt's bulk stats): its QEMU's PID.
        """
        super().create(name, machines.tiny_domain_xml(
            probe(), name, bios, qemu_args=qemu_args, vcpus=vcpus, mem=mem,
            perf_events=('task_clock',)))
        return self.pid(name)

    def destroy(self, name):
        subprocess.run(['virsh', '-q', '-c', URI, 'destroy', name],
                       capture_output=True)
        if name in self.domains:
            self.domains.remove(name)

# SPDX-License-Identifier: GPL-2.0-or-later
#
# The ground truth of the tests and of make validate: a fake RAPL package
# zone (a powercap tree under a directory that stands for /sys) whose
# energy follows a known power model of measured CPU time,
#
#     host power = idle W + k W per busy CPU
#
# so that the true power of a VM is k x the CPU time of its QEMU's threads.
# The host's busy CPU time is the root cgroup's CPU usage (every task),
# each VM's the run time of its QEMU's threads from
# /proc/PID/task/*/schedstat: both measured here, independently of
# qemu-powerd and of QEMU's own counters.  The meter runs in a thread of
# the caller and records every VM's CPU time at each tick, so that a test
# can ask for the true energy of a VM between any two times of a run.
# Like the host's /sys, the tree also shows the root cgroup's CPU usage
# (ROOT/fs/cgroup/cpuacct/cpuacct.usage, the value the meter read), where
# qemu-powerd takes the host's work from.  For the tests of the counter's
# wraparound and of a second zone, the zone's max_energy_range_uj can be
# made small and a "dram" sub-zone of constant power added.
import bisect
import os
import threading
import time

MAX_RANGE = 262143328850        # a real package zone's max_energy_range_uj
CPUACCT = '/sys/fs/cgroup/cpuacct/cpuacct.usage'
CGROUP2_STAT = '/sys/fs/cgroup/cpu.stat'


def write_atomic(path, text):
    tmp = '%s.tmp.%d' % (path, os.getpid())
    with open(tmp, 'w') as f:
        f.write(text)
    os.rename(tmp, path)


def host_busy_ns():
    """CPU time of every task on the host, in ns."""
    try:
        with open(CPUACCT, 'rb') as f:
            return int(f.read())
    except OSError:
        pass
    with open(CGROUP2_STAT) as f:
        for line in f:
            if line.startswith('usage_usec '):
                return int(line.split()[1]) * 1000
    raise OSError('no usage_usec in ' + CGROUP2_STAT)


def host_steal_s():
    """CPU time the hypervisor under this host took from it (steal), s."""
    with open('/proc/stat') as f:
        v = f.readline().split()
    return int(v[8]) / os.sysconf('SC_CLK_TCK') if len(v) > 8 else 0.0


def process_cpu_ns(pid):
    """Run time of all threads of process @pid, in ns; None once it is gone."""
    total = 0
    try:
        tids = os.listdir('/proc/%d/task' % pid)
    except OSError:
        return None
    for tid in tids:
        try:
            with open('/proc/%d/task/%s/schedstat' % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass                        # the thread just exited
    return total


class Series:
    """A cumulative quantity sampled over time, interpolated linearly."""

    def __init__(self):
        self.t, self.v = [], []

    def add(self, t, v):
        self.t.append(t)
        self.v.append(v)

    def at(self, t):
        """The value at time @t; ValueError outside what was recorded."""
        i = bisect.bisect_left(self.t, t)
        if not self.t:
            raise ValueError('nothing recorded')
        if i == len(self.t) or (i == 0 and self.t[0] != t):
            raise ValueError('time %.3f is outside the recorded %.3f..%.3f'
                             % (t, self.t[0], self.t[-1]))
        if self.t[i] == t:
            return self.v[i]
        t0, t1, v0, v1 = self.t[i - 1], self.t[i], self.v[i - 1], self.v[i]
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0)

    def rate(self, t1, t2):
        """Growth per second from @t1 to @t2; None outside the record."""
        try:
            return (self.at(t2) - self.at(t1)) / (t2 - t1)
        except ValueError:
            return None


class Meter:
    """
    The fake zone ROOT/class/powercap/intel-rapl:0 ("package-0"), advanced
    every @period seconds from the power model.  Times are Unix times, as
    in qemu-powerd's JSON.
    """

    def __init__(self, root, idle_watts=10.0, watts_per_cpu=20.0,
                 period=0.02, max_range=MAX_RANGE, dram_watts=None,
                 only_vms=False, realtime=True):
        self.root = root
        # @realtime: the meter's thread asks for real-time priority;
        # self.realtime says whether it got it
        self.want_realtime = realtime
        self.realtime = False
        # @only_vms: the host's busy time is that of the VMs tracked, as
        # if nothing else ran here, so that its utilisation is what the
        # test makes it, whatever else loads this machine
        self.only_vms = only_vms
        # a small @max_range makes the counter wrap within a test;
        # @dram_watts adds a "dram" sub-zone of that constant power
        self.max_range = max_range
        self.dram_watts = dram_watts
        self.joules = Series()          # package energy, not wrapped
        self.wraps = []                 # Unix times of package wraps
        self._wrapped = 0
        self.idle = idle_watts
        self.k = watts_per_cpu
        self.period = period
        self.dir = os.path.join(root, 'class', 'powercap', 'intel-rapl:0')
        self.vms = {}                   # name -> (pid, Series of CPU ns)
        self.host = Series()            # host busy CPU ns
        self.steal = Series()           # host steal time, s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self.paused = False             # the energy file stops moving
        self.usage = os.path.join(root, 'fs', 'cgroup', 'cpuacct',
                                  'cpuacct.usage')
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(os.path.dirname(self.usage), exist_ok=True)
        write_atomic(os.path.join(self.dir, 'name'), 'package-0\n')
        write_atomic(os.path.join(self.dir, 'max_energy_range_uj'),
                     '%d\n' % max_range)
        self.dram = os.path.join(root, 'class', 'powercap', 'intel-rapl:0:0')
        if dram_watts is not None:
            os.makedirs(self.dram, exist_ok=True)
            write_atomic(os.path.join(self.dram, 'name'), 'dram\n')
            write_atomic(os.path.join(self.dram, 'max_energy_range_uj'),
                         '%d\n' % max_range)
        self._t0 = time.monotonic()
        self._b0 = self._busy()
        self._write(self._t0, self._b0)

    def _busy(self):
        if not self.only_vms:
            return host_busy_ns()
        # every VM's CPU time since it was tracked (the last known, for
        # one that has gone)
        busy = 0
        with self._lock:
            vms = [(pid, s.v[0], s.v[-1]) for pid, s in self.vms.values()
                   if s.v]
        for pid, first, last in vms:
            busy += (process_cpu_ns(pid) or last) - first
        return busy

    def busy_source(self):
        """Where the host's busy time comes from, in words."""
        if self.only_vms:
            return 'the VMs tracked'
        return CPUACCT if os.path.exists(CPUACCT) else CGROUP2_STAT

    def track(self, name, pid):
        """
        Record the CPU time of QEMU process @pid as VM @name, from now
        on: a first point at once, not at the next tick, so that a
        daemon started right after has no interval before the record.
        """
        series = Series()
        c = process_cpu_ns(pid)
        if c is not None:
            series.add(time.time(), c)
        with self._lock:
            self.vms[name] = (pid, series)

    def _write(self, mono, busy):
        write_atomic(self.usage, '%d\n' % busy)
        uj = 1000000 + self.idle * 1e6 * (mono - self._t0) + \
            self.k * (busy - self._b0) / 1e3
        write_atomic(os.path.join(self.dir, 'energy_uj'),
                     '%d\n' % (int(uj) % (self.max_range + 1)))
        if self.dram_watts is not None:
            dj = 1000000 + self.dram_watts * 1e6 * (mono - self._t0)
            write_atomic(os.path.join(self.dram, 'energy_uj'),
                         '%d\n' % (int(dj) % (self.max_range + 1)))
        return uj

    def tick(self):
        mono, busy, now = time.monotonic(), self._busy(), time.time()
        uj = self._write(mono, busy) if not self.paused else None
        steal = host_steal_s()
        with self._lock:
            self.host.add(now, busy)
            self.steal.add(now, steal)
            if uj is not None:
                n = int(uj) // (self.max_range + 1)
                if self.joules.v and n > self._wrapped:
                    self.wraps.append(now)
                self._wrapped = n
                self.joules.add(now, uj / 1e6)
            for pid, series in self.vms.values():
                c = process_cpu_ns(pid)
                if c is not None:
                    series.add(time.time(), c)

    def _run(self):
        # The meter stands for hardware, which the host's load does not
        # hold up: real-time priority for this thread, where allowed.
        if self.want_realtime:
            try:
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
                self.realtime = True
            except OSError:
                pass
        n = 0
        while not self._stop.is_set():
            self.tick()
            n += 1
            self._stop.wait(max(0.0, self._t0 + n * self.period -
                                time.monotonic()))

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join()

    def vm_joules(self, name, t1, t2):
        """True energy of VM @name between Unix times @t1 and @t2."""
        with self._lock:
            s = self.vms[name][1]
            return self.k * (s.at(t2) - s.at(t1)) / 1e9

    def active_joules(self, t1, t2):
        """True active energy of the whole host between @t1 and @t2."""
        with self._lock:
            return self.k * (self.host.at(t2) - self.host.at(t1)) / 1e9

    def host_joules(self, t1, t2):
        """True energy of the package zone between @t1 and @t2."""
        with self._lock:
            return self.joules.at(t2) - self.joules.at(t1)

    def host_busy_s(self, t1, t2):
        """CPU seconds of every task on the host between @t1 and @t2."""
        with self._lock:
            return (self.host.at(t2) - self.host.at(t1)) / 1e9

    def steal_s(self, t1, t2):
        """CPU seconds stolen from this host between @t1 and @t2."""
        with self._lock:
            return self.steal.at(t2) - self.steal.at(t1)

    def vm_bounds(self, true, t1, t2, watts_per_cpu=None):
        """
        The range a VM's reported energy between @t1 and @t2 may take
        around its @true energy, for energy at @watts_per_cpu per busy CPU
        (default: this meter's).  Over a whole run the error is what the
        meter and QEMU read at slightly different moments (a few ms of CPU
        at each end) and the meter's ticks (20 ms): well under 2 %.  5 %
        leaves room for a loaded host (the meter thread late by a tick or
        two); 15 ms of one CPU for a halted VM, whose truth is close to 0.
        Above, also the CPU time stolen from this host meanwhile (0 on bare
        metal) while the VM ran: on a host that is itself a VM, a vCPU
        thread's task-clock (what QEMU counts) goes on while the hypervisor
        below has the CPU, and its run time here (the truth) does not, so
        steal can only make the report higher.  A VM counted twice or 10 %
        high, or given the idle power, or an interval one sample long, is
        off by more.
        """
        w = self.k if watts_per_cpu is None else watts_per_cpu
        slack = 0.05 * true + w * 0.015
        # the steal a VM's threads can have seen: the host's, in the
        # proportion of the host's busy time that was theirs (twice that,
        # as steal falls on the busy CPUs), never more than the host's
        cpu, busy = true / w, self.host_busy_s(t1, t2)
        share = min(1.0, 2 * cpu / busy) if busy > 0 else 1.0
        return true - slack, true + slack + w * self.steal_s(t1, t2) * share

    def zone_tolerance(self, joules, watts):
        """
        How far a zone's reported energy may be from its true @joules at
        @watts: the energy_uj the daemon reads may lag the meter's record
        by a tick at each end (period x watts), and 1 % for the meter's
        tick jitter on a loaded host.
        """
        return 0.01 * joules + 2 * self.period * watts

    def vm_cpu_s(self, name, t1, t2):
        """CPU seconds of VM @name's QEMU between @t1 and @t2."""
        with self._lock:
            s = self.vms[name][1]
            return (s.at(t2) - s.at(t1)) / 1e9

# SPDX-License-Identifier: GPL-2.0-or-later
#
# The closed-loop meter of test_power_cap.py: a meter.Meter whose power
# answers the host knobs that qemu-power-helper writes in the same fake
# tree (hostqmp.fake_host's cpufreq and powercap files),
#
#     P = idle + k x (CPU really used, measured) x f
#
# with f the CPUs' mean scaling_max_freq over cpuinfo_max_freq, then
# clamped by the package's RAPL long-term limit when the zone enforces
# it, but never below the power at cpuinfo_min_freq: RAPL holds a limit
# by lowering the frequency, and cannot go lower than the lowest one.
# The CPU used is what the VMs' QEMUs really ran (schedstat), so that CPU
# bandwidth taken from a VM shows in the power as it would on a host.
# Energy is integrated tick by tick, and each tick's power is recorded.
import glob
import os
import time

from meter import Meter, Series, write_atomic

CPUFREQ = 'devices/system/cpu/cpu*/cpufreq/'
PSTATE = 'devices/system/cpu/intel_pstate/'
ZONE = 'class/powercap/intel-rapl:0/'


def read_int(path):
    with open(path) as f:
        return int(f.read())


class CappedMeter(Meter):
    """A Meter (only_vms) on ROOT, a tree with cpufreq and RAPL limits."""

    def __init__(self, root, **kw):
        self._last = None
        self._acc = 1e6
        self.power = Series()           # watts of each tick
        self.cpufreq = sorted(glob.glob(os.path.join(root, CPUFREQ)))
        self.zone = os.path.join(root, ZONE)
        self.pstate = os.path.join(root, PSTATE)
        super().__init__(root, only_vms=True, **kw)

    def freq(self):
        """
        (f, f at the lowest frequency): the CPUs' frequency factors, from
        cpufreq, or on a host without it from intel_pstate's
        max_perf_pct and min_perf_pct.
        """
        if not self.cpufreq and os.path.isdir(self.pstate):
            return (read_int(self.pstate + 'max_perf_pct') / 100,
                    read_int(self.pstate + 'min_perf_pct') / 100)
        f = fmin = 0.0
        for d in self.cpufreq:
            top = read_int(d + 'cpuinfo_max_freq')
            f += read_int(d + 'scaling_max_freq') / top
            fmin += read_int(d + 'cpuinfo_min_freq') / top
        n = len(self.cpufreq) or 1
        return (f / n, fmin / n) if self.cpufreq else (1.0, 1.0)

    def limit_watts(self):
        """The enforced long-term limit, or None."""
        try:
            if read_int(self.zone + 'enabled') != 1:
                return None
            return read_int(self.zone + 'constraint_0_power_limit_uw') / 1e6
        except OSError:
            return None

    def model_watts(self, cpus):
        """The power at @cpus CPUs used, under the knobs as they are."""
        f, fmin = self.freq()
        p = self.idle + self.k * cpus * f
        limit = self.limit_watts()
        if limit is not None:
            p = max(min(p, limit), self.idle + self.k * cpus * fmin)
        return p

    def _write(self, mono, busy):
        write_atomic(self.usage, '%d\n' % busy)
        if self._last is not None:
            m0, b0 = self._last
            dt = mono - m0
            if dt > 0:
                p = self.model_watts((busy - b0) / 1e9 / dt)
                self._acc += p * dt * 1e6
                self.power.add(time.time(), p)
        self._last = (mono, busy)
        write_atomic(os.path.join(self.dir, 'energy_uj'),
                     '%d\n' % (int(self._acc) % (self.max_range + 1)))
        return self._acc

    def watts(self, t1, t2):
        """The true mean power between Unix times @t1 and @t2."""
        return self.host_joules(t1, t2) / (t2 - t1)

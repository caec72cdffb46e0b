#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# fake-rapl.py: a fake powercap tree for the qemu-powerd integration tests
# (test-powerd.sh), on hosts without RAPL.  It creates
# ROOT/class/powercap/intel-rapl:0 ("package-0") and, with --dram-watts,
# intel-rapl:0:0 ("dram"), and then advances each zone's energy_uj at a
# fixed rate in watts, rewriting it every --period seconds atomically
# (a temporary file renamed over it in the same directory).  The value is
# a function of the time since start only, so runs are deterministic:
#   energy = (start + watts * 1e6 * seconds) mod (max_energy_range_uj + 1)
# --wrap-in S places the start value so that the counter wraps S seconds
# after start; --info writes the Unix times of the start and of the wrap.
# Runs in the foreground until SIGTERM or SIGINT (the test starts it with
# & and kills that PID); --pidfile writes its PID.  --init-only writes the
# tree once and exits.
import argparse
import json
import os
import signal
import sys
import time

MAX_RANGE = 262143328850        # a real package zone's max_energy_range_uj


def write_atomic(path, text):
    tmp = '%s.tmp.%d' % (path, os.getpid())
    with open(tmp, 'w') as f:
        f.write(text)
    os.rename(tmp, path)


class Zone:
    def __init__(self, root, dirname, name, watts, max_range, start):
        self.dir = os.path.join(root, 'class', 'powercap', dirname)
        self.watts = watts
        self.max_range = max_range
        self.start = start % (max_range + 1)
        os.makedirs(self.dir, exist_ok=True)
        write_atomic(os.path.join(self.dir, 'name'), name + '\n')
        write_atomic(os.path.join(self.dir, 'max_energy_range_uj'),
                     '%d\n' % max_range)
        self.value = None

    def update(self, seconds):
        uj = self.start + int(round(self.watts * 1e6 * seconds))
        self.value = uj % (self.max_range + 1)
        write_atomic(os.path.join(self.dir, 'energy_uj'),
                     '%d\n' % self.value)


def main():
    ap = argparse.ArgumentParser(description='fake RAPL energy driver')
    ap.add_argument('--root', required=True,
                    help='directory standing for /sys')
    ap.add_argument('--watts', type=float, default=60.0,
                    help='package-0 power (default 60)')
    ap.add_argument('--dram-watts', type=float,
                    help='also a dram sub-zone of this power')
    ap.add_argument('--period', type=float, default=0.05,
                    help='seconds between updates (default 0.05)')
    ap.add_argument('--max-range', type=int, default=MAX_RANGE,
                    help='max_energy_range_uj')
    ap.add_argument('--start-uj', type=int, default=1000000,
                    help='energy_uj at start (default 1000000)')
    ap.add_argument('--wrap-in', type=float,
                    help='start so that the counters wrap after S seconds')
    ap.add_argument('--pidfile', help='write the PID here')
    ap.add_argument('--info', help='write the start and wrap times (Unix'
                    ' time) here as JSON')
    ap.add_argument('--init-only', action='store_true',
                    help='write the tree once and exit')
    a = ap.parse_args()

    def start_for(watts):
        if a.wrap_in is None:
            return a.start_uj
        return a.max_range + 1 - int(round(watts * 1e6 * a.wrap_in))

    zones = [Zone(a.root, 'intel-rapl:0', 'package-0', a.watts,
                  a.max_range, start_for(a.watts))]
    if a.dram_watts is not None:
        zones.append(Zone(a.root, 'intel-rapl:0:0', 'dram', a.dram_watts,
                          a.max_range, start_for(a.dram_watts)))

    t0 = time.monotonic()
    wall0 = time.time()
    for z in zones:
        z.update(0)
    if a.info:
        write_atomic(a.info, json.dumps({
            'start_time': wall0, 'watts': a.watts,
            'wrap_time': None if a.wrap_in is None else wall0 + a.wrap_in}))
    if a.init_only:
        return
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    if a.pidfile:
        write_atomic(a.pidfile, '%d\n' % os.getpid())
    try:
        n = 0
        while not stop:
            n += 1
            # Sleep to the next tick of a fixed grid: no drift.
            delay = t0 + n * a.period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now = time.monotonic() - t0
            for z in zones:
                z.update(now)
    finally:
        if a.pidfile:
            try:
                os.unlink(a.pidfile)
            except OSError:
                pass


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Benchmark of the QEMU side, side by side in one run against the same
# QEMU binary (not a test: it prints what it measures, with ratios):
#
#  1. round trip of query-power vs query-status over a QMP UNIX socket,
#     N calls each, interleaved, for 1 and 8 vCPUs: mean and p99;
#  2. guest-visible cost of the counters: a guest counting in a loop
#     (the 'count' guest of tests/qtest/power/guest.S), its loops per
#     second with counters on (task-clock) vs counters=off, alternating.
#
# Usage: qmp-bench.py [--calls N] [--seconds S] [--json FILE]
import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
QEMU = os.path.join(TOP, 'build', 'qemu-system-x86_64')


class Vm:
    def __init__(self, tmp, guest, smp, extra=()):
        self.sock = os.path.join(tmp, 'qmp-%d.sock' % id(self))
        bios = os.path.join(tmp, guest + '.bios')
        if not os.path.exists(bios):
            subprocess.run(['sh', os.path.join(TOP, 'scripts',
                                               'make-guest-bios.sh'),
                            guest, bios], check=True)
        accel = 'kvm' if os.access('/dev/kvm', os.R_OK | os.W_OK) else 'tcg'
        self.proc = subprocess.Popen(
            [QEMU, '-M', 'pc', '-accel', accel, '-cpu', 'max',
             '-smp', str(smp), '-m', '64', '-nodefaults', '-display', 'none',
             '-bios', bios, '-qmp', 'unix:%s,server=on,wait=off' % self.sock]
            + list(extra))
        self.s = socket.socket(socket.AF_UNIX)
        for _ in range(200):
            try:
                self.s.connect(self.sock)
                break
            except OSError:
                time.sleep(0.05)
        self.f = self.s.makefile('rw')
        json.loads(self.f.readline())
        self.cmd('qmp_capabilities')

    def cmd(self, name, **args):
        self.f.write(json.dumps({'execute': name, 'arguments': args}) + '\n')
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if 'event' not in r:
                return r['return']

    def hmp(self, line):
        return self.cmd('human-monitor-command', **{'command-line': line})

    def close(self):
        try:
            self.cmd('quit')
        except (OSError, ValueError):
            pass
        self.proc.wait(10)


def round_trips(vm, calls):
    times = {'query-power': [], 'query-status': []}
    for _ in range(calls):
        for c in times:                     # interleaved: same conditions
            t = time.perf_counter_ns()
            vm.cmd(c)
            times[c].append((time.perf_counter_ns() - t) / 1000.0)
    out = {}
    for c, t in times.items():
        t.sort()
        out[c] = {'mean_us': statistics.mean(t),
                  'p99_us': t[int(len(t) * 0.99) - 1]}
    return out


def guest_loops(vm):
    # "0000000000000600: 0x12345678 0x00000000"
    words = vm.hmp('xp /2wx 0x600').split(':')[1].split()
    return int(words[0], 16) + (int(words[1], 16) << 32)


def loop_rate(tmp, counters, seconds):
    vm = Vm(tmp, 'count', 1,
            ['-object', 'host-power,id=hp0,counters=' + counters])
    time.sleep(0.5)                         # past start-up
    a, t0 = guest_loops(vm), time.monotonic()
    time.sleep(seconds)
    b, t1 = guest_loops(vm), time.monotonic()
    vm.close()
    return (b - a) / (t1 - t0)


def main():
    ap = argparse.ArgumentParser(
        description='query-power cost and counter overhead (see the file)')
    ap.add_argument('--calls', type=int, default=1000)
    ap.add_argument('--seconds', type=float, default=3)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--json')
    args = ap.parse_args()
    result = {'date': time.strftime('%Y-%m-%d %H:%M:%S'),
              'host': os.uname().nodename, 'cpus': os.cpu_count(),
              'qmp': {}, 'counters': {}}
    with tempfile.TemporaryDirectory() as tmp:
        print('QMP round trip, %d calls each, interleaved:' % args.calls)
        print('%6s %14s %14s %14s %14s %8s' % ('vCPUs', 'power mean us',
                                               'power p99 us',
                                               'status mean us',
                                               'status p99 us', 'ratio'))
        for smp in (1, 8):
            vm = Vm(tmp, 'halt', smp)
            rt = round_trips(vm, args.calls)
            vm.close()
            ratio = rt['query-power']['mean_us'] / \
                rt['query-status']['mean_us']
            result['qmp'][smp] = dict(rt, ratio=ratio)
            print('%6d %14.1f %14.1f %14.1f %14.1f %7.2fx' % (
                smp, rt['query-power']['mean_us'],
                rt['query-power']['p99_us'], rt['query-status']['mean_us'],
                rt['query-status']['p99_us'], ratio))
        print('\nGuest loops per second, %d rounds of %.1f s, alternating:'
              % (args.rounds, args.seconds))
        rates = {'task-clock': [], 'off': []}
        for _ in range(args.rounds):
            for c in rates:
                rates[c].append(loop_rate(tmp, c, args.seconds))
        on, off = statistics.mean(rates['task-clock']), \
            statistics.mean(rates['off'])
        overhead = 100.0 * (off - on) / off
        result['counters'] = {'on_loops_per_s': rates['task-clock'],
                              'off_loops_per_s': rates['off'],
                              'overhead_percent': overhead}
        print('  counters on (task-clock): %s  mean %.3g' % (
            ' '.join('%.3g' % r for r in rates['task-clock']), on))
        print('  counters off:             %s  mean %.3g' % (
            ' '.join('%.3g' % r for r in rates['off']), off))
        print('  on/off = %.4f, overhead %.2f%% (noise: spread of the '
              'rounds %.2f%%)' % (on / off, overhead,
                                  100.0 * (max(rates['off']) -
                                           min(rates['off'])) / off))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2)
        print('\nwritten to %s' % args.json)


if __name__ == '__main__':
    main()

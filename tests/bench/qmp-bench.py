#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Benchmark of the QEMU side, side by side in one run against the same
# QEMU binary (not a test: it prints what it measures, with ratios):
#
#  1. round trip of query-power vs query-status, N calls each, interleaved,
#     for 1 and 8 vCPUs, mean and p99:
#       direct   over a QMP UNIX socket (qemu.qmp, QEMU's Python client);
#       libvirt  through libvirt's QMP passthrough
#                (libvirt_qemu.qemuMonitorCommand, what qemu-powerd
#                --libvirt and 'virsh qemu-monitor-command' use) to a
#                domain of the private libvirtd, with libvirtd's CPU per
#                call;
#  2. guest-visible cost of the counters: a guest counting in a loop
#     (the 'count' guest of tests/qtest/power/guest.S), its loops per
#     second with counters on (task-clock) vs counters=off, alternating.
#
# Usage: qmp-bench.py [--calls N] [--seconds S] [--rounds R] [--no-libvirt]
#                     [--json FILE]
import argparse
import json
import statistics
import subprocess
import tempfile
import time

import benchlib

COMMANDS = ('query-power', 'query-status')

# Run by a python3 with the libvirt module: ARGV domain, calls.
LIBVIRT_LOOP = r'''
import json, sys, time, libvirt, libvirt_qemu
name, calls = sys.argv[1], int(sys.argv[2])
dom = libvirt.open('qemu:///system').lookupByName(name)
cmds = {c: json.dumps({'execute': c}) for c in ('query-power',
                                                'query-status')}
times = {c: [] for c in cmds}
for c in cmds:                          # warm-up
    libvirt_qemu.qemuMonitorCommand(dom, cmds[c], 0)
sys.stdout.write('go\n')
sys.stdout.flush()
sys.stdin.readline()
for _ in range(calls):
    for c in cmds:                      # interleaved: same conditions
        t = time.perf_counter_ns()
        libvirt_qemu.qemuMonitorCommand(dom, cmds[c], 0)
        times[c].append((time.perf_counter_ns() - t) / 1000.0)
print(json.dumps(times))
'''


class Vm(benchlib.machines.TinyVM):
    """A tiny guest through qemu.machine, its QMP connection the client."""

    def __init__(self, tmp, guest, smp, extra=()):
        super().__init__(benchlib.probe(), tmp, None, guest,
                         args=['-smp', str(smp)] + list(extra))
        self.launch()

    def hmp(self, line):
        return self.cmd('human-monitor-command', command_line=line)

    def close(self):
        self.shutdown()


def summary(times):
    out = {}
    for c, t in times.items():
        t = sorted(t)
        out[c] = {'mean_us': statistics.mean(t),
                  'p99_us': t[int(len(t) * 0.99) - 1]}
    out['ratio'] = out['query-power']['mean_us'] / \
        out['query-status']['mean_us']
    return out


def round_trips(vm, calls):
    times = {c: [] for c in COMMANDS}
    for _ in range(calls):
        for c in times:                     # interleaved: same conditions
            t = time.perf_counter_ns()
            vm.cmd(c)
            times[c].append((time.perf_counter_ns() - t) / 1000.0)
    return summary(times)


def libvirt_round_trips(lv, lv_python, tmp, smp, calls):
    name = benchlib.DOMAIN_PREFIX + 'qmp%d' % smp
    lv.create(tmp, name, benchlib.make_bios(tmp, 'halt'), vcpus=smp)
    try:
        p = subprocess.Popen([lv_python, '-c', LIBVIRT_LOOP, name,
                              str(calls)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        if p.stdout.readline() != 'go\n':
            raise RuntimeError('the libvirt client did not start')
        c0 = benchlib.cpu_ns(lv.libvirtd_pid)
        p.stdin.write('\n')
        p.stdin.flush()
        times = json.loads(p.stdout.read())
        c1 = benchlib.cpu_ns(lv.libvirtd_pid)
        if p.wait() != 0:
            raise RuntimeError('the libvirt client failed')
    finally:
        lv.destroy(name)
    out = summary(times)
    out['libvirtd_us_per_call'] = (c1 - c0) / 1000.0 / (2 * calls)
    return out


def guest_loops(vm):
    # "0000000000000600: 0x12345678 0x00000000"
    words = vm.hmp('xp /2wx 0x600').split(':')[1].split()
    return int(words[0], 16) + (int(words[1], 16) << 32)


def loop_rate(tmp, counters, seconds):
    vm = Vm(tmp, 'count', 1,
            ['-object', 'host-power,id=hp0,' +
             ('counters=off' if counters == 'off' else
              'counter-source=' + counters)])
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
    ap.add_argument('--no-libvirt', action='store_true')
    ap.add_argument('--json')
    args = ap.parse_args()
    benchlib.wait_binaries()
    mach = benchlib.machine()
    result = {'qmp': {}, 'libvirt': {}, 'counters': {}}
    lv_python = None if args.no_libvirt else benchlib.libvirt_python()
    with tempfile.TemporaryDirectory() as tmp:
        for smp in (1, 8):
            vm = Vm(tmp, 'halt', smp)
            result['qmp'][smp] = round_trips(vm, args.calls)
            vm.close()
        if lv_python:
            with benchlib.Libvirtd() as lv:
                result['foreign_domains'] = lv.foreign
                for smp in (1, 8):
                    result['libvirt'][smp] = libvirt_round_trips(
                        lv, lv_python, tmp, smp, args.calls)
        print('QMP round trip, %d calls each, interleaved (us):'
              % args.calls)
        print('%-8s %5s %11s %9s %12s %10s %6s %10s %9s' % (
            'path', 'vCPUs', 'power mean', 'power p99', 'status mean',
            'status p99', 'ratio', 'x direct', 'libvirtd'))
        for path in ('qmp', 'libvirt'):
            for smp, rt in result[path].items():
                direct = result['qmp'][smp]['query-power']['mean_us']
                lvd = '%9.1f' % rt['libvirtd_us_per_call'] \
                    if 'libvirtd_us_per_call' in rt else '%9s' % '-'
                print('%-8s %5d %11.1f %9.1f %12.1f %10.1f %5.2fx %9.2fx %s'
                      % ('direct' if path == 'qmp' else path, smp,
                         rt['query-power']['mean_us'],
                         rt['query-power']['p99_us'],
                         rt['query-status']['mean_us'],
                         rt['query-status']['p99_us'], rt['ratio'],
                         rt['query-power']['mean_us'] / direct, lvd))
        if not lv_python:
            print('(libvirt skipped: %s)' % (
                '--no-libvirt' if args.no_libvirt else
                'no python3 with the libvirt module'))
        print('ratio: query-power / query-status; x direct: query-power '
              'against direct QMP; libvirtd: its CPU us per call')
        print('\nGuest loops per second, %d rounds of %.1f s, alternating:'
              % (args.rounds, args.seconds))
        rates = {'task-clock': [], 'off': []}
        for _ in range(args.rounds):
            for c in rates:
                rates[c].append(loop_rate(tmp, c, args.seconds))
        on, off = statistics.mean(rates['task-clock']), \
            statistics.mean(rates['off'])
        overhead = 100.0 * (off - on) / off
        spread = 100.0 * (max(rates['off']) - min(rates['off'])) / off
        result['counters'] = {'on_loops_per_s': rates['task-clock'],
                              'off_loops_per_s': rates['off'],
                              'overhead_percent': overhead,
                              'spread_percent': spread}
        print('  counters on (task-clock): %s  mean %.3g' % (
            ' '.join('%.3g' % r for r in rates['task-clock']), on))
        print('  counters off:             %s  mean %.3g' % (
            ' '.join('%.3g' % r for r in rates['off']), off))
        print('  on/off = %.4f, overhead %.2f%% (noise: spread of the '
              'rounds %.2f%%)' % (on / off, overhead, spread))
    if args.json:
        benchlib.write_json(args.json, result, mach)


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# How qemu-powerd scales with the number of VMs (not a test: it prints what
# it measures).  Tiny halted VMs (1 vCPU, --mem MiB) are added until there
# are N = 1, 10, 25, 50 of them; at each N, qemu-powerd --qmp polls them
# (--mode poll) once a second for --count intervals, and we record its
# memory (VmRSS sampled every 0.25 s, and VmHWM at the end), its open file
# descriptors, its CPU time per second of polling (threads' run time, after
# the first interval), and the time of one poll round from its own output
# (poll_s).
#
# Usage: scaling-bench.py [--vms 1,10,25,50] [--count 8] [--json FILE]
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import benchlib


def measure(tmp, n, count):
    # to a file: a pipe read only at the end fills up at N = 50
    out = open(os.path.join(tmp, 'powerd-%d.json' % n), 'w+')
    p = subprocess.Popen([benchlib.POWERD, '--qmp',
                          os.path.join(tmp, '*.qmp'), '--energy-source',
                          'estimate', '--format', 'json', '--interval', '1',
                          '--count', str(count)] +
                         benchlib.powerd_mode('poll'),
                         stdout=out)
    rss, hwm, fds, cpu = [], None, 0, []
    while p.poll() is None:
        v = benchlib.status_kb(p.pid, 'VmRSS')
        h = benchlib.status_kb(p.pid, 'VmHWM')
        c = benchlib.cpu_ns(p.pid)
        try:
            fds = max(fds, len(os.listdir('/proc/%d/fd' % p.pid)))
        except OSError:
            pass
        if v is not None:
            rss.append(v)
        if h is not None:
            hwm = h
        if c is not None:
            cpu.append((time.time(), c))
        time.sleep(0.25)
    if p.returncode != 0:
        sys.exit('scaling-bench: qemu-powerd failed (%d)' % p.returncode)
    out.seek(0)
    lines = [json.loads(x) for x in out if x.strip()]
    out.close()
    polls = [x['poll_s'] * 1000 for x in lines[1:]]
    # CPU per second of steady polling: from the end of the first interval
    # (start-up connects to every VM) to the last sample
    steady = [x for x in cpu if x[0] >= lines[0]['time']]
    (ta, ca), (tb, cb) = steady[0], steady[-1]
    return {'vms': n,
            'ok': sum(v['status'] == 'ok' for v in lines[-1]['vms']),
            'rss_kib_mean': statistics.mean(rss), 'rss_kib_max': max(rss),
            'hwm_kib': hwm, 'fds': fds,
            'poll_ms_median': statistics.median(polls),
            'poll_ms_mean': statistics.mean(polls),
            'poll_ms_max': max(polls),
            'cpu_ms_per_s': (cb - ca) / 1e6 / (tb - ta)}


def main():
    ap = argparse.ArgumentParser(description='qemu-powerd memory and poll '
                                 'time from 1 to 50 VMs')
    ap.add_argument('--vms', default='1,10,25,50')
    ap.add_argument('--count', type=int, default=8,
                    help='intervals of 1 s at each N (default 8)')
    ap.add_argument('--mem', type=int, default=16,
                    help='MiB of guest RAM (default 16)')
    ap.add_argument('--json')
    args = ap.parse_args()
    counts = sorted(int(x) for x in args.vms.split(','))
    benchlib.wait_binaries()
    mach = benchlib.machine()
    results, pids = [], []
    with tempfile.TemporaryDirectory(prefix='scaling-bench-') as tmp:
        bios = benchlib.make_bios(tmp, 'halt')
        try:
            for n in counts:
                t = time.monotonic()
                while len(pids) < n:
                    i = len(pids)
                    pids.append(benchlib.start_qemu(
                        tmp, 'scale%d' % i, bios, mem=args.mem,
                        qmp=[os.path.join(tmp, 'vm%d.qmp' % i)]))
                print('N = %d: %d VMs started in %.1f s' % (
                    n, n, time.monotonic() - t), flush=True)
                time.sleep(1)
                results.append(measure(tmp, n, args.count))
        finally:
            benchlib.stop_pids(pids)

    print('\nqemu-powerd --qmp with N halted VMs (1 vCPU, %d MiB), %d '
          'intervals of 1 s:' % (args.mem, args.count))
    print('%4s %4s %9s %9s %9s %5s %11s %9s %9s %10s' % (
        'N', 'ok', 'RSS KiB', 'RSS max', 'HWM KiB', 'fds', 'poll ms med',
        'poll mean', 'poll max', 'CPU ms/s'))
    for r in results:
        print('%4d %4d %9.0f %9d %9d %5d %11.2f %9.2f %9.2f %10.2f' % (
            r['vms'], r['ok'], r['rss_kib_mean'], r['rss_kib_max'],
            r['hwm_kib'], r['fds'], r['poll_ms_median'], r['poll_ms_mean'],
            r['poll_ms_max'], r['cpu_ms_per_s']))
    if len(results) > 1:
        a, b = results[0], results[-1]
        dn = b['vms'] - a['vms']
        slope = {'rss_kib_per_vm': (b['hwm_kib'] - a['hwm_kib']) / dn,
                 'poll_ms_per_vm': (b['poll_ms_median'] -
                                    a['poll_ms_median']) / dn,
                 'cpu_ms_per_vm': (b['cpu_ms_per_s'] -
                                   a['cpu_ms_per_s']) / dn}
        print('per extra VM (N = %d to %d): %.1f KiB of memory (HWM), '
              '%.3f ms of poll round, %.3f ms of CPU per second' % (
                  a['vms'], b['vms'], slope['rss_kib_per_vm'],
                  slope['poll_ms_per_vm'], slope['cpu_ms_per_vm']))
    else:
        slope = None
    if args.json:
        benchlib.write_json(args.json, {'mem_mib': args.mem,
                                        'count': args.count,
                                        'results': results,
                                        'per_vm': slope}, mach)


if __name__ == '__main__':
    main()

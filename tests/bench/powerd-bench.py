#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Cost of polling N VMs (not a test: it prints what it measures, with
# ratios).  For N tiny halted VMs, each method of METHODS polls once a
# second for --seconds, alone, and over the steady part of that run (after
# 1.5 s of start-up, until 0.5 s before the end) we measure, from the
# threads' run times (schedstat):
#   - the poller's CPU, libvirtd's where libvirt is involved, and the extra
#     CPU of the QEMUs that answer (their CPU minus their rate over
#     --idle-seconds without any poller, measured before; roughly);
#   - per poll round: its time (poll_s, as the poller reports it) and its
#     CPU (the CPU above divided by the rounds the poller printed);
#   - per second: the same CPU per second of polling;
#   - the poller's peak memory (VmHWM).
# qemu-powerd polls (--mode poll, where it has --mode).
# Each method computes per-VM watts from the same fake powercap tree
# (the meter of tests/integration/meter.py): qemu-powerd, and the reference
# pollers of ref-poller.py, which are Python (qemu-powerd is C).
# Ratios are to powerd-qmp at the same N.
#
# Usage: powerd-bench.py [--vms 1,10,50] [--seconds 10] [--methods A,B]
#                        [--no-libvirt] [--json FILE]
import argparse
import collections
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time

import benchlib

# A method: its name, the VMs it polls ('qmp': QEMUs started directly with
# -qmp TMP/vmI.qmp; 'libvirt': domains of the private libvirtd), whether it
# is qemu-powerd, and its command line.  ctx has tmp, powerd and ref (the
# options every qemu-powerd or ref-poller.py run gets), poll (the options
# that make qemu-powerd poll) and lv_python.  A method prints qemu-powerd's
# JSON lines (time, poll_s, vms[].status).  Add a method here and it runs.
Method = collections.namedtuple('Method', 'name vms ours command')
METHODS = (
    Method('powerd-qmp', 'qmp', True, lambda ctx: [
        benchlib.POWERD, '--qmp', os.path.join(ctx.tmp, '*.qmp')]
        + ctx.poll + ctx.powerd),
    Method('proc-scan', 'qmp', False, lambda ctx: [
        sys.executable, benchlib.REF_POLLER, '--method', 'proc-scan',
        '--match', ctx.tmp] + ctx.ref),
    Method('powerd-libvirt', 'libvirt', True, lambda ctx: [
        benchlib.POWERD, '--libvirt', benchlib.URI] + ctx.poll
        + ctx.powerd),
    Method('bulk-stats', 'libvirt', False, lambda ctx: [
        ctx.lv_python, benchlib.REF_POLLER, '--method', 'bulk-stats']
        + ctx.ref),
)
BASE = 'powerd-qmp'                    # what the ratios divide by


def cpu_s(pids):
    return sum(benchlib.cpu_ns(p) or 0 for p in pids) / 1e9


def run(cmd, seconds, libvirtd_pid, qemu_pids):
    """
    Run a poller for @seconds; over its steady part: its CPU s, libvirtd's
    and the QEMUs', that part's start and end (Unix time), the poller's
    VmHWM in KiB and its output lines.
    """
    # to a file: a pipe read only at the end would fill up at N = 50
    out = tempfile.TemporaryFile('w+')
    p = subprocess.Popen(cmd, stdout=out)
    time.sleep(1.5)
    others = [libvirtd_pid] if libvirtd_pid else []
    t0, c0 = time.time(), cpu_s([p.pid])
    l0, q0 = cpu_s(others), cpu_s(qemu_pids)
    time.sleep(seconds - 2)
    t1, c1 = time.time(), cpu_s([p.pid])
    l1, q1 = cpu_s(others), cpu_s(qemu_pids)
    hwm = benchlib.status_kb(p.pid, 'VmHWM')
    if p.wait() != 0:
        sys.exit('powerd-bench: %s failed' % ' '.join(cmd))
    out.seek(0)
    lines = [json.loads(x) for x in out if x.strip()]
    out.close()
    return {'cpu_s': c1 - c0, 'libvirtd_s': l1 - l0, 'qemu_s': q1 - q0,
            't0': t0, 't1': t1, 'hwm_kib': hwm, 'lines': lines}


def idle_rate(qemu_pids, seconds):
    """CPU seconds per second of the QEMUs with no poller."""
    t, c = time.monotonic(), cpu_s(qemu_pids)
    time.sleep(seconds)
    return (cpu_s(qemu_pids) - c) / (time.monotonic() - t)


def result(m, n, r, qemu_idle):
    lines = r['lines']
    wall = r['t1'] - r['t0']
    rounds = sum(r['t0'] <= x['time'] < r['t1'] for x in lines) or 1
    qemu = max(0.0, r['qemu_s'] - qemu_idle * wall)
    cpu = r['cpu_s'] + r['libvirtd_s']
    polls = [x['poll_s'] for x in lines[1:]] or [lines[0]['poll_s']]
    return {'vms': n, 'method': m.name, 'ours': m.ours,
            'ok': sum(v['status'] == 'ok' for v in lines[-1]['vms']),
            'poll_s': sum(polls) / len(polls), 'rounds': rounds,
            'wall_s': wall, 'cpu_s': r['cpu_s'],
            'libvirtd_s': r['libvirtd_s'], 'qemu_extra_s': qemu,
            'cpu_ms_per_round': 1000 * cpu / rounds,
            'qemu_ms_per_round': 1000 * qemu / rounds,
            'poller_ms_per_s': 1000 * r['cpu_s'] / wall,
            'libvirtd_ms_per_s': 1000 * r['libvirtd_s'] / wall,
            'qemu_ms_per_s': 1000 * qemu / wall,
            'total_ms_per_s': 1000 * (cpu + qemu) / wall,
            'hwm_kib': r['hwm_kib']}


def ratios(results):
    for r in results:
        base = [b for b in results if b['vms'] == r['vms'] and
                b['method'] == BASE]
        if base and base[0]['poll_s'] > 0 and base[0]['total_ms_per_s'] > 0:
            r['round_x_base'] = r['poll_s'] / base[0]['poll_s']
            r['cpu_x_base'] = r['total_ms_per_s'] / base[0]['total_ms_per_s']


def print_table(results, seconds):
    print('\nPolling N halted VMs once a second for %d s; ratios to %s at '
          'the same N' % (seconds, BASE))
    print('%26s | %-17s | %-29s |' % ('', 'per poll round', 'CPU ms per '
                                      'second of polling'))
    print('%4s %-15s %4s | %8s %8s | %6s %8s %6s %6s | %6s %5s %5s' % (
        'N', 'method', 'ok', 'time ms', 'CPU ms', 'poller', 'libvirtd',
        'QEMUs', 'total', 'MiB', 'x rnd', 'x CPU'))
    for r in results:
        rx = '%5.1f' % r['round_x_base'] if 'round_x_base' in r else '    -'
        cx = '%5.1f' % r['cpu_x_base'] if 'cpu_x_base' in r else '    -'
        print('%4d %-15s %4d | %8.2f %8.2f | %6.2f %8.2f %6.2f %6.2f | '
              '%6.1f %s %s' % (r['vms'], r['method'], r['ok'],
                               1000 * r['poll_s'], r['cpu_ms_per_round'],
                               r['poller_ms_per_s'], r['libvirtd_ms_per_s'],
                               r['qemu_ms_per_s'], r['total_ms_per_s'],
                               (r['hwm_kib'] or 0) / 1024, rx, cx))
    print('CPU ms per round = (poller + libvirtd) / rounds; "QEMUs" is the '
          'extra CPU of the QEMUs answering, over their idle rate (noisy '
          'at N = 50); MiB: the poller\'s VmHWM.')


def main():
    ap = argparse.ArgumentParser(description='cost of polling N VMs')
    ap.add_argument('--vms', default='1,10,50')
    ap.add_argument('--seconds', type=float, default=10,
                    help='per method, at least 4')
    ap.add_argument('--idle-seconds', type=float, default=4,
                    help='QEMUs\' idle CPU measured for this long')
    ap.add_argument('--methods', help='a subset of: ' +
                    ', '.join(m.name for m in METHODS))
    ap.add_argument('--no-libvirt', action='store_true')
    ap.add_argument('--json')
    args = ap.parse_args()
    counts = [int(x) for x in args.vms.split(',')]
    methods = [m for m in METHODS if not args.methods or
               m.name in args.methods.split(',')]
    benchlib.wait_binaries()
    mach = benchlib.machine()
    ctx = argparse.Namespace()
    ctx.poll = benchlib.powerd_mode('poll')
    ctx.lv_python = None if args.no_libvirt else benchlib.libvirt_python()
    if not ctx.lv_python:
        print('powerd-bench: %s: methods on libvirt domains skipped' % (
            '--no-libvirt' if args.no_libvirt else
            'no python3 with the libvirt module'))
        methods = [m for m in methods if m.vms != 'libvirt']
    s = str(int(args.seconds))
    results = []
    with tempfile.TemporaryDirectory(prefix='powerd-bench-') as tmp, \
            contextlib.ExitStack() as cleanup:
        ctx.tmp = tmp
        sysfs = os.path.join(tmp, 'sys')
        # the tree's energy: not what is measured here, but every method
        # reads it each round, as it would read RAPL
        cleanup.callback(benchlib.fake_rapl(sysfs).stop)
        ctx.powerd = ['--energy-source', 'powercap', '--sysfs-root', sysfs,
                      '--idle-watts', '20', '--format', 'json',
                      '--interval', '1', '--count', s]
        ctx.ref = ['--sysfs-root', sysfs, '--idle-watts', '20',
                   '--interval', '1', '--count', s]
        bios = benchlib.make_bios(tmp, 'halt')
        lv = cleanup.enter_context(benchlib.Libvirtd()) if any(
            m.vms == 'libvirt' for m in methods) else None
        foreign = lv.foreign if lv else []
        for n in counts:
            for vms in ('qmp', 'libvirt'):
                ms = [m for m in methods if m.vms == vms]
                if not ms:
                    continue
                pids = []
                try:
                    for i in range(n):
                        name = 'bench%d' % i
                        pids.append(benchlib.start_qemu(
                            tmp, name, bios,
                            qmp=[os.path.join(tmp, 'vm%d.qmp' % i)])
                            if vms == 'qmp' else
                            lv.create(tmp, benchlib.DOMAIN_PREFIX + name,
                                      bios))
                    time.sleep(1)
                    qidle = idle_rate(pids, args.idle_seconds)
                    for m in ms:
                        r = run(m.command(ctx), args.seconds,
                                lv.libvirtd_pid if vms == 'libvirt' else None,
                                pids)
                        results.append(result(m, n, r, qidle))
                        print('N = %d %-15s done' % (n, m.name),
                              flush=True)
                finally:
                    if vms == 'qmp':
                        benchlib.stop_pids(pids)
                    else:
                        for name in list(lv.domains):
                            lv.destroy(name)
    ratios(results)
    print_table(results, int(args.seconds))
    if args.json:
        benchlib.write_json(args.json, {'seconds': args.seconds,
                                        'base': BASE, 'results': results,
                                        'foreign_domains': foreign}, mach)


if __name__ == '__main__':
    main()

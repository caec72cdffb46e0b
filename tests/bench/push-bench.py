#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Cost of getting every VM's counters once per interval, push against
# poll (not a test: it prints what it measures, with ratios).  The same N
# tiny halted VMs, domains of the private libvirtd that each have a second
# QMP monitor (qemu:commandline), are measured in one run by
#
#   channel-libvirt qemu-powerd --libvirt: records on a sampling channel
#                  passed with virDomainQemuMonitorCommandWithFiles
#   channel-qmp    qemu-powerd --qmp: the same, passed with getfd on the
#                  second monitor (which it then closes)
#   event-libvirt  qemu-powerd --libvirt --mode event: POWER_SAMPLE events
#                  through virConnectDomainQemuMonitorEventRegister
#   poll-libvirt   qemu-powerd --libvirt --mode poll: query-power through
#                  virDomainQemuMonitorCommand, per VM per interval
#   event-qmp      qemu-powerd --qmp --mode event: events on the second
#                  monitor
#   poll-qmp       qemu-powerd --qmp --mode poll
#   bulk-stats     bulk-stats.c: one virConnectGetAllDomainStats with perf
#                  task_clock per interval, in C (the cost floor)
#
# Each method runs alone for --seconds after a --warmup (qemu-powerd asks
# each VM to push during it) and once every VM is measured (at most
# --steady-timeout more), interval 1 s.  Over the steady part we sum the
# CPU of the consumer and of libvirtd (/proc/PID/stat, exited threads
# included), and the QEMUs' extra CPU (schedstat run time of all threads)
# over their idle rate (measured just
# before and just after the method, without any consumer; the difference
# of the two says how noisy that part is).  The result is the total CPU
# per VM per interval; ratios are to bulk-stats at the same N.  qemu-powerd
# does more than the others (host energy, /proc/stat, attribution, JSON
# output), which counts against it.  Lease renewals (one passthrough per
# VM per lease/3, default every 100 s) fall outside the window: their
# share per interval is printed apart, from poll-libvirt's cost per VM.
#
# QEMU's own part per sample is measured apart, where it stands above the
# noise of the QEMUs' idle rate: each QEMU samples at the fastest interval
# (100 ms) into a channel over its second monitor, read by a consumer that
# only counts the records, and the QEMUs' CPU beyond their idle rate is
# divided by the records they sent.
#
# Usage: push-bench.py [--vms 1,10,50,200] [--seconds 10] [--json FILE]
import argparse
import collections
import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time

import benchlib

BULK_SRC = os.path.join(benchlib.BENCH, 'bulk-stats.c')
BULK_BIN = os.path.join(benchlib.TOP, 'build', 'bench', 'bulk-stats')
BASE = 'bulk-stats'
LEASE_S = 300

Method = collections.namedtuple('Method', 'name command')
METHODS = (
    Method('channel-libvirt', lambda c: [
        benchlib.POWERD, '--libvirt', benchlib.URI] + c.powerd),
    Method('channel-qmp', lambda c: [
        benchlib.POWERD, '--qmp', os.path.join(c.tmp, 'vm*.qmp')]
        + c.powerd),
    Method('event-libvirt', lambda c: [
        benchlib.POWERD, '--libvirt', benchlib.URI, '--mode', 'event']
        + c.powerd),
    Method('poll-libvirt', lambda c: [
        benchlib.POWERD, '--libvirt', benchlib.URI, '--mode', 'poll']
        + c.powerd),
    Method('event-qmp', lambda c: [
        benchlib.POWERD, '--qmp', os.path.join(c.tmp, 'vm*.qmp'),
        '--mode', 'event'] + c.powerd),
    Method('poll-qmp', lambda c: [
        benchlib.POWERD, '--qmp', os.path.join(c.tmp, 'vm*.qmp'),
        '--mode', 'poll'] + c.powerd),
    Method('bulk-stats', lambda c: [
        BULK_BIN, benchlib.URI, '1', str(c.count)]),
)


def build_bulk_stats():
    flags = subprocess.run(['pkg-config', '--cflags', '--libs', 'libvirt'],
                           capture_output=True, text=True, check=True)
    os.makedirs(os.path.dirname(BULK_BIN), exist_ok=True)
    subprocess.run(['cc', '-O2', '-Wall', '-o', BULK_BIN, BULK_SRC] +
                   flags.stdout.split() + ['-lm'], check=True)


def cpu_s(pids):
    return sum(benchlib.cpu_ns(p) or 0 for p in pids) / 1e9


def idle_rate(pids, seconds):
    t, c = time.monotonic(), cpu_s(pids)
    time.sleep(seconds)
    return (cpu_s(pids) - c) / (time.monotonic() - t)


def steady(out, n):
    """Whether the newest line of @out has all @n VMs measured."""
    out.seek(0)
    lines = [x for x in out.read().splitlines() if x.strip()]
    out.seek(0, os.SEEK_END)
    if not lines:
        return False
    try:
        vms = json.loads(lines[-1])['vms']
    except ValueError:
        return False
    return sum(v['status'] == 'ok' for v in vms) >= n


def run(m, ctx, args, libvirtd, qemus):
    before = idle_rate(qemus, args.idle_seconds)
    out = tempfile.TemporaryFile('w+')
    p = subprocess.Popen(m.command(ctx), stdout=out)
    # the window starts once every VM is measured: setting N channels or
    # leases up through libvirt takes a while when N is large
    time.sleep(args.warmup)
    end = time.monotonic() + args.steady_timeout
    while not steady(out, len(qemus)) and time.monotonic() < end and \
            p.poll() is None:
        time.sleep(0.5)
    # (the consumer's and libvirtd's worker threads come and go)
    t0, c0, l0, q0 = time.time(), benchlib.cpu_total_s(p.pid), \
        benchlib.cpu_total_s(libvirtd), cpu_s(qemus)
    time.sleep(args.seconds)
    t1, c1, l1, q1 = time.time(), benchlib.cpu_total_s(p.pid), \
        benchlib.cpu_total_s(libvirtd), cpu_s(qemus)
    p.terminate()
    if p.wait(timeout=60) not in (0, -15):
        sys.exit('push-bench: %s failed' % m.name)
    after = idle_rate(qemus, args.idle_seconds)
    out.seek(0)
    lines = []
    for x in out:
        try:
            lines.append(json.loads(x))
        except ValueError:
            pass            # a line cut short by the SIGTERM
    out.close()
    inside = [x for x in lines if t0 <= x['time'] < t1]
    rounds = len(inside) or 1
    wall = t1 - t0
    idle = (before + after) / 2
    qemu = q1 - q0 - idle * wall
    n = len(qemus)
    modes = collections.Counter(v.get('mode', 'bulk') for x in inside
                                for v in x['vms'])
    ok = min((sum(v['status'] == 'ok' for v in x['vms']) for x in inside),
             default=0)
    return {'method': m.name, 'vms': n, 'rounds': rounds, 'wall_s': wall,
            'ok_min': ok, 'modes': dict(modes),
            'consumer_ms': 1000 * (c1 - c0), 'libvirtd_ms': 1000 * (l1 - l0),
            'qemu_extra_ms': 1000 * qemu,
            'qemu_noise_ms': 1000 * abs(before - after) * wall,
            # the QEMUs' extra may come out below 0 (noise): no negative
            # cost goes into the total
            'us_per_vm_interval': {
                'consumer': 1e6 * (c1 - c0) / (n * rounds),
                'libvirtd': 1e6 * (l1 - l0) / (n * rounds),
                'qemu': 1e6 * qemu / (n * rounds),
                'total': 1e6 * (c1 - c0 + l1 - l0 + max(0.0, qemu)) /
                (n * rounds),
                'without_qemu': 1e6 * (c1 - c0 + l1 - l0) / (n * rounds)}}


def qemu_per_sample(ctx, args, qemus):
    """
    QEMU's CPU per channel record, in us: the QEMUs' CPU over their idle
    rate while they sample every 100 ms, over the records they sent.
    """
    conns, ends = [], []
    try:
        for i in range(len(qemus)):
            q = benchlib.qmp(os.path.join(ctx.tmp, 'vm%d.qmp' % i))
            conns.append(q)
            mine, theirs = socket.socketpair(socket.AF_UNIX,
                                             socket.SOCK_SEQPACKET)
            ends.append(mine)
            q.send_fd_scm(theirs.fileno())
            q.cmd('getfd', fdname='bench')
            theirs.close()
        before = idle_rate(qemus, args.idle_seconds)
        for q in conns:
            q.cmd('set-power-sampling', enable=True, channel='bench',
                  **{'interval-ms': 100})
        records, end = 0, time.monotonic() + 1
        while time.monotonic() < end:       # warm-up: drain only
            for s in select.select(ends, [], [], 0.2)[0]:
                s.recv(4096)
        t0, c0 = time.monotonic(), cpu_s(qemus)
        end = t0 + args.seconds
        while time.monotonic() < end:
            for s in select.select(ends, [], [], 0.2)[0]:
                if s.recv(4096):
                    records += 1
        t1, c1 = time.monotonic(), cpu_s(qemus)
        for s in ends:
            s.close()
        for q in conns:
            benchlib.machines.wait_until(
                lambda: q.cmd('query-power-sampling')['active'] is False, 5,
                'sampling stops when the channel closes')
        after = idle_rate(qemus, args.idle_seconds)
    finally:
        for s in ends:
            s.close()
        for q in conns:
            q.close()
    idle = (before + after) / 2
    extra = c1 - c0 - idle * (t1 - t0)
    return {'vms': len(qemus), 'records': records,
            'us_per_sample': 1e6 * extra / max(records, 1),
            'noise_us_per_sample': 1e6 * abs(before - after) * (t1 - t0) /
            max(records, 1)}


def ratio(r, results, key):
    base = [b for b in results if b['vms'] == r['vms'] and
            b['method'] == BASE]
    if not base or base[0]['us_per_vm_interval'][key] <= 0:
        return float('nan')
    return r['us_per_vm_interval'][key] / base[0]['us_per_vm_interval'][key]


def print_per_sample(per_sample):
    print('\nQEMU\'s part per channel record (each QEMU samples every '
          '100 ms)')
    print('%4s %9s %12s %10s' % ('N', 'records', 'us/record', 'noise +-us'))
    for r in per_sample:
        print('%4d %9d %12.1f %10.1f' % (r['vms'], r['records'],
                                         r['us_per_sample'],
                                         r['noise_us_per_sample']))


def print_table(results, renew_us):
    print('\nCPU per VM per interval (1 s), N halted VMs, us; ratios to %s '
          'at the same N' % BASE)
    print('%4s %-14s %6s %9s %9s %9s %9s %7s %9s  %s' % (
        'N', 'method', 'ok', 'consumer', 'libvirtd', 'QEMUs', 'total',
        'x bulk', 'x w/o QEMU', 'QEMU noise +-us'))
    for r in results:
        u = r['us_per_vm_interval']
        r['x_bulk'] = ratio(r, results, 'total')
        r['x_bulk_without_qemu'] = ratio(r, results, 'without_qemu')
        print('%4d %-14s %6s %9.1f %9.1f %9.1f %9.1f %7.2f %9.2f  %.1f' % (
            r['vms'], r['method'], '%d/%d' % (r['ok_min'], r['vms']),
            u['consumer'], u['libvirtd'], u['qemu'], u['total'],
            r['x_bulk'], r['x_bulk_without_qemu'],
            1e3 * r['qemu_noise_ms'] / (r['vms'] * r['rounds'])))
    print('total: consumer + libvirtd + the QEMUs\' extra (0 where noise '
          'makes it negative); x w/o QEMU: consumer + libvirtd only')
    for n, us in sorted(renew_us.items()):
        print('N = %d: event-libvirt lease renewals add about %.1f us per VM '
              'per interval (poll-libvirt\'s cost per VM / %d intervals)'
              % (n, us, LEASE_S // 3))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--vms', default='1,10,50,200')
    ap.add_argument('--seconds', type=float, default=10)
    ap.add_argument('--warmup', type=float, default=3)
    ap.add_argument('--idle-seconds', type=float, default=3)
    ap.add_argument('--steady-timeout', type=float, default=90,
                    help='at most this long after the warm-up for every '
                    'VM to be measured before the window starts')
    ap.add_argument('--methods', help='a subset of: ' +
                    ', '.join(m.name for m in METHODS))
    ap.add_argument('--json')
    args = ap.parse_args()
    methods = [m for m in METHODS if not args.methods or
               m.name in args.methods.split(',')]
    benchlib.wait_binaries()
    build_bulk_stats()
    mach = benchlib.machine()
    results, renew_us, per_sample = [], {}, []
    with tempfile.TemporaryDirectory(prefix='push-bench-') as tmp, \
            contextlib.ExitStack() as cleanup:
        # libvirt's QEMU runs as libvirt-qemu: it reads the firmware and
        # makes its second QMP socket here
        os.chmod(tmp, 0o1777)
        ctx = argparse.Namespace(tmp=tmp)
        ctx.count = 1000000         # stopped after the window
        sysfs = os.path.join(tmp, 'sys')
        cleanup.callback(benchlib.fake_rapl(sysfs).stop)
        ctx.powerd = ['--energy-source', 'powercap', '--sysfs-root', sysfs,
                      '--idle-watts', '20', '--format', 'json',
                      '--interval', '1', '--lease', str(LEASE_S),
                      '--count', str(ctx.count)]
        bios = benchlib.make_bios(tmp, 'halt')
        lv = cleanup.enter_context(benchlib.Libvirtd())
        for n in [int(x) for x in args.vms.split(',')]:
            try:
                qemus = [lv.create(tmp, '%spush%d' % (benchlib.DOMAIN_PREFIX,
                                                      i), bios,
                                   qemu_args=['-qmp', 'unix:%s,server=on,'
                                              'wait=off' % os.path.join(
                                                  tmp, 'vm%d.qmp' % i)])
                         for i in range(n)]
                time.sleep(1)
                for m in methods:
                    r = run(m, ctx, args, lv.libvirtd_pid, qemus)
                    results.append(r)
                    print('N = %d %-14s done: %.1f us per VM per interval'
                          % (n, m.name, r['us_per_vm_interval']['total']),
                          flush=True)
                    if m.name == 'poll-libvirt':
                        renew_us[n] = r['us_per_vm_interval']['total'] / \
                            (LEASE_S // 3)
                if n >= 10 and not args.methods:
                    per_sample.append(qemu_per_sample(ctx, args, qemus))
                    print('N = %d QEMU per record: %.1f us' %
                          (n, per_sample[-1]['us_per_sample']), flush=True)
            finally:
                for name in list(lv.domains):
                    lv.destroy(name)
    print_table(results, renew_us)
    print_per_sample(per_sample)
    if args.json:
        benchlib.write_json(args.json, {'seconds': args.seconds,
                                        'lease_s': LEASE_S,
                                        'renewal_us_per_vm_interval':
                                        renew_us, 'results': results,
                                        'qemu_per_record': per_sample},
                            mach)


if __name__ == '__main__':
    main()

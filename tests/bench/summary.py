#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The last table of 'make bench': one summary, with ratios, of the JSON
# results the benchmarks wrote in DIR (default build/bench): qmp.json,
# powerd.json, push.json, attribution.json, scaling.json.  A missing file is named,
# not guessed; each part says when and on what it was measured.
#
# Usage: summary.py [DIR]
import json
import os
import sys

import benchlib


def load(d, name):
    path = os.path.join(d, name)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print('\n(%s: not available: %s)' % (name, e))
        return None


def when(r):
    m = r.get('machine', {})
    out = '%s, load %s at start' % (m.get('date', '?'), ' '.join(
        '%.1f' % x for x in m.get('loadavg_at_start', [])))
    if r.get('foreign_domains'):
        out += '; other domains ran in libvirtd: %s' % ' '.join(
            r['foreign_domains'])
    return out


def qmp(r):
    print('\nQMP round trip, mean us (%s)' % when(r))
    print('  %-8s %5s %12s %12s %12s %9s' % ('path', 'vCPUs', 'query-power',
                                            'query-status', 'power/status',
                                            'x direct'))
    for path in ('qmp', 'libvirt'):
        for smp, rt in sorted(r.get(path, {}).items(), key=lambda x:
                              int(x[0])):
            direct = r['qmp'][smp]['query-power']['mean_us']
            print('  %-8s %5s %12.1f %12.1f %11.2fx %8.1fx' % (
                'direct' if path == 'qmp' else path, smp,
                rt['query-power']['mean_us'], rt['query-status']['mean_us'],
                rt['ratio'], rt['query-power']['mean_us'] / direct))
    c = r.get('counters')
    if c:
        print('Counter overhead on the guest: %.2f %% slower with counters '
              '(rounds spread %.2f %%)' % (c['overhead_percent'],
                                           c.get('spread_percent', 0)))


def powerd(r):
    print('\nPolling cost, once a second (%s)' % when(r))
    print('  %4s %-15s %9s %10s %11s %8s %7s' % (
        'N', 'method', 'round ms', 'CPU ms/rnd', 'CPU ms/s *', 'x round',
        'x CPU'))
    for x in r['results']:
        print('  %4d %-15s %9.2f %10.2f %11.2f %7.1fx %6.1fx' % (
            x['vms'], x['method'], 1000 * x['poll_s'],
            x['cpu_ms_per_round'], x['total_ms_per_s'],
            x.get('round_x_base', float('nan')),
            x.get('cpu_x_base', float('nan'))))
    print('  * poller + libvirtd + QEMUs\' extra; x: against %s at the same '
          'N' % r.get('base', 'powerd-qmp'))


def push(r):
    print('\nPush vs poll, CPU per VM per interval in us (%s)' % when(r))
    print('  %4s %-14s %9s %9s %9s %9s %7s %10s' % (
        'N', 'method', 'consumer', 'libvirtd', 'QEMUs', 'total', 'x bulk',
        'x w/o QEMU'))
    for x in r['results']:
        u = x['us_per_vm_interval']
        print('  %4d %-14s %9.1f %9.1f %9.1f %9.1f %6.2fx %9.2fx' % (
            x['vms'], x['method'], u['consumer'], u['libvirtd'], u['qemu'],
            u['total'], x.get('x_bulk', float('nan')),
            x.get('x_bulk_without_qemu', float('nan'))))
    print('  (lease renewals through libvirt add, per VM per interval: %s '
          'us)' % ', '.join('N=%s %.1f' % (n, v) for n, v in
                            r.get('renewal_us_per_vm_interval', {}).items()))
    for x in r.get('qemu_per_record', []):
        print('  N = %d: QEMU\'s part per channel record %.1f us (+-%.1f)' %
              (x['vms'], x['us_per_sample'], x['noise_us_per_sample']))


def attribution(r):
    print('\nAttribution error against a fake RAPL with known truth, %d s '
          '(%s)' % (r['seconds'], when(r)))
    methods = r['methods']
    print('  %-9s %-16s' % ('phase', 'W, per interval') +
          ''.join('%16s' % m for m in methods))
    for phase, rows in r['errors'].items():
        vms = [v for v in r['vms'] if v in rows]
        mean = rows.get('_sum_mean_abs_w', {})
        worst = {m: max(rows[v][m]['worst_abs_w'] for v in vms
                        if m in rows[v]) for m in methods}
        base_m = mean.get('powerd-qmp')
        print('  %-9s %-16s' % (phase, 'sum of VMs\' mean') +
              ''.join('%16.3f' % mean[m] for m in methods))
        print('  %-9s %-16s' % ('', 'x powerd-qmp') +
              ''.join('%15.1fx' % (mean[m] / base_m) if base_m else '%16s'
                      % '-' for m in methods))
        print('  %-9s %-16s' % ('', 'worst of any VM') +
              ''.join('%16.3f' % worst[m] for m in methods))
    print('  (VMs: %s; true power = %g W per CPU; attribution-bench.py '
          'prints the per-VM table)' % (', '.join(r['vms']),
                                        r['watts_per_cpu']))


def scaling(r):
    print('\nqemu-powerd --qmp from 1 to %d halted VMs (%s)' % (
        r['results'][-1]['vms'], when(r)))
    print('  %4s %9s %12s %9s' % ('N', 'HWM MiB', 'poll ms med', 'CPU ms/s'))
    for x in r['results']:
        print('  %4d %9.1f %12.2f %9.2f' % (x['vms'], x['hwm_kib'] / 1024,
                                           x['poll_ms_median'],
                                           x['cpu_ms_per_s']))
    s = r.get('per_vm')
    if s:
        print('  per extra VM: %.1f KiB, %.3f ms of poll round, %.3f ms of '
              'CPU per second' % (s['rss_kib_per_vm'], s['poll_ms_per_vm'],
                                  s['cpu_ms_per_vm']))


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(benchlib.TOP,
                                                           'build', 'bench')
    m = benchlib.machine()
    print('=' * 72)
    print('Summary of make bench, %s' % m['date'])
    print('Machine: %s, %d CPUs (%s), %.0f GiB, %s, kernel %s, QEMU accel '
          '%s' % (m['host'], m['cpus'], m['cpu'], m['mem_gib'], m['os'],
                  m['kernel'], m['accel']))
    for name, fn in (('qmp.json', qmp), ('powerd.json', powerd),
                     ('push.json', push), ('attribution.json', attribution),
                     ('scaling.json', scaling)):
        r = load(d, name)
        if r:
            fn(r)


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# demo-report.py DIR: from qemu-powerd's JSON lines in DIR/samples.jsonl,
# write DIR/summary.txt (mean power per VM, energy, whether the parts add
# up) and DIR/power.png (per-VM power over time, stacked, with idle, other
# and the host total), drawn by gnuplot.
import json
import os
import subprocess
import sys


def main():
    d = sys.argv[1]
    samples = [json.loads(line) for line in open(os.path.join(d,
                                                             'samples.jsonl'))]
    if not samples:
        sys.exit('demo-report: qemu-powerd wrote no sample')
    zone = samples[0]['host']['zones'][0]['zone']
    names = sorted({v['name'] for s in samples for v in s['vms']})
    t0 = samples[0]['time']

    # one row per interval: time, idle, other, each VM, host total
    rows, worst = [], 0.0
    for s in samples:
        z = next(z for z in s['host']['zones'] if z['zone'] == zone)
        vms = {v['name']: v for v in s['vms']}
        watts = [next((vz['watts'] for vz in vms[n]['zones']
                       if vz['zone'] == zone), 0.0) if n in vms else 0.0
                 for n in names]
        parts = z['idle_watts'] + z['other_watts'] + sum(watts)
        worst = max(worst, abs(parts - z['watts']))
        rows.append([s['time'] - t0, z['idle_watts'], z['other_watts']] +
                    watts + [z['watts']])

    with open(os.path.join(d, 'power.dat'), 'w') as f:
        f.write('# t idle other %s total\n' % ' '.join(names))
        for r in rows:
            f.write(' '.join('%.4f' % v for v in r) + '\n')

    mean = {n: sum(r[3 + i] for r in rows) / len(rows)
            for i, n in enumerate(names)}
    last = {v['name']: v for v in samples[-1]['vms']}
    src = samples[0]['energy_source']
    est = ' (ESTIMATE: this host has no RAPL)' if samples[0]['estimated'] \
        else ''
    lines = ['qemu-power demo: %d intervals of %.1f s, zone %s, energy '
             'source %s%s' % (len(samples), samples[0]['interval_s'], zone,
                              src, est),
             'host: mean %.1f W = idle %.1f W + VMs %.1f W + other %.1f W'
             % (sum(r[-1] for r in rows) / len(rows),
                sum(r[1] for r in rows) / len(rows),
                sum(mean.values()), sum(r[2] for r in rows) / len(rows)),
             'parts add up: largest difference %.6f W' % worst, '',
             '%-8s %10s %12s' % ('VM', 'mean W', 'energy J')]
    for n in names:
        lines.append('%-8s %10.2f %12.1f' % (
            n, mean[n], next((z['energy_joules'] for z in last[n]['zones']
                              if z['zone'] == zone), 0.0) if n in last
            else 0.0))
    if 'busy' in mean and 'half' in mean and mean['half'] > 0:
        lines.append('')
        lines.append('busy / half = %.2f (about 2 when the host has a CPU '
                     'free for each; more when busy, half and mem compete '
                     'for fewer CPUs); idle %.2f W (about 0)'
                     % (mean['busy'] / mean['half'], mean.get('idle', 0.0)))
    summary = '\n'.join(lines) + '\n'
    with open(os.path.join(d, 'summary.txt'), 'w') as f:
        f.write(summary)

    n = len(names)
    # stacked: idle, then other, then each VM; the host total as a line
    # columns: 1 time, 2 idle, 3 other, 4.. the VMs, last the total
    plots = []
    labels = ['host idle', 'host other'] + ['VM %s' % n for n in names]
    for i, label in enumerate(labels):
        upto = '+'.join('$%d' % c for c in range(2, 3 + i))
        below = '+'.join('$%d' % c for c in range(2, 2 + i)) or '0'
        plots.append("'power.dat' using 1:(%s):(%s) with filledcurves "
                     "title '%s'" % (below, upto, label))
    plots.append("'power.dat' using 1:%d with lines lw 2 lc 'black' "
                 "title 'host total (%s)'"
                 % (3 + n + 1, 'estimated' if est else 'measured'))
    script = '\n'.join([
        "set terminal pngcairo size 960,540",
        "set output 'power.png'",
        "set title 'qemu-power demo: power of zone %s by VM (energy: %s)'"
        % (zone, 'estimate, no RAPL on this host' if est else src),
        "set yrange [0:*]",
        "set xlabel 'time (s)'",
        "set ylabel 'power (W)'",
        "set key outside right",
        "set style fill transparent solid 0.6 noborder",
        "plot " + ', \\\n     '.join(plots),
    ]) + '\n'
    with open(os.path.join(d, 'power.gp'), 'w') as f:
        f.write(script)
    subprocess.run(['gnuplot', 'power.gp'], cwd=d, check=True)
    print(summary, end='')
    print('demo: wrote %s and %s' % (os.path.join(d, 'summary.txt'),
                                      os.path.join(d, 'power.png')))


if __name__ == '__main__':
    main()

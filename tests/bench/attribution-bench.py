#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Attribution error of the whole pipeline against a known truth (not a
# test: it prints what it measures).  A fake powercap tree stands for RAPL;
# the test suite's meter (tests/integration/meter.py) advances package-0's
# energy_uj every --period seconds by its power model:
#
#   host power = idle W + k W per busy CPU,  so  true power(VM) = k x CPU(VM)
#
# where the host's busy CPU time is the root cgroup's CPU usage (ns,
# every task: cpuacct.usage, or cgroup v2's cpu.stat) and each VM's is the
# run time of its QEMU's threads (/proc/PID/task/*/schedstat, ns).  Four
# tiny VMs run: spin, half (busy 10 ms, halted 10 ms), halt, and toggle (a
# spinner paused in the first half of the run, then paused and continued
# every second with QMP stop/cont: SIGSTOP would also freeze its monitor,
# so that QMP pollers could not read it).  The pollers, run side by side
# against the same tree for the same --seconds, once a second:
#
#   powerd-qmp      qemu-powerd --mode poll --qmp (the VMs' extra QMP
#                   sockets, one set for each qemu-powerd): query-power
#                   every interval
#   powerd-event    qemu-powerd --mode auto --qmp: the VMs push
#                   POWER_SAMPLE events (where qemu-powerd has --mode)
#   powerd-libvirt  qemu-powerd --mode poll --libvirt
#   bulk-stats      ref-poller.py: libvirt's perf task_clock share
#   proc-scan       ref-poller.py: /proc/PID/stat utime+stime share
#
# all with the same formula and the true idle power.  For each poller, VM
# and interval the truth is k x the VM's CPU time over that poller's own
# interval; we print the mean and worst absolute error per VM, in W and in
# % of the VM's mean true power, for the steady and the changing half.
# Without libvirt (--no-libvirt, or no libvirt python module) the VMs are
# started directly and only powerd-qmp and proc-scan run.
#
# Usage: attribution-bench.py [--seconds 60] [--json FILE]
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import benchlib
import meter

VMS = (('spin', 'spin'), ('half', 'half'), ('halt', 'halt'),
       ('toggle', 'spin'))          # name, guest
PREFIX = benchlib.DOMAIN_PREFIX + 'attr-'


def start_vms(args, tmp, lv):
    """Start the VMs; {name: QEMU PID}."""
    pids = {}
    for name, guest in VMS:
        bios = benchlib.make_bios(tmp, guest)
        # a QMP socket serves one client: one for each qemu-powerd, and
        # one for toggling
        qmp = [os.path.join(tmp, name + ext)
               for ext in ('.qmp', '.evq', '.ctl')]
        if lv:
            args_ = []
            for q in qmp:
                args_ += ['-qmp', 'unix:%s,server=on,wait=off' % q]
            pids[name] = lv.create(tmp, PREFIX + name, bios,
                                   qemu_args=args_)
        else:
            pids[name] = benchlib.start_qemu(tmp, PREFIX + name, bios,
                                             qmp=qmp)
    return pids


def pollers(args, tmp, sysfs, count, lv_python):
    common = ['--sysfs-root', sysfs, '--idle-watts', str(args.idle_watts),
              '--count', str(count)]
    powerd = [benchlib.POWERD, '--energy-source', 'powercap',
              '--format', 'json', '--interval', '1'] + common
    poll, event = benchlib.powerd_mode('poll'), benchlib.powerd_mode('auto')
    ref = [benchlib.REF_POLLER, '--interval', '1'] + common
    out = {'powerd-qmp': powerd + poll +
           ['--qmp', os.path.join(tmp, '*.qmp')]}
    if event is not None:
        out['powerd-event'] = powerd + event + \
            ['--qmp', os.path.join(tmp, '*.evq')]
    if lv_python:
        out['powerd-libvirt'] = powerd + poll + ['--libvirt', benchlib.URI]
        out['bulk-stats'] = [lv_python] + ref + ['--method', 'bulk-stats']
    out['proc-scan'] = [sys.executable] + ref + ['--method', 'proc-scan',
                                                 '--match', PREFIX]
    return out


def run(args, tmp, pids, lv_python):
    sysfs = os.path.join(tmp, 'sys')
    names = [n for n, _ in VMS]
    mtr = meter.Meter(sysfs, idle_watts=args.idle_watts,
                      watts_per_cpu=args.watts_per_cpu, period=args.period,
                      realtime=args.realtime)
    for n in names:
        mtr.track(n, pids[n])
    ctl = benchlib.qmp(os.path.join(tmp, 'toggle.ctl'))
    ctl.cmd('stop')                     # paused in the steady half
    mtr.start()
    count = int(args.seconds)
    cmds = pollers(args, tmp, sysfs, count, lv_python)
    procs = {m: subprocess.Popen(c, stdout=open(os.path.join(
        tmp, m + '.out'), 'w')) for m, c in cmds.items()}
    start = time.time()
    change_at = start + args.seconds / 2
    toggles, done = [], threading.Event()

    def toggler():
        # its own thread: a stop or cont can take long on a loaded host,
        # and must not hold up the meter
        paused = True
        while not done.wait(max(0.0, change_at + len(toggles) -
                                time.time())):
            ctl.cmd('stop' if not paused else 'cont')
            paused = not paused
            toggles.append(time.time())

    th = threading.Thread(target=toggler)
    th.start()
    try:
        print('Running %s for %d s (steady %d s, then toggling every '
              'second) ...' % (', '.join(cmds), count, count // 2),
              flush=True)
        for p in procs.values():
            p.wait()
        # a little past the last sample
        end = time.time()
        benchlib.machines.wait_until(lambda: mtr.host.t[-1] > end + 0.1, 5,
                                     'the meter past the pollers\' end')
    finally:
        mtr.stop()
        done.set()
        th.join()
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
                p.wait()
    ctl.close()
    for m, p in procs.items():
        if p.returncode != 0:
            sys.exit('attribution-bench: %s failed (%d)' % (m,
                                                            p.returncode))
    vms = {n: mtr.vms[n][1] for n in names}
    return {'busy_source': mtr.busy_source(), 'realtime': mtr.realtime,
            'start': start,
            'change_at': change_at, 'toggles': len(toggles),
            'methods': list(cmds), 'host': mtr.host, 'vms': vms,
            'outputs': {m: os.path.join(tmp, m + '.out') for m in cmds}}


def stats(pairs, true_mean):
    errs = [r - t for r, t in pairs]
    abs_ = [abs(e) for e in errs]
    out = {'intervals': len(pairs), 'true_w': true_mean,
           'reported_w': statistics.mean(r for r, _ in pairs),
           'bias_w': statistics.mean(errs),
           'mean_abs_w': statistics.mean(abs_), 'worst_abs_w': max(abs_)}
    # % of the VM's mean true power; meaningless for a VM near 0 W
    if true_mean >= 0.5:
        out['mean_pct'] = 100 * out['mean_abs_w'] / true_mean
        out['worst_pct'] = 100 * out['worst_abs_w'] / true_mean
    return out


def analyse(args, r):
    k, idle = args.watts_per_cpu, args.idle_watts
    phases = {'steady': (r['start'], r['change_at']),
              'changing': (r['change_at'], float('inf'))}
    res = {p: {} for p in phases}
    for m in r['methods']:
        with open(r['outputs'][m]) as f:
            lines = [json.loads(x) for x in f if x.strip()]
        pairs = {p: {} for p in phases}
        for ln in lines[1:]:            # the first interval is start-up
            t2 = ln['time']
            t1 = t2 - ln['interval_s']
            phase = [p for p, (a, b) in phases.items() if a <= t1 and
                     t2 <= b]
            if not phase:
                continue                # straddles the change
            hb = r['host'].rate(t1, t2)
            if hb is None:
                continue
            pp = pairs[phase[0]]
            zone = [z for z in ln['host']['zones']
                    if z['zone'] == 'package-0']
            if zone:
                pp.setdefault('host', []).append(
                    (zone[0]['watts'], idle + k * hb / 1e9))
            for vm in ln['vms']:
                name = vm['name'][len(PREFIX):] \
                    if vm['name'].startswith(PREFIX) else vm['name']
                z = [z for z in vm.get('zones', [])
                     if z['zone'] == 'package-0']
                if vm['status'] != 'ok' or not z or name not in r['vms']:
                    continue
                c = r['vms'][name].rate(t1, t2)
                if c is not None:
                    pp.setdefault(name, []).append((z[0]['watts'],
                                                    k * c / 1e9))
        for p in phases:
            for name, pr in pairs[p].items():
                true_mean = statistics.mean(t for _, t in pr)
                res[p].setdefault(name, {})[m] = stats(pr, true_mean)
    # one number per method and phase: mean |error| summed over the VMs
    for rows in res.values():
        rows['_sum_mean_abs_w'] = {
            m: sum(rows[n][m]['mean_abs_w'] for n, _ in VMS
                   if n in rows and m in rows[n]) for m in r['methods']}
    return res


def print_table(args, r, res):
    methods = r['methods']
    names = [n for n, _ in VMS] + ['host']
    print('\nAttribution error: true power(VM) = %g W x CPU(VM); host = '
          '%g W idle + %g W per busy CPU' % (args.watts_per_cpu,
                                             args.idle_watts,
                                             args.watts_per_cpu))
    print('Per interval |reported - true|: mean/worst in W, and mean/worst '
          'in % of the VM\'s mean true power (not for VMs under 0.5 W).')
    for phase in ('steady', 'changing'):
        rows = res[phase]
        print('\n%s:' % ('steady loads' if phase == 'steady' else
                         'toggle VM paused/continued every second'))
        head = ['%-15s' % 'true W:']
        for n in names:
            ts = [s['true_w'] for s in rows.get(n, {}).values()]
            head.append('%-21s' % ('%s %.2f' % (n, statistics.mean(ts))
                                   if ts else n))
        print(' '.join(head) + ' sum of VMs\' mean')
        base = rows['_sum_mean_abs_w'].get('powerd-qmp')
        for m in methods:
            cells = ['%-15s' % m]
            for n in names:
                s = rows.get(n, {}).get(m)
                if not s:
                    cells.append('%-21s' % '-')
                    continue
                pct = '%3.0f/%3.0f%%' % (s['mean_pct'], s['worst_pct']) \
                    if 'mean_pct' in s else ''
                cells.append('%-21s' % ('%.3f/%.3f %s' % (
                    s['mean_abs_w'], s['worst_abs_w'], pct)))
            tot = rows['_sum_mean_abs_w'][m]
            cells.append('%.3f' % tot + (' (%.1fx)' % (tot / base)
                                         if base else ''))
            print(' '.join(cells))
    print('\n"host": each poller\'s package-0 watts against the meter\'s '
          '(the error the meter\'s %g ms steps and the pollers\' timing '
          'add to everything); (x): against powerd-qmp.'
          % (1000 * args.period))


def keep(args, r):
    if not args.keep:
        return
    os.makedirs(args.keep, exist_ok=True)
    for m, path in r['outputs'].items():
        shutil.copy(path, os.path.join(args.keep, m + '.out'))
    with open(os.path.join(args.keep, 'truth.json'), 'w') as f:
        json.dump({'busy_ns': [r['host'].t, r['host'].v],
                   'vm_cpu_ns': {n: [s.t, s.v] for n, s in r['vms'].items()},
                   'start': r['start'], 'change_at': r['change_at']}, f)


def main():
    ap = argparse.ArgumentParser(description='attribution error against a '
                                 'fake RAPL with a known truth')
    ap.add_argument('--seconds', type=float, default=60,
                    help='of polling; the first half steady (at least 10)')
    ap.add_argument('--idle-watts', type=float, default=10.0)
    ap.add_argument('--watts-per-cpu', type=float, default=10.0)
    ap.add_argument('--period', type=float, default=0.01,
                    help='seconds between meter updates (default 0.01)')
    ap.add_argument('--no-realtime', dest='realtime', action='store_false',
                    help='run the meter at normal priority')
    ap.add_argument('--no-libvirt', action='store_true')
    ap.add_argument('--keep', metavar='DIR', help='keep the pollers\' '
                    'outputs and the truth (truth.json) in DIR')
    ap.add_argument('--json')
    args = ap.parse_args()
    benchlib.wait_binaries()
    mach = benchlib.machine()
    lv_python = None if args.no_libvirt else benchlib.libvirt_python()
    if not args.no_libvirt and not lv_python:
        print('attribution-bench: no python3 with the libvirt module: '
              'without libvirt (powerd-qmp and proc-scan only)')
    with tempfile.TemporaryDirectory(prefix='attr-bench-') as tmp:
        if lv_python:
            with benchlib.Libvirtd() as lv:
                pids = start_vms(args, tmp, lv)
                r = run(args, tmp, pids, lv_python)
                r['foreign_domains'] = lv.foreign
                res = analyse(args, r)
                keep(args, r)
        else:
            pids = start_vms(args, tmp, None)
            try:
                r = run(args, tmp, pids, None)
                res = analyse(args, r)
                keep(args, r)
            finally:
                benchlib.stop_pids(list(pids.values()))
    print_table(args, r, res)
    print('(host busy CPU time from %s; meter %s; %d toggles)' % (
        r['busy_source'], 'real-time' if r['realtime'] else
        'at normal priority', r['toggles']))
    if args.json:
        benchlib.write_json(args.json, {
            'seconds': args.seconds, 'idle_watts': args.idle_watts,
            'watts_per_cpu': args.watts_per_cpu, 'period_s': args.period,
            'busy_source': r['busy_source'], 'realtime': r['realtime'],
            'methods': r['methods'],
            'vms': [n for n, _ in VMS], 'toggles': r['toggles'],
            'foreign_domains': r.get('foreign_domains', []),
            'errors': res}, mach)


if __name__ == '__main__':
    main()

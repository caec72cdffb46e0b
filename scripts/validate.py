#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make validate: the thesis's experiments on real Linux guests, each VM's
# energy as qemu-powerd attributes it against the truth of a fake RAPL
# meter driven by measured CPU time (tests/integration/meter.py):
#
#   cpu-1      one VM, 1 vCPU, CPU-bound
#   cpu-2      one VM, 2 vCPUs, CPU-bound on both
#   mem        one VM, memory-bandwidth-bound (tests/guest/stream.c)
#   io         one VM writing its virtio disk with O_DIRECT
#   cpu+mem    a CPU-bound VM beside a memory-bound one
#   duty       a VM busy 50 % of every 100 ms beside an idle one
#
# Each experiment boots its VMs (KVM where scripts/kvm-probe.sh finds it
# works), runs qemu-powerd for --seconds intervals of 1 s, and writes
# build/validate/EXPERIMENT.png (reported and true power of each VM over
# time) and a line per VM in build/validate/summary.txt: mean true and
# reported power, and the error of the energy over the whole run.  What
# such a meter can and cannot validate: docs/validation.rst.
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, os.path.join(TOP, 'tests', 'integration'))

from machines import (LinuxVM, build_guest, kvm_probe,  # noqa: E402
                      powerd_on_meter)
from meter import Meter  # noqa: E402

IDLE_W = 10.0
K_W = 20.0

# name: [(VM, work, smp, needs a disk)]
EXPERIMENTS = {
    'cpu-1': [('cpu', 'cpu', 1, False)],
    'cpu-2': [('cpu2', 'cpu', 2, False)],
    'mem': [('mem', 'mem', 1, False)],
    'io': [('io', 'io', 1, True)],
    'cpu+mem': [('cpu', 'cpu', 1, False), ('mem', 'mem', 1, False)],
    'duty': [('half', 'busy=50', 1, False), ('idle', 'idle', 1, False)],
}


def run_experiment(name, vms_spec, args, probe, guest, out):
    tmp = tempfile.mkdtemp(prefix='qpv-', dir='/tmp')
    vms = {}
    try:
        root = os.path.join(tmp, 'sys')
        meter = Meter(root, idle_watts=IDLE_W, watts_per_cpu=K_W)
        for vm, work, smp, disk in vms_spec:
            extra = ['-qmp', 'unix:%s,server=on,wait=off'
                     % os.path.join(tmp, vm + '.qmp')]
            if disk:
                img = os.path.join(tmp, vm + '.img')
                with open(img, 'wb') as f:
                    f.truncate(64 << 20)
                extra += ['-drive', 'file=%s,if=virtio,format=raw,'
                          'cache=none' % img]
            vms[vm] = LinuxVM(probe, guest, tmp, vm, work, smp=smp,
                              args=extra)
            vms[vm].launch()
            meter.track(vm, vms[vm].get_pid())
        try:
            lines = powerd_on_meter(meter, os.path.join(tmp, '*.qmp'),
                                    args.seconds, idle_watts=IDLE_W)
        except RuntimeError as e:
            sys.exit('validate: %s' % e)
        return analyse(name, lines, meter, list(vms), out)
    finally:
        for vm in vms.values():
            vm.shutdown(hard=True)
        shutil.rmtree(tmp, ignore_errors=True)


def vm_zone(line, vm):
    for v in line['vms']:
        if v['name'] == vm and v['status'] == 'ok':
            return next(z for z in v['zones'] if z['zone'] == 'package-0')
    return None


def analyse(name, lines, meter, vms, out):
    ok = [ln for ln in lines if all(vm_zone(ln, vm) for vm in vms)]
    if len(ok) < 3:
        sys.exit('validate: %s: only %d complete intervals' % (name, len(ok)))
    rows = []
    for ln in ok[1:]:
        t2, dt = ln['time'], ln['interval_s']
        rows.append([t2 - ok[0]['time']] +
                    [x for vm in vms for x in (
                        vm_zone(ln, vm)['watts'],
                        meter.vm_joules(vm, t2 - dt, t2) / dt)])
    dat = os.path.join(out, name + '.dat')
    with open(dat, 'w') as f:
        f.write('# t %s\n' % ' '.join('%s_reported %s_true' % (v, v)
                                      for v in vms))
        for r in rows:
            f.write(' '.join('%.4f' % x for x in r) + '\n')
    plot(name, dat, vms, os.path.join(out, name + '.png'))

    t1, t2 = ok[0]['time'], ok[-1]['time']
    result = []
    for vm in vms:
        got = vm_zone(ok[-1], vm)['energy_joules'] - \
            vm_zone(ok[0], vm)['energy_joules']
        true = meter.vm_joules(vm, t1, t2)
        result.append({'experiment': name, 'vm': vm, 'seconds': t2 - t1,
                       'true_w': true / (t2 - t1),
                       'reported_w': got / (t2 - t1),
                       'true_j': true, 'reported_j': got})
    return result


def plot(name, dat, vms, png):
    series = []
    for i, vm in enumerate(vms):
        series.append("'%s' using 1:%d with linespoints title '%s reported'"
                      % (dat, 2 + 2 * i, vm))
        series.append("'%s' using 1:%d with lines dashtype 2 lw 2 "
                      "title '%s true (meter)'" % (dat, 3 + 2 * i, vm))
    script = '\n'.join([
        'set terminal pngcairo size 900,500 noenhanced',
        "set output '%s'" % png,
        "set title 'qemu-power validation: %s (model: %g W idle + %g W per "
        "busy CPU)'" % (name, IDLE_W, K_W),
        "set xlabel 'time (s)'", "set ylabel 'power (W)'",
        'set yrange [0:*]', 'set key outside below', 'set grid',
        'plot ' + ', '.join(series)])
    subprocess.run(['gnuplot'], input=script, text=True, check=True)


def main():
    ap = argparse.ArgumentParser(
        description='the thesis\'s experiments against a ground-truth meter')
    ap.add_argument('--seconds', type=int, default=20,
                    help='intervals of 1 s per experiment (default 20)')
    ap.add_argument('--only', action='append', choices=list(EXPERIMENTS),
                    help='run only this experiment (may be repeated)')
    ap.add_argument('--out', default=os.path.join(TOP, 'build', 'validate'))
    args = ap.parse_args()
    if args.seconds < 5:
        ap.error('--seconds must be at least 5')

    probe = kvm_probe(linux=True)
    print('validate: ' + probe['POWER_PROBE'])
    guest = build_guest()
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    results = []
    for name in args.only or EXPERIMENTS:
        print('validate: %s ...' % name, flush=True)
        results += run_experiment(name, EXPERIMENTS[name], args, probe,
                                  guest, args.out)

    lines = ['qemu-power validation under %s (-cpu %s), meter: %g W idle '
             '+ %g W per busy CPU; qemu-powerd --idle-watts %g'
             % (probe['POWER_ACCEL'], probe['POWER_CPU'], IDLE_W, K_W,
                IDLE_W), '',
             '%-9s %-6s %8s %10s %10s %9s' % ('experiment', 'VM', 'seconds',
                                            'true W', 'reported W',
                                            'error %')]
    for r in results:
        err = 100 * (r['reported_j'] - r['true_j']) / r['true_j'] \
            if r['true_j'] > 0.5 else float('nan')
        r['error_pct'] = err
        lines.append('%-10s %-6s %8.1f %10.2f %10.2f %9.1f'
                     % (r['experiment'], r['vm'], r['seconds'], r['true_w'],
                        r['reported_w'], err))
    lines += ['', 'error: of the energy over the whole run, in % of the '
              'true energy (nan below 0.5 J)']
    text = '\n'.join(lines) + '\n'
    with open(os.path.join(args.out, 'summary.txt'), 'w') as f:
        f.write(text)
    with open(os.path.join(args.out, 'results.json'), 'w') as f:
        json.dump(results, f, indent=2)
    print(text + '\nvalidate: PNGs and summary in %s' % args.out)


if __name__ == '__main__':
    main()

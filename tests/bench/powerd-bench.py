#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Cost of polling N VMs (not a test: it prints what it measures, with
# ratios).  For N tiny halted VMs, each method polls once a second for
# --seconds, and we measure the poller's CPU (its rusage), libvirtd's CPU
# where libvirt is involved (/proc/PID/stat), and the time of one round:
#
#   powerd-qmp      qemu-powerd --qmp (direct QMP sockets)
#   proc-scan       reference: read each QEMU process's CPU time from
#                   /proc/PID/stat (what Kepler and Scaphandre do)
#   powerd-libvirt  qemu-powerd --libvirt (QMP passthrough)
#   bulk-stats      reference: virConnectGetAllDomainStats with perf
#                   task_clock (what 'virsh domstats --perf' does)
#
# The reference pollers are Python (python3-libvirt); qemu-powerd is C.
# Usage: powerd-bench.py [--vms 1,10,50] [--seconds 10] [--json FILE]
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
QEMU = os.path.join(TOP, 'build', 'qemu-system-x86_64')
POWERD = os.path.join(TOP, 'build', 'qemu-powerd')
LIBVIRTD = os.path.join(TOP, 'tests', 'integration', 'libvirtd.sh')

PROC_SCAN = r'''
import os, sys, time
mark, seconds = sys.argv[1], float(sys.argv[2])
end, rounds, took = time.monotonic() + seconds, 0, 0.0
while time.monotonic() < end:
    t = time.monotonic()
    cpu = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = open('/proc/%s/cmdline' % pid, 'rb').read()
            if b'qemu-system' not in cmd or mark.encode() not in cmd:
                continue
            f = open('/proc/%s/stat' % pid).read().rsplit(')', 1)[1].split()
            cpu[pid] = int(f[11]) + int(f[12])
        except OSError:
            pass
    took += time.monotonic() - t
    rounds += 1
    time.sleep(max(0, 1 - (time.monotonic() - t)))
print(rounds, took / rounds, len(cpu))
'''

BULK_STATS = r'''
import sys, time, libvirt
seconds = float(sys.argv[1])
conn = libvirt.open('qemu:///system')
end, rounds, took = time.monotonic() + seconds, 0, 0.0
while time.monotonic() < end:
    t = time.monotonic()
    stats = conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_PERF, 0)
    took += time.monotonic() - t
    rounds += 1
    time.sleep(max(0, 1 - (time.monotonic() - t)))
print(rounds, took / rounds, len(stats))
'''


def proc_cpu(pid):
    """CPU seconds of @pid's live threads, in ns resolution (schedstat)."""
    total = 0
    for tid in os.listdir('/proc/%d/task' % pid):
        try:
            total += int(open('/proc/%d/task/%s/schedstat'
                              % (pid, tid)).read().split()[0])
        except OSError:
            pass                        # the thread just exited
    return total / 1e9


def run(cmd, seconds, libvirtd_pid=None):
    """
    Run a poller for @seconds; return its CPU s and libvirtd's CPU s over
    the steady part (after 1.5 s of start-up, until 0.5 s before the end),
    that part's length, and the poller's output.
    """
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    time.sleep(1.5)
    t0, c0 = time.monotonic(), proc_cpu(p.pid)
    lv0 = proc_cpu(libvirtd_pid) if libvirtd_pid else 0
    time.sleep(seconds - 2)
    t1, c1 = time.monotonic(), proc_cpu(p.pid)
    lv = proc_cpu(libvirtd_pid) - lv0 if libvirtd_pid else 0
    out = p.stdout.read()
    if p.wait() != 0:
        sys.exit('powerd-bench: %s failed' % ' '.join(cmd))
    return c1 - c0, lv, t1 - t0, out


def powerd_round(out):
    lines = [json.loads(x) for x in out.splitlines() if x.strip()]
    polls = [x['poll_s'] for x in lines]
    ok = sum(v['status'] == 'ok' for v in lines[-1]['vms'])
    return sum(polls) / len(polls), ok


def start_vms(tmp, n, bios):
    pids = []
    for i in range(n):
        pidf = os.path.join(tmp, 'vm%d.pid' % i)
        subprocess.run([QEMU, '-name', 'bench%d' % i, '-M', 'pc', '-accel',
                        'tcg', '-cpu', 'max', '-smp', '1', '-m', '32',
                        '-nodefaults', '-display', 'none', '-bios', bios,
                        '-qmp', 'unix:%s/vm%d.qmp,server=on,wait=off'
                        % (tmp, i), '-pidfile', pidf, '-daemonize'],
                       check=True)
        pids.append(int(open(pidf).read()))
    return pids


def stop_vms(pids):
    for p in pids:
        try:
            os.kill(p, 15)
        except ProcessLookupError:
            pass
    for p in pids:
        while os.path.exists('/proc/%d' % p):
            time.sleep(0.05)


def libvirt_domains(tmp, n, bios, create):
    for i in range(n):
        name = 'qpbench%d' % i
        if not create:
            subprocess.run(['virsh', '-q', '-c', 'qemu:///system', 'destroy',
                            name], capture_output=True)
            continue
        xml = os.path.join(tmp, name + '.xml')
        with open(xml, 'w') as f:
            f.write("""<domain type='qemu'>
  <name>%s</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
  <cpu mode='maximum' check='none'/>
  <os><type arch='x86_64' machine='pc'>hvm</type>
      <loader type='rom'>%s</loader></os>
  <perf><event name='task_clock' enabled='yes'/></perf>
  <devices><emulator>%s</emulator>
    <controller type='usb' model='none'/><memballoon model='none'/>
  </devices>
</domain>
""" % (name, bios, QEMU))
        subprocess.run(['virsh', '-q', '-c', 'qemu:///system', 'create',
                        xml], check=True, capture_output=True)


def main():
    ap = argparse.ArgumentParser(description='cost of polling N VMs')
    ap.add_argument('--vms', default='1,10,50')
    ap.add_argument('--seconds', type=float, default=10,
                    help='per method, at least 4')
    ap.add_argument('--json')
    ap.add_argument('--no-libvirt', action='store_true')
    args = ap.parse_args()
    counts = [int(x) for x in args.vms.split(',')]
    results = []
    s = str(int(args.seconds))
    with tempfile.TemporaryDirectory(prefix='powerd-bench-') as tmp:
        bios = os.path.join(tmp, 'halt.bios')
        subprocess.run(['sh', os.path.join(TOP, 'scripts',
                                           'make-guest-bios.sh'), 'halt',
                        bios], check=True)
        lvdir = os.path.join(TOP, 'build', 'bench', 'libvirtd')
        lv_pid = None
        if not args.no_libvirt:
            subprocess.run(['sh', LIBVIRTD, 'start', lvdir], check=True,
                           stdout=subprocess.DEVNULL)
            lv_pid = int(open(os.path.join(lvdir, 'libvirtd.pid')).read())
        try:
            for n in counts:
                pids = start_vms(tmp, n, bios)
                time.sleep(1)
                cpu, _, wall, out = run([POWERD, '--qmp', tmp + '/*.qmp',
                                         '--energy-source', 'estimate',
                                         '--format', 'json', '--count', s],
                                        args.seconds)
                poll, ok = powerd_round(out)
                results.append({'vms': n, 'method': 'powerd-qmp',
                                'cpu_s': cpu, 'libvirtd_s': 0,
                                'wall_s': wall, 'poll_s': poll, 'ok': ok})
                cpu, _, wall, out = run([sys.executable, '-c', PROC_SCAN, tmp,
                                         s], args.seconds)
                rounds, poll, found = out.split()
                results.append({'vms': n, 'method': 'proc-scan',
                                'cpu_s': cpu, 'libvirtd_s': 0,
                                'wall_s': wall, 'poll_s': float(poll),
                                'ok': int(found)})
                stop_vms(pids)
                if args.no_libvirt:
                    continue
                libvirt_domains(tmp, n, bios, True)
                time.sleep(1)
                cpu, lv, wall, out = run([POWERD, '--libvirt',
                                          'qemu:///system',
                                          '--energy-source', 'estimate',
                                          '--format', 'json', '--count', s],
                                         args.seconds, lv_pid)
                poll, ok = powerd_round(out)
                results.append({'vms': n, 'method': 'powerd-libvirt',
                                'cpu_s': cpu, 'libvirtd_s': lv,
                                'wall_s': wall, 'poll_s': poll, 'ok': ok})
                        # Debian's python3, which has the libvirt module
                cpu, lv, wall, out = run(['/usr/bin/python3', '-c',
                                          BULK_STATS, s], args.seconds,
                                         lv_pid)
                rounds, poll, found = out.split()
                results.append({'vms': n, 'method': 'bulk-stats',
                                'cpu_s': cpu, 'libvirtd_s': lv,
                                'wall_s': wall, 'poll_s': float(poll),
                                'ok': int(found)})
                libvirt_domains(tmp, n, bios, False)
        finally:
            if not args.no_libvirt:
                libvirt_domains(tmp, max(counts), bios, False)
                subprocess.run(['sh', LIBVIRTD, 'stop', lvdir],
                               stdout=subprocess.DEVNULL)

    print('Polling N halted VMs once a second for %s s (CPU in ms per '
          'second of polling):' % s)
    print('%4s %-15s %4s %9s %10s %11s %14s %9s' % (
        'N', 'method', 'ok', 'round ms', 'poller ms', 'libvirtd ms',
        'ms/VM/round', 'vs bulk'))
    for r in results:
        per_s = 1000.0 / r['wall_s']
        r['poller_ms_per_s'] = r['cpu_s'] * per_s
        r['libvirtd_ms_per_s'] = r['libvirtd_s'] * per_s
        r['ms_per_vm'] = (r['cpu_s'] + r['libvirtd_s']) * per_s / r['vms']
    for r in results:
        bulk = [b for b in results if b['vms'] == r['vms'] and
                b['method'] == 'bulk-stats']
        ratio = '%8.1fx' % (r['ms_per_vm'] / bulk[0]['ms_per_vm']) \
            if bulk and bulk[0]['ms_per_vm'] > 0 else '%9s' % '-'
        print('%4d %-15s %4d %9.2f %10.2f %11.2f %14.3f %s' % (
            r['vms'], r['method'], r['ok'], 1000 * r['poll_s'],
            r['poller_ms_per_s'], r['libvirtd_ms_per_s'], r['ms_per_vm'],
            ratio))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'date': time.strftime('%Y-%m-%d %H:%M:%S'),
                       'cpus': os.cpu_count(), 'results': results}, f,
                      indent=2)
        print('\nwritten to %s' % args.json)


if __name__ == '__main__':
    main()

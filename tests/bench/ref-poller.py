#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# ref-poller.py: the reference pollers the benchmarks compare qemu-powerd
# with.  Each one applies qemu-powerd's formula,
#   watts(VM) = (zone watts - idle) * CPU(VM) / CPU busy(host, /proc/stat)
# (shares normalised if they add up to more than 1), to the same powercap
# energy, but counts each VM's CPU time its own way:
#
#   bulk-stats  virConnectGetAllDomainStats(VIR_DOMAIN_STATS_PERF): the
#               perf task_clock that libvirt counts for each domain
#               (needs <perf><event name='task_clock' enabled='yes'/>)
#   proc-scan   every /proc/PID/cmdline each round, and utime + stime of
#               /proc/PID/stat of each QEMU found (as Kepler and
#               Scaphandre do); --match keeps QEMUs whose command line
#               contains the string
#
# It prints one JSON object per interval in qemu-powerd's format (the
# fields time, interval_s, poll_s, host.zones[].watts and vms[] with name,
# status, share and zones[].watts), so one parser reads both.  poll_s is
# the time of the whole round (energy, /proc/stat and the VMs' CPU times).
# bulk-stats needs a python3 with the libvirt module.
#
# Usage: ref-poller.py --method bulk-stats|proc-scan [--sysfs-root DIR]
#                      [--idle-watts W] [--interval S] [--count N]
#                      [--match STR] [--uri URI]
import argparse
import json
import os
import sys
import time

TICK_NS = 1e9 / os.sysconf('SC_CLK_TCK')


def read_int(path):
    with open(path, 'rb') as f:
        return int(f.read())


class Powercap:
    """The energy counters under ROOT/class/powercap, wraps folded in."""

    def __init__(self, root):
        self.zones = []
        base = os.path.join(root, 'class', 'powercap')
        for d in sorted(os.listdir(base)):
            path = os.path.join(base, d)
            if not os.path.exists(os.path.join(path, 'energy_uj')):
                continue
            with open(os.path.join(path, 'name')) as f:
                name = f.read().strip()
            if name.startswith('package-') or name == 'dram':
                # qemu-powerd's names: package-N, dram-N
                name = name if name != 'dram' else \
                    'dram-' + d.split(':')[1]
            self.zones.append({'zone': name, 'path': path,
                               'range': read_int(os.path.join(
                                   path, 'max_energy_range_uj')),
                               'raw': None, 'uj': 0.0})

    def sample(self):
        """Cumulative energy of each zone, in µJ."""
        out = []
        for z in self.zones:
            raw = read_int(os.path.join(z['path'], 'energy_uj'))
            if z['raw'] is not None:
                d = raw - z['raw']
                z['uj'] += d if d >= 0 else d + z['range'] + 1
            z['raw'] = raw
            out.append(z['uj'])
        return out


def host_busy_ns():
    """Busy CPU time of the host as qemu-powerd counts it (/proc/stat)."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * TICK_NS


def qemu_name(args):
    """The VM's name from QEMU's -name (name or guest=name,...)."""
    for i, a in enumerate(args[:-1]):
        if a == b'-name':
            v = args[i + 1].split(b',')[0]
            if v.startswith(b'guest='):
                v = v[len(b'guest='):]
            return v.decode(errors='replace')
    return None


class ProcScan:
    def __init__(self, args):
        self.match = args.match.encode() if args.match else None
        self.me = os.getpid()

    def sample(self):
        """{VM name: CPU ns} of every QEMU process found now."""
        cpu = {}
        for pid in os.listdir('/proc'):
            if not pid.isdigit() or int(pid) == self.me:
                continue
            try:
                with open('/proc/%s/cmdline' % pid, 'rb') as f:
                    cmd = f.read()
                if b'qemu-system' not in cmd or \
                        (self.match and self.match not in cmd):
                    continue
                with open('/proc/%s/stat' % pid) as f:
                    st = f.read().rsplit(')', 1)[1].split()
            except OSError:
                continue                # gone meanwhile
            name = qemu_name(cmd.split(b'\0')) or pid
            cpu[name] = (int(st[11]) + int(st[12])) * TICK_NS
        return cpu


class BulkStats:
    def __init__(self, args):
        import libvirt
        self.libvirt = libvirt
        self.conn = libvirt.open(args.uri)

    def sample(self):
        cpu = {}
        for dom, st in self.conn.getAllDomainStats(
                self.libvirt.VIR_DOMAIN_STATS_PERF,
                self.libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE):
            if 'perf.task_clock' in st:
                cpu[dom.name()] = st['perf.task_clock']
        return cpu


def main():
    ap = argparse.ArgumentParser(description='reference per-VM power poller')
    ap.add_argument('--method', required=True,
                    choices=('bulk-stats', 'proc-scan'))
    ap.add_argument('--sysfs-root', help='powercap energy under DIR/class/'
                    'powercap (default: none, shares only)')
    ap.add_argument('--idle-watts', type=float, default=0.0)
    ap.add_argument('--interval', type=float, default=1.0)
    ap.add_argument('--count', type=int, default=0,
                    help='stop after N intervals (default: never)')
    ap.add_argument('--match', help='proc-scan: a string of the command line')
    ap.add_argument('--uri', default='qemu:///system')
    args = ap.parse_args()
    vms = (BulkStats if args.method == 'bulk-stats' else ProcScan)(args)
    energy = Powercap(args.sysfs_root) if args.sysfs_root else None

    prev = None
    t0 = time.monotonic()
    n = lines = 0
    while not args.count or lines < args.count:
        start = time.monotonic()
        real = time.time()
        e = energy.sample() if energy else []
        busy = host_busy_ns()
        cpu = vms.sample()
        poll = time.monotonic() - start
        if prev:
            dt = start - prev['t']
            dbusy = busy - prev['busy']
            shares = {}
            for name, c in cpu.items():
                if name in prev['cpu'] and dbusy > 0:
                    shares[name] = max(0.0, c - prev['cpu'][name]) / dbusy
            total = sum(shares.values())
            if total > 1:
                shares = {k: v / total for k, v in shares.items()}
            zones = []
            for i, z in enumerate(energy.zones if energy else []):
                w = (e[i] - prev['e'][i]) / 1e6 / dt
                zones.append({'zone': z['zone'], 'watts': w,
                              'active_watts': w - args.idle_watts})
            out = {'time': real, 'interval_s': dt, 'poll_s': poll,
                   'energy_source': 'powercap' if energy else None,
                   'host': {'zones': zones}, 'vms': []}
            for name in sorted(cpu):
                vm = {'name': name, 'status': 'new', 'zones': []}
                if name in shares:
                    vm['status'] = 'ok'
                    vm['share'] = shares[name]
                    vm['zones'] = [{'zone': z['zone'],
                                    'watts': z['active_watts'] * shares[name]}
                                   for z in zones]
                out['vms'].append(vm)
            print(json.dumps(out), flush=True)
            lines += 1
        prev = {'t': start, 'e': e, 'busy': busy, 'cpu': cpu}
        n += 1
        # the next tick of a fixed grid, as qemu-powerd does: no drift
        time.sleep(max(0.0, t0 + n * args.interval - time.monotonic()))


if __name__ == '__main__':
    sys.exit(main())

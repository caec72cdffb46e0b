#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# demo-watch.py SECONDS SUMMARY SOCKET...: poll query-power on each VM once
# a second and print how much CPU each VM's vCPUs and whole process used.
import json
import os
import socket
import sys
import time


class Qmp:
    def __init__(self, path):
        self.name = os.path.basename(path).rsplit('.', 1)[0]
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(path)
        self.f = s.makefile('rw')
        json.loads(self.f.readline())
        self.cmd('qmp_capabilities')

    def cmd(self, name):
        self.f.write(json.dumps({'execute': name}) + '\n')
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if 'event' not in r:
                break
        if 'error' in r:
            raise RuntimeError(r['error']['desc'])
        return r['return']


def main():
    seconds, summary = int(sys.argv[1]), sys.argv[2]
    vms = [Qmp(p) for p in sys.argv[3:]]
    first = prev = {vm.name: vm.cmd('query-power') for vm in vms}
    src = next(iter(first.values()))
    print('counter source: %s (%s)' % (src['counter-source'],
                                       src['counter-unit']))
    print('%6s' % 's' + ''.join('%16s' % vm.name for vm in vms))
    for t in range(1, seconds + 1):
        time.sleep(1)
        cur = {vm.name: vm.cmd('query-power') for vm in vms}
        row = []
        for vm in vms:
            a, b = prev[vm.name], cur[vm.name]
            wall = b['timestamp-ns'] - a['timestamp-ns']
            row.append(100.0 * (b['vcpu-count'] - a['vcpu-count']) / wall)
        print('%6d' % t + ''.join('%15.1f%%' % r for r in row), flush=True)
        prev = cur
    with open(summary, 'w') as out:
        out.write('VM      vCPU CPU%%  process CPU%%  (over %d s, %s)\n' %
                  (seconds, src['counter-source']))
        for vm in vms:
            a, b = first[vm.name], prev[vm.name]
            wall = b['timestamp-ns'] - a['timestamp-ns']
            out.write('%-6s %10.1f %13.1f\n' % (
                vm.name,
                100.0 * (b['vcpu-count'] - a['vcpu-count']) / wall,
                100.0 * (b['instance-count'] - a['instance-count']) / wall))
    print(open(summary).read(), end='')


if __name__ == '__main__':
    main()

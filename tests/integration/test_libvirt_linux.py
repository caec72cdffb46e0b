# SPDX-License-Identifier: GPL-2.0-or-later
#
# A Linux guest as a libvirt domain with our QEMU as its emulator, read
# through libvirt's passthrough (virsh qemu-monitor-command, no libvirt
# patch): work=cpu1 on 2 vCPUs shows one busy and one idle vCPU, as the
# threads' run time does, and the instance total is never below the vCPUs'.
import os
import time

from machines import linux_domain_xml, thread_cpu_ns, wait_until
from meter import host_steal_s


def test_linux_domain_query_power(libvirtd, probe, guest):
    console = os.path.join(libvirtd.dir, 'qpl-cpu1.console')
    if os.path.exists(console):
        os.unlink(console)
    libvirtd.create('qpl-cpu1', linux_domain_xml(
        probe, guest, 'qpl-cpu1', 'cpu1', console, vcpus=2))

    def ready():
        try:
            with open(console, errors='replace') as f:
                return 'qemu-power-guest: ready' in f.read()
        except FileNotFoundError:
            return False

    wait_until(ready, 120, 'the domain\'s guest prints its ready line')
    pid = libvirtd.pid('qpl-cpu1')
    a = libvirtd.qmp('qpl-cpu1', 'query-power')
    steal0 = host_steal_s()
    s0 = [thread_cpu_ns(pid, v['thread-id']) for v in a['vcpus']]
    time.sleep(2)           # the span to measure over
    b = libvirtd.qmp('qpl-cpu1', 'query-power')
    s1 = [thread_cpu_ns(pid, v['thread-id']) for v in b['vcpus']]
    wall = (b['timestamp-ns'] - a['timestamp-ns']) / 1e9
    steal = (host_steal_s() - steal0) / wall
    counted = [(vb['count'] - va['count']) / 1e9 / wall
               for va, vb in zip(a['vcpus'], b['vcpus'])]
    sched = [(y - x) / 1e9 / wall for x, y in zip(s0, s1)]
    print('%s domain: vCPU CPU/s counted %s, scheduler %s, stolen %.3f'
          % (probe['POWER_LIBVIRT_TYPE'], counted, sched, steal))
    assert len(b['vcpus']) == 2
    assert b['instance-count'] >= b['vcpu-count']
    # test_linux_guest.CLOCKS_AGREE: 5 %, and the steal on a nested host
    assert sched[0] > 0.5 and \
        abs(counted[0] - sched[0]) <= 0.05 * sched[0] + steal
    assert counted[1] < 0.05 and sched[1] < 0.05

# SPDX-License-Identifier: GPL-2.0-or-later
#
# A Linux guest as a libvirt domain with our QEMU as its emulator, read
# through libvirt's passthrough (virsh qemu-monitor-command, no libvirt
# patch): work=cpu1 on 2 vCPUs shows one busy and one idle vCPU, as the
# threads' run time does, and the instance total is never below the vCPUs'.
import os

from machines import counts_agree, linux_domain_xml, vcpu_rates, wait_until


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
    rates, steal, b = vcpu_rates(
        lambda: libvirtd.qmp('qpl-cpu1', 'query-power'), pid, 2.0)
    counted, sched = [r[0] for r in rates], [r[1] for r in rates]
    print('%s domain: vCPU CPU/s counted %s, scheduler %s, stolen %.3f'
          % (probe['POWER_LIBVIRT_TYPE'], counted, sched, steal))
    assert len(b['vcpus']) == 2
    assert b['instance-count'] >= b['vcpu-count']
    assert sched[0] > 0.5 and counts_agree(counted[0], sched[0], steal)
    assert counted[1] < 0.05 and sched[1] < 0.05

# SPDX-License-Identifier: GPL-2.0-or-later
#
# Discovery through libvirt's lifecycle events: qemu-powerd lists the
# domains when an event says that they changed (or once a minute), not
# every round; a domain started while it runs is found, and one destroyed
# is gone, within an interval or two.
import os
import time

from machines import (BUILD, kvm_probe, make_bios, tiny_domain_xml, vm_in,
                      wait_until)

# a round for the event to arrive, one for the list, one to spare
FOUND_WITHIN_S = 3.5


def names(line):
    return {v['name'] for v in line['vms']}


def test_lifecycle_events(libvirtd, meters, daemons):
    """
    One domain, then a second started and the first destroyed, under one
    qemu-powerd --libvirt --interval 1: while nothing changes (5
    intervals) libvirt is not listed at all (libvirt_lists, the JSON's
    and the metric's count, stays put); each change is seen within
    FOUND_WITHIN_S, at the cost of a list or two.
    """
    probe = kvm_probe()
    meter = meters()
    bios = make_bios('halt', os.path.join(BUILD, 'integration',
                                          'libvirt-halt.bin'))
    libvirtd.create('ev-a', tiny_domain_xml(probe, 'ev-a', bios))
    d = daemons('--libvirt', libvirtd.URI, '--sysfs-root', meter.root,
                '--energy-source', 'powercap', '--idle-watts', '10',
                '--format', 'json', '--interval', '1')
    ln = d.wait_lines(2, 'ev-a measured', timeout=30)
    assert vm_in(ln, 'ev-a')['status'] in ('new', 'ok'), ln
    quiet = d.wait_lines(5, 'five quiet intervals', timeout=15,
                         after=ln['time'])
    print('libvirt listed %d times before, %d after 5 quiet intervals' %
          (ln['libvirt_lists'], quiet['libvirt_lists']))
    assert quiet['libvirt_lists'] == ln['libvirt_lists'], (ln, quiet)

    libvirtd.create('ev-b', tiny_domain_xml(probe, 'ev-b', bios))
    started = time.time()
    wait_until(lambda: 'ev-b' in names(d.lines[-1]), FOUND_WITHIN_S,
               'ev-b found')
    print('ev-b found %.2f s after it started' % (time.time() - started))
    found = d.lines[-1]
    assert found['libvirt_lists'] > quiet['libvirt_lists'], found

    libvirtd.virsh('destroy', 'ev-a')
    libvirtd.domains.remove('ev-a')
    gone_at = time.time()
    wait_until(lambda: 'ev-a' not in names(d.lines[-1]), FOUND_WITHIN_S,
               'ev-a gone')
    print('ev-a gone %.2f s after it was destroyed' % (time.time() - gone_at))

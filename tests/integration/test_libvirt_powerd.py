# SPDX-License-Identifier: GPL-2.0-or-later
#
# (Scenario i.)  qemu-powerd --libvirt with a private libvirtd running
# QEMU as libvirt-qemu: two domains, found and named by libvirt, measured
# by query (--once) and by samples pushed through libvirt (auto mode),
# each domain's energy against the meter; on exit the sampling is stopped
# in every QEMU.
import os

from machines import (BUILD, kvm_probe, make_bios, meter_past,
                      tiny_domain_xml, vm_in, vm_zone_joules)

IDLE_W = 10.0
DOMS = (('qpi-spin', 'spin'), ('qpi-halt', 'halt'))


def test_libvirt_once_and_pushed(libvirtd, meters, daemons):
    probe = kvm_probe()
    meter = meters(idle_watts=IDLE_W)
    uuids = {}
    for name, guest in DOMS:
        bios = make_bios(guest, os.path.join(BUILD, 'integration',
                                             'libvirt-%s.bin' % guest))
        libvirtd.create(name, tiny_domain_xml(probe, name, bios))
        uuids[name] = libvirtd.virsh('domuuid', name).strip()
        meter.track(name, libvirtd.pid(name))
    args = ['--libvirt', libvirtd.URI, '--sysfs-root', meter.root,
            '--energy-source', 'powercap', '--idle-watts', str(IDLE_W),
            '--format', 'json']

    once = daemons(*args, '--once', '--interval', '2')
    assert once.wait(30) == 0, once.stderr()
    o = once.lines[0]
    assert {v['name']: v['uuid'] for v in o['vms']} == uuids
    assert all(v['status'] == 'ok' for v in o['vms']), o['vms']
    meter_past(meter, o['time'])
    for name, _ in DOMS:
        t1 = o['time'] - o['interval_s']
        true = meter.vm_joules(name, t1, o['time'])
        got = vm_zone_joules(o, name)
        lo, hi = meter.vm_bounds(true, t1, o['time'])
        print('--once %s: %.3f J reported, %.3f J true' % (name, got, true))
        assert lo <= got <= hi, (name, got, lo, hi)

    pushed = daemons(*args, '--count', '5', '--interval', '1')
    assert pushed.wait(40) == 0, pushed.stderr()
    lines = pushed.lines
    for ln in lines[1:]:
        for name, _ in DOMS:
            v = vm_in(ln, name)
            assert (v['mode'], v['status']) == ('channel', 'ok'), v
    first, end = lines[1], lines[-1]
    meter_past(meter, end['time'])
    for name, _ in DOMS:
        got = vm_zone_joules(end, name) - vm_zone_joules(first, name)
        true = meter.vm_joules(name, first['time'], end['time'])
        lo, hi = meter.vm_bounds(true, first['time'], end['time'])
        print('pushed %s: %.3f J reported, %.3f J true' % (name, got, true))
        assert lo <= got <= hi, (name, got, lo, hi)
        # the daemon's exit closed the channel, which stopped sampling
        st = libvirtd.qmp(name, 'query-power-sampling')
        assert st.get('stop-reason') == 'channel-closed', st

# SPDX-License-Identifier: GPL-2.0-or-later
#
# The libvirt passthrough with an unpatched libvirt: two transient domains
# of the private libvirtd (QEMU as libvirt-qemu) with our QEMU as their
# emulator and the tiny spin and halt guests as their firmware, read
# through 'virsh qemu-monitor-command': query-power's documented members,
# counts that match the vCPU threads' run time, HMP 'info power', and an
# unknown argument refused.
import json
import os
import pwd

from machines import (BUILD, counts_agree, kvm_probe, make_bios,
                      tiny_domain_xml, vcpu_rates)

DOMS = (('qp-spin', 'spin'), ('qp-idle', 'halt'))


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def cmdline(pid):
    with open('/proc/%d/cmdline' % pid) as f:
        return f.read().split('\0')


def uid_of(pid):
    with open('/proc/%d/status' % pid) as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith('Uid:'))


def check_members(r):
    """query-power's return has the members docs/qmp.rst lists."""
    assert is_int(r['timestamp-ns']) and is_int(r['instance-count'])
    assert is_int(r['vcpu-count']) and r['instance-count'] >= r['vcpu-count']
    assert r['counter-source'] in ('cycles', 'task-clock', 'schedstat'), r
    assert 'counter-unit' not in r, r       # it follows from the source
    (v,) = r['vcpus']
    assert v['cpu-index'] == 0 and isinstance(v['qom-path'], str), v
    assert is_int(v['thread-id']) and is_int(v['count']), v
    assert isinstance(v['shared-thread'], bool), v
    e = r['host-energy']
    assert isinstance(e['available'], bool) and isinstance(e['zones'], list)
    # libvirt's QEMU has no helper here: no energy, and it says why
    assert e['available'] or isinstance(e.get('reason'), str), e


def test_passthrough(libvirtd):
    probe = kvm_probe()
    bios = {}
    for name, guest in DOMS:
        bios[name] = make_bios(guest, os.path.join(
            BUILD, 'integration', 'passthrough-%s.bin' % guest))
        libvirtd.create(name, tiny_domain_xml(probe, name, bios[name]))
    qemu_uid = pwd.getpwnam('libvirt-qemu').pw_uid
    for name, _ in DOMS:
        pid = libvirtd.pid(name)
        args = cmdline(pid)
        # the loader is QEMU's -bios, and there is no disk
        assert bios[name] in args and \
            args[args.index(bios[name]) - 1] == '-bios', args
        assert not {'-drive', '-blockdev', '-hda', '-cdrom'} & set(args), args
        assert uid_of(pid) == qemu_uid, 'QEMU does not run as libvirt-qemu'

    for name, _ in DOMS:
        pid = libvirtd.pid(name)
        rates, steal, last = vcpu_rates(
            lambda: libvirtd.qmp(name, 'query-power'), pid, 1.0)
        check_members(last)
        ((counted, sched),) = rates
        print('%s (%s): vCPU CPU/s counted %.3f, scheduler %.3f, stolen %.3f'
              % (name, probe['POWER_LIBVIRT_TYPE'], counted, sched, steal))
        if name == 'qp-spin':
            assert sched > 0.5 and counts_agree(counted, sched, steal)
        else:
            assert counted < 0.05 and sched < 0.05

    # the guests run where they should: in the BIOS segment, halted or not
    for name, halted in (('qp-spin', '0'), ('qp-idle', '1')):
        regs = libvirtd.virsh('qemu-monitor-command', name, '--hmp',
                              'info registers')
        words = dict(w.split('=', 1) for w in
                     regs.replace('CS =', 'CS=').split() if '=' in w)
        assert (words.get('CS'), words.get('HLT')) == ('f000', halted), regs

    for name, _ in DOMS:
        hmp = libvirtd.virsh('qemu-monitor-command', name, '--hmp',
                             'info power')
        assert 'counter source:' in hmp and 'CPU 0 thread' in hmp, hmp
        # virsh passes a QMP error through as the reply, exit status 0
        r = json.loads(libvirtd.virsh(
            'qemu-monitor-command', name,
            '{"execute":"query-power","arguments":{"bogus":1}}'))
        assert r['error']['class'] == 'GenericError', r
        assert 'bogus' in r['error']['desc'], r

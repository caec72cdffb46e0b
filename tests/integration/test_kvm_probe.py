# SPDX-License-Identifier: GPL-2.0-or-later
#
# scripts/kvm-probe.sh decides the way it should on any machine, with or
# without a working /dev/kvm: stand-in QEMUs that behave like the hosts we
# have met (one whose KVM refuses IA32_ARCH_CAPABILITIES and aborts exactly
# as logged in shared/notes/operator-world.md, one where nothing runs, one
# where -cpu max runs) over a stand-in device node; then the real probe of
# this machine, whose answer is printed.  make check runs this file first,
# as its kvm-probe phase: every guest after it gets the probe's answer.
import os
import pathlib
import pwd
import shlex
import shutil
import subprocess
import tempfile

import pytest

from machines import QEMU, TOP, make_bios

PROBE = os.path.join(TOP, 'scripts', 'kvm-probe.sh')
MSR = 'error: failed to set MSR 0x10a to 0xc000069'

# A QEMU that counts its runs in NAME.runs and then does BEHAVIOUR:
# max-works (exits as the exit guest does), needs-no-arch-capabilities
# (so with -cpu max,-arch-capabilities only), or aborts as QEMU does on a
# host that refuses the MSR's value.
STAND_IN = r'''#!/bin/sh
echo run >> "%(runs)s"
cpu=
while [ $# -gt 0 ]; do
    [ "$1" = -cpu ] && cpu=$2
    shift
done
case "%(behaviour)s:$cpu" in
max-works:*) exit 85 ;;
needs-no-arch-capabilities:max,-arch-capabilities) exit 85 ;;
esac
q=qemu-system-x86_64
echo "$q: error: failed to set MSR 0x10a to 0xc000069" >&2
echo "$q: ../target/i386/kvm/kvm.c:3877: kvm_buf_set_msrs:" \
     "Assertion \`ret == cpu->kvm_msr_buf->nmsrs' failed." >&2
kill -ABRT $$
'''


class StandIn:
    def __init__(self, directory, name, behaviour):
        self.path = os.path.join(directory, name)
        self.runs_path = self.path + '.runs'
        with open(self.path, 'w') as f:
            f.write(STAND_IN % {'runs': self.runs_path,
                                'behaviour': behaviour})
        os.chmod(self.path, 0o755)
        open(self.runs_path, 'w').close()

    def runs(self):
        with open(self.runs_path) as f:
            return len(f.readlines())


@pytest.fixture
def box():
    """A folder others may enter (pytest's own are root's only), with a
    stand-in device node (0600)."""
    d = pathlib.Path(tempfile.mkdtemp(prefix='qp-probe-', dir='/tmp'))
    os.chmod(d, 0o755)
    kvm = d / 'kvm'
    kvm.touch()
    os.chmod(kvm, 0o600)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def probe(qemu, device, user='', cache=None, wrapper=()):
    """The probe's answer as a dict (libvirt's user not asked without
    @user: the stand-in device is root's only)."""
    env = dict(os.environ, KVM_PROBE_DEVICE=str(device),
               KVM_PROBE_CACHE=str(cache or os.path.join(
                   os.path.dirname(str(device)), 'cache')),
               KVM_PROBE_LIBVIRT_USER=user)
    out = subprocess.run(list(wrapper) + ['sh', PROBE, str(qemu)], env=env,
                         check=True, capture_output=True, text=True).stdout
    return dict(w.split('=', 1) for w in shlex.split(out, comments=True))


def test_refuses_arch_capabilities(box):
    q = StandIn(box, 'quirky', 'needs-no-arch-capabilities')
    p = probe(q.path, box / 'kvm')
    assert (p['POWER_ACCEL'], p['POWER_CPU'], p['POWER_LIBVIRT_TYPE']) == \
        ('kvm', 'max,-arch-capabilities', 'kvm')
    # the reason quotes QEMU's own error
    assert p['POWER_PROBE'] == (
        'guests run under KVM with -cpu max,-arch-capabilities: -cpu max '
        'fails (%s); -cpu max,-arch-capabilities runs' % MSR)
    assert p['POWER_LIBVIRT_CPU'] == (
        "<cpu mode='maximum' check='none'><feature policy='disable' "
        "name='arch-capabilities'/></cpu>")
    probe(q.path, box / 'kvm')
    assert q.runs() == 2, 'the answer is not cached'
    os.utime(q.path, (978307200, 978307200))        # 2001-01-01
    probe(q.path, box / 'kvm')
    assert q.runs() == 4, 'a rebuilt QEMU is not probed again'


def test_nothing_runs(box):
    q = StandIn(box, 'broken', 'nothing-works')
    p = probe(q.path, box / 'kvm')
    assert (p['POWER_ACCEL'], p['POWER_CPU'], p['POWER_LIBVIRT_TYPE'],
            p['POWER_LIBVIRT_CPU']) == \
        ('tcg', 'max', 'qemu', "<cpu mode='maximum' check='none'/>")
    assert p['POWER_PROBE'] == (
        'guests run under TCG: -cpu max fails (%s); '
        '-cpu max,-arch-capabilities fails (%s)' % (MSR, MSR))


def test_max_runs_and_no_device(box):
    q = StandIn(box, 'good', 'max-works')
    p = probe(q.path, box / 'kvm')
    assert (p['POWER_ACCEL'], p['POWER_CPU'], q.runs()) == ('kvm', 'max', 1)
    p = probe(q.path, box / 'no-such-device')
    assert (p['POWER_ACCEL'], p['POWER_PROBE'], q.runs()) == (
        'tcg', 'guests run under TCG: %s does not exist'
        % (box / 'no-such-device'), 1)


@pytest.mark.skipif(os.getuid() != 0, reason='needs root to change users')
def test_libvirt_user(box):
    """libvirt's QEMU user without access to the device: its domains get
    TCG, and KVM once it can open it."""
    q = StandIn(box, 'lvgood', 'max-works')
    p = probe(q.path, box / 'kvm', user='nobody')
    assert (p['POWER_ACCEL'], p['POWER_LIBVIRT_TYPE'], p['POWER_PROBE']) == (
        'kvm', 'qemu', "guests run under KVM with -cpu max: -cpu max runs; "
        "libvirt domains under TCG: libvirt's QEMU user nobody cannot open "
        "%s" % (box / 'kvm'))
    os.chmod(box / 'kvm', 0o666)
    p = probe(q.path, box / 'kvm', user='nobody')
    assert (p['POWER_ACCEL'], p['POWER_LIBVIRT_TYPE']) == ('kvm', 'kvm')


@pytest.mark.skipif(os.getuid() != 0, reason='needs root to change users')
def test_device_not_accessible(box):
    """As root every file opens: asked as nobody, a 0600 node is TCG."""
    q = StandIn(box, 'good', 'max-works')
    cache = box / 'cache-nobody'
    cache.mkdir()
    os.chmod(cache, 0o777)
    p = probe(q.path, box / 'kvm', cache=cache, wrapper=(
        'setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'))
    assert p['POWER_PROBE'] == (
        'guests run under TCG: %s is not readable and writable by uid %d'
        % (box / 'kvm', pwd.getpwnam('nobody').pw_uid))


def test_no_qemu(box):
    res = subprocess.run(['sh', PROBE, str(box / 'none')],
                         capture_output=True, text=True)
    assert res.returncode != 0
    assert 'kvm-probe: no QEMU at' in res.stdout + res.stderr


def test_this_machine(tmp_path):
    """This machine, as every other test sees it: printed, and a KVM
    guest with the CPU model it names really runs."""
    p = probe(QEMU, '/dev/kvm', user='libvirt-qemu',
              cache=tmp_path / 'cache')
    print('this machine: ' + p['POWER_PROBE'])
    if p['POWER_ACCEL'] != 'kvm':
        return
    bios = make_bios('exit', str(tmp_path / 'exit.bios'))
    res = subprocess.run(
        [QEMU, '-M', 'pc', '-accel', 'kvm', '-cpu', p['POWER_CPU'], '-m',
         '16', '-nodefaults', '-display', 'none', '-bios', bios, '-device',
         'isa-debug-exit,iobase=0xf4,iosize=1'], capture_output=True,
        timeout=60)
    assert res.returncode == 85, res.stderr

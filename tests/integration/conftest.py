# SPDX-License-Identifier: GPL-2.0-or-later
#
# Fixtures of the pytest integration suite (tests/integration/test_*.py),
# built from machines.py: the probe's answer, the Linux guest, started
# Linux VMs that are always shut down, short temporary folders.
import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from machines import (BUILD, RESULTS, Libvirtd, LinuxVM,  # noqa: E402
                      build_guest, kvm_probe)


def pytest_terminal_summary(terminalreporter):
    """The numbers tests measured (machines.RESULTS), at the end."""
    if RESULTS:
        terminalreporter.section('measured')
        for line in RESULTS:
            terminalreporter.write_line(line)


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'stress: the long set, run by make check-stress '
        '(make check runs the others)')


@pytest.fixture(scope='session')
def probe():
    """The accelerator and CPU model of Linux guests here."""
    p = kvm_probe(linux=True)
    print('kvm-probe: ' + p['POWER_PROBE'])
    return p


@pytest.fixture(scope='session')
def guest():
    return build_guest()


@pytest.fixture
def tmpdir_short():
    """A short temporary folder: UNIX socket paths are limited to 108."""
    d = tempfile.mkdtemp(prefix='qp-', dir='/tmp')
    yield d
    shutil.rmtree(d, ignore_errors=True)


def launched(new):
    """
    For a factory fixture: make(...) launches and returns new(...); the
    generator shuts every machine made down when the test ends.
    """
    vms = []

    def make(*args, **kw):
        vm = new(*args, **kw)
        vms.append(vm)
        vm.launch()
        return vm

    try:
        yield make
    finally:
        for vm in vms:
            vm.shutdown(hard=True)


@pytest.fixture
def linux_vm(probe, guest, tmpdir_short):
    """A factory of started LinuxVMs, shut down at the end of the test."""
    yield from launched(lambda name, work, **kw:
                        LinuxVM(probe, guest, tmpdir_short, name, work, **kw))


@pytest.fixture
def libvirtd():
    """
    A private libvirtd, stopped with its domains at the end of the test.
    It runs QEMU as libvirt's default user (Debian's libvirt-qemu), as
    operators do; such a QEMU gets host energy and policy only through
    qemu-power-helper (test_helper.py).
    """
    d = Libvirtd(os.path.join(BUILD, 'integration', 'pytest-libvirtd'))
    d.start()
    yield d
    d.stop()


@pytest.fixture(scope='session')
def tiny_probe():
    """The accelerator and CPU model of tiny guests here."""
    from machines import kvm_probe
    return kvm_probe()


@pytest.fixture
def tiny(tiny_probe, tmpdir_short):
    """
    A factory of launched tiny guests (TinyVM), each with a QMP socket
    TMPDIR/NAME.qmp for qemu-powerd (or the sockets given), shut down
    at the end of the test; qemu=machines.STOCK_QEMU runs Debian's QEMU.
    """
    from machines import QEMU, TinyVM, qmp_args

    def new(name, guest, sockets=None, args=(), qemu=QEMU):
        if sockets is None:
            sockets = [os.path.join(tmpdir_short, name + '.qmp')]
        return TinyVM(tiny_probe, tmpdir_short, name, guest,
                      args=qmp_args(*sockets) + list(args), qemu=qemu)

    yield from launched(new)


@pytest.fixture
def fake_qmp(tmpdir_short):
    """A factory of started FakeQMP servers, stopped at the end."""
    from machines import FakeQMP
    fakes = []

    def make(name, case, directory=None):
        f = FakeQMP(os.path.join(directory or tmpdir_short, name + '.qmp'),
                    name, case)
        fakes.append(f)
        return f.start()

    yield make
    for f in fakes:
        f.stop()


@pytest.fixture
def daemons(tmpdir_short):
    """A factory of qemu-powerd processes (machines.Powerd), killed at the
    end of the test if they still run; binary='valgrind' (say) runs that
    with the arguments instead."""
    from machines import POWERD, Powerd
    procs = []

    def make(*args, binary=POWERD):
        d = Powerd(list(args), tmpdir_short, binary=binary)
        procs.append(d)
        return d

    yield make
    for d in procs:
        d.close()


@pytest.fixture
def helpers(tmpdir_short):
    """A factory of started qemu-power-helpers (machines.Helper) over a
    tree, stopped at the end of the test, failed or not."""
    from machines import Helper
    made = []

    def make(tree, *args, name='helper', wrapper=()):
        hp = Helper(tmpdir_short, tree, args, name=name, wrapper=wrapper)
        made.append(hp)
        return hp.start()

    yield make
    for hp in made:
        if hp.proc and hp.proc.poll() is None:
            hp.stop()


@pytest.fixture
def meters(tmpdir_short):
    """A factory of started meters (meter.Meter) on TMPDIR/NAME, stopped
    at the end of the test."""
    from meter import Meter
    started = []

    def make(name='sys', **kw):
        m = Meter(os.path.join(tmpdir_short, name), **kw)
        started.append(m)
        return m.start()

    yield make
    for m in started:
        m.stop()

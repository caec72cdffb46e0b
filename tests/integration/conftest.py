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

from machines import (BUILD, Libvirtd, LinuxVM, build_guest,  # noqa: E402
                      kvm_probe)


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


@pytest.fixture
def linux_vm(probe, guest, tmpdir_short):
    """A factory of started LinuxVMs, shut down at the end of the test."""
    vms = []

    def make(name, work, **kw):
        vm = LinuxVM(probe, guest, tmpdir_short, name, work, **kw)
        vms.append(vm)
        vm.launch()
        return vm

    yield make
    for vm in vms:
        vm.shutdown(hard=True)


@pytest.fixture
def libvirtd():
    """
    A private libvirtd, stopped with its domains at the end of the test.
    libvirtd.sh runs QEMU as root for now: the unprivileged libvirt-qemu
    of Debian's default needs the helper of issue 14 for host energy.
    """
    d = Libvirtd(os.path.join(BUILD, 'integration', 'pytest-libvirtd'))
    d.start()
    yield d
    d.stop()


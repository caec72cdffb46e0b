# SPDX-License-Identifier: GPL-2.0-or-later
#
# Real Linux guests (scripts/build-guest.sh) under the probe's accelerator:
# query-power against the vCPU threads' own run time, the instance total
# against the vCPU counts at every sample, vCPU hot-unplug through the
# guest's own ACPI eject, and qemu-powerd's attribution against the fake
# meter's truth.
import os
import time

from machines import (counts_agree, fd_count, powerd_on_meter, vcpu_rates,
                      wait_until)
from meter import Meter


def test_cpu1_one_busy_one_idle(linux_vm, probe):
    """
    Two vCPUs, work on one: query-power shows it busy and the other idle,
    as the threads' run time does; over 30 s, the instance total is never
    below the vCPU total and no count goes back.
    """
    vm = linux_vm('cpu1', 'cpu1', smp=2)
    rates, steal, _ = vcpu_rates(vm.query_power, vm.get_pid(), 2.0)
    print('%s: vCPU (counted, scheduler) CPU/s: %s, %.3f CPU/s stolen'
          % (probe['POWER_ACCEL'], rates, steal))
    (busy, busy_sched), (idle, idle_sched) = rates
    assert busy_sched > 0.5, 'the busy vCPU thread barely ran'
    assert counts_agree(busy, busy_sched, steal)
    assert idle < 0.05 and idle_sched < 0.05

    prev = None
    deadline = time.monotonic() + 30
    samples = 0
    while time.monotonic() < deadline:
        p = vm.query_power()
        assert p['instance-count'] >= p['vcpu-count'], p
        assert sum(v['count'] for v in p['vcpus']) == p['vcpu-count']
        if prev:
            assert p['instance-count'] >= prev['instance-count']
            assert p['vcpu-count'] >= prev['vcpu-count']
            for va, vb in zip(prev['vcpus'], p['vcpus']):
                assert vb['count'] >= va['count']
        prev = p
        samples += 1
        time.sleep(0.1)
    print('%d samples over 30 s, counter source %s'
          % (samples, prev['counter-source']))
    assert samples >= 100


def hotpluggable_free(vm):
    for c in vm.qmp('query-hotpluggable-cpus')['return']:
        if 'qom-path' not in c:
            return c
    return None


def test_vcpu_hot_unplug_with_linux(linux_vm):
    """
    A vCPU added and then removed while Linux runs: the guest onlines it,
    ejects it through ACPI (DEVICE_DELETED), the list follows, no count
    goes back and QEMU's file descriptors return to what they were.
    """
    vm = linux_vm('hotplug', 'idle', smp='1,maxcpus=2')
    pid = vm.get_pid()
    # counted after the first query-power, which opens the host's energy
    # counters (a perf power PMU, where the host has one) for good
    before = vm.query_power()
    fds = fd_count(pid)
    assert len(before['vcpus']) == 1

    slot = hotpluggable_free(vm)
    assert slot, 'no free vCPU slot'
    vm.cmd('device_add', driver=slot['type'], id='cpu1', **slot['props'])
    plugged = wait_until(
        lambda: (lambda p: p if len(p['vcpus']) == 2 else None)(
            vm.query_power()), 10, 'query-power lists the new vCPU')
    wait_until(lambda: 'cpu1 online' in vm.console(), 30,
               'the guest onlines the new vCPU (console: %r)'
               % vm.console()[-300:])
    assert plugged['vcpu-count'] >= before['vcpu-count']

    vm.cmd('device_del', id='cpu1')
    # QEMU 10.0 (and 7.2) announce only the vCPU's lapic child once the
    # guest has ejected it: the CPU object itself is never finalized.
    ev = vm.event_wait('DEVICE_DELETED', timeout=30, match={
        'data': {'path': '/machine/peripheral/cpu1/lapic'}})
    assert ev is not None, 'the guest did not eject the vCPU'
    after = wait_until(
        lambda: (lambda p: p if len(p['vcpus']) == 1 else None)(
            vm.query_power()), 10, 'query-power drops the vCPU')
    assert after['vcpu-count'] >= plugged['vcpu-count']
    assert after['instance-count'] >= after['vcpu-count']
    wait_until(lambda: fd_count(pid) == fds, 10,
               'QEMU\'s fd count returns to %d' % fds)


def test_powerd_attribution_linux(linux_vm, tmpdir_short):
    """
    A busy and an idle Linux VM under qemu-powerd, with a meter whose
    energy follows the CPU time it measures: each VM's energy over the
    whole run matches its truth (k x its QEMU's run time).
    """
    root = os.path.join(tmpdir_short, 'sys')
    meter = Meter(root, idle_watts=10.0, watts_per_cpu=20.0)
    vms = {}
    for name, work in (('busy', 'cpu'), ('idle', 'idle')):
        qmp = os.path.join(tmpdir_short, name + '.qmp')
        vms[name] = linux_vm(name, work, args=(
            '-qmp', 'unix:%s,server=on,wait=off' % qmp))
        meter.track(name, vms[name].get_pid())
    lines = powerd_on_meter(meter, os.path.join(tmpdir_short, '*.qmp'), 12,
                            idle_watts=10)
    ok = [ln for ln in lines
          if all(v['status'] == 'ok' for v in ln['vms'])
          and len(ln['vms']) == 2]
    assert len(ok) >= 8, lines
    first, last = ok[0], ok[-1]

    def joules(line, name):
        vm = next(v for v in line['vms'] if v['name'] == name)
        return next(z['energy_joules'] for z in vm['zones']
                    if z['zone'] == 'package-0')

    t1, t2 = first['time'], last['time']
    for name in vms:
        got = joules(last, name) - joules(first, name)
        true = meter.vm_joules(name, t1, t2)
        print('%s: %.2f J reported, %.2f J true over %.1f s'
              % (name, got, true, t2 - t1))
        # within 5 % of the busy VM's energy (the two clocks, and
        # qemu-powerd's host work from /proc/stat ticks)
        assert abs(got - true) <= 0.05 * meter.vm_joules('busy', t1, t2)

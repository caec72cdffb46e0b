# SPDX-License-Identifier: GPL-2.0-or-later
#
# A host mid-rollout: QEMUs with the patch set beside Debian's own QEMU
# (machines.STOCK_QEMU, 7.2), which has no query-power.  qemu-powerd
# measures the stock one from its process's CPU time in /proc, in the
# clock of the patched QEMUs' schedstat counters, marks it "stock" in
# every output, and the parts of the host's power still add up.  Each
# VM's energy is judged by the meter.
import csv
import io
import os
import re
import urllib.request

from machines import (BUILD, STOCK_QEMU, free_port, host_zone, kvm_probe,
                      make_bios, meter_past, run_powerd, tiny_domain_xml,
                      vm_in, vm_zone_joules)

IDLE_W = 10.0


def check_parts_add_up(line):
    """Per zone: idle + the VMs + unattributed + other = measured."""
    for z in line['host']['zones']:
        vms = sum(next(x['watts'] for x in v['zones']
                       if x['zone'] == z['zone']) for v in line['vms'])
        parts = z['idle_watts'] + vms + z['unattributed_watts'] + \
            z['other_watts']
        assert abs(parts - z['watts']) <= 1e-6 * max(1, z['watts']), \
            (z, vms)


def check_energy(meter, lines, name, stock):
    first, end = lines[1], lines[-1]
    t1, t2 = first['time'], end['time']
    meter_past(meter, t2)
    got = vm_zone_joules(end, name) - vm_zone_joules(first, name)
    true = meter.vm_joules(name, t1, t2)
    lo, hi = meter.vm_bounds(true, t1, t2)
    print('%s%s: %.3f J reported, %.3f J true (%+.1f %%), meter bounds '
          '%.3f..%.3f' % (name, ' (stock)' if stock else '', got, true,
                          100 * (got / true - 1) if true else 0, lo, hi))
    # the meter's bounds (5 % and a tick or two) are tighter than the
    # issue's 10 % for the stock VM, and hold for it as for the others
    assert lo <= got <= hi, (name, got, lo, hi)
    return got


def test_mixed_host_qmp(tiny, meters, tmpdir_short, daemons):
    """
    Two patched QEMUs (spin, halt) and a stock one (half) on QMP sockets
    under one qemu-powerd, in auto mode and in poll mode: the stock VM is
    "stock" (JSON, table, CSV, Prometheus), the others write to a
    channel or are polled; every interval's parts add up; each VM's energy is within
    the meter's bounds, the stock one's within 10 % of its truth.
    """
    assert os.access(STOCK_QEMU, os.X_OK), 'scripts/install-deps.sh ' \
        'installs Debian\'s QEMU with libvirt'
    meter = meters(idle_watts=IDLE_W)
    vms = {'m-spin': ('spin', False), 'm-halt': ('halt', False),
           'm-stock': ('half', True)}
    for name, (guest, stock) in vms.items():
        vm = tiny(name, guest, qemu=STOCK_QEMU) if stock else \
            tiny(name, guest)
        meter.track(name, vm.get_pid())
    args = ['--qmp', os.path.join(tmpdir_short, '*.qmp'), '--format', 'json',
            '--energy-source', 'powercap', '--sysfs-root', meter.root,
            '--idle-watts', str(IDLE_W), '--interval', '1']
    for mode in ('auto', 'poll'):
        d = daemons(*args, '--count', '8', '--mode', mode)
        assert d.wait(40) == 0, d.stderr()
        assert len(d.lines) == 8
        for ln in d.lines:
            check_parts_add_up(ln)
        for ln in d.lines[1:]:
            for name, (_, stock) in vms.items():
                v = vm_in(ln, name)
                want = 'stock' if stock else \
                    ('poll' if mode == 'poll' else 'channel')
                assert (v['mode'], v['status']) == (want, 'ok'), v
                assert (v['counter_source'] == 'process-cputime') == stock, v
        got = {name: check_energy(meter, d.lines, name, stock)
               for name, (_, stock) in vms.items()}
        # what the guests do: spinning costs most, halting about nothing,
        # and the half guest, busy every other 10 ms, about half the
        # spinner (0.52 under TCG).  A stock guest that never ran (7.2 has
        # no x2APIC under TCG, and 'half' once needed it) would be "within
        # 10 %" of a truth of nothing: this catches it.
        assert got['m-halt'] < got['m-stock'] < got['m-spin'], got
        assert 0.25 < got['m-stock'] / got['m-spin'] < 0.75, got

    base = [a for a in args if a != 'json' and a != '--format']
    table = run_powerd(base + ['--count', '2', '--format', 'table'])
    assert table.returncode == 0, table.stderr
    rows = [r for r in table.stdout.splitlines() if r.startswith('m-')]
    assert len(rows) == 6, table.stdout
    assert all(('stock QEMU' in r) == r.startswith('m-stock')
               for r in rows), table.stdout
    c = run_powerd(base + ['--count', '2', '--format', 'csv'])
    assert c.returncode == 0, c.stderr
    rows = list(csv.DictReader(io.StringIO(c.stdout)))
    assert {r['vm']: r['mode'] for r in rows} == \
        {'m-spin': 'channel', 'm-halt': 'channel', 'm-stock': 'stock'}, rows

    port = free_port()
    d = daemons(*args, '--listen', '127.0.0.1:%d' % port)
    d.wait_lines(2, 'two intervals', timeout=20)
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port,
                                timeout=5) as r:
        page = r.read().decode()
    info = {m.group(1): m.group(2) for m in re.finditer(
        r'^qemu_power_vm_info\{vm="([^"]*)".*mode="([^"]*)"', page, re.M)}
    assert info == {'m-spin': 'channel', 'm-halt': 'channel',
                    'm-stock': 'stock'}, page


def test_mixed_host_libvirt(libvirtd, meters, daemons):
    """
    A domain of our QEMU and one whose <emulator> is Debian's, under one
    qemu-powerd --libvirt: the stock one is found, its process known from
    its vCPU threads, and it is measured within 10 % of its truth; the
    parts add up.
    """
    probe = kvm_probe()
    meter = meters(idle_watts=IDLE_W)
    doms = {'ms-ours': ('half', None), 'ms-stock': ('spin', STOCK_QEMU)}
    for name, (guest, emulator) in doms.items():
        bios = make_bios(guest, os.path.join(BUILD, 'integration',
                                             'libvirt-%s.bin' % guest))
        kw = {'emulator': emulator} if emulator else {}
        libvirtd.create(name, tiny_domain_xml(probe, name, bios, **kw))
        meter.track(name, libvirtd.pid(name))
    d = daemons('--libvirt', libvirtd.URI, '--sysfs-root', meter.root,
                '--energy-source', 'powercap', '--idle-watts', str(IDLE_W),
                '--format', 'json', '--interval', '1', '--count', '8')
    assert d.wait(60) == 0, d.stderr()
    for ln in d.lines:
        check_parts_add_up(ln)
    for ln in d.lines[1:]:
        assert (vm_in(ln, 'ms-stock')['mode'],
                vm_in(ln, 'ms-stock')['status']) == ('stock', 'ok'), ln
        assert vm_in(ln, 'ms-ours')['mode'] == 'channel', ln
    for name, (_, emulator) in doms.items():
        check_energy(meter, d.lines, name, emulator is not None)
    assert host_zone(d.lines[-1])['watts'] > IDLE_W

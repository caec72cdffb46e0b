# SPDX-License-Identifier: GPL-2.0-or-later
#
# Names a tenant may give a VM (a tab, a quote, a backslash, a newline,
# non-ASCII) must not break anyone's scrape or the daemon's restart:
# qemu-powerd's /metrics passes promtool with each name as its own label
# value, the JSON output gives the names back byte for byte, and the state
# file survives them and a restart.  On the way: the page says when its
# numbers are from, and a hung VM has no watts sample (not 0 W).
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

from machines import POWERD, TinyVM, kvm_probe, wait_until
from meter import Meter

HOSTILE = ['tab\there', 'quote"q', 'back\\slash', 'new\nline', 'café-€',
           'comma,name']


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def fetch(port):
    """The /metrics page, or None while it does not answer."""
    try:
        with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port,
                                    timeout=1) as r:
            return r.read().decode()
    except OSError:
        return None


def label(value):
    """@value as the Prometheus text format writes a label value."""
    return '"%s"' % value.replace('\\', '\\\\').replace('"', '\\"') \
        .replace('\n', '\\n')


def powerd(tmp, root, *args):
    return [POWERD, '--qmp', os.path.join(tmp, '*.qmp'),
            '--sysfs-root', root, '--energy-source', 'powercap',
            '--idle-watts', '10', '--interval', '0.5',
            '--format', 'json'] + list(args)


def test_hostile_names(tmpdir_short):
    probe = kvm_probe()
    root = os.path.join(tmpdir_short, 'sys')
    meter = Meter(root).start()
    vms = []
    try:
        for i, name in enumerate(HOSTILE):
            qmp = os.path.join(tmpdir_short, 'vm%d.qmp' % i)
            vm = TinyVM(probe, tmpdir_short, name, 'spin' if i == 0 else
                        'halt', args=('-qmp',
                                      'unix:%s,server=on,wait=off' % qmp))
            vm.launch()
            vms.append(vm)
        port = free_port()
        state = os.path.join(tmpdir_short, 'state')
        d = subprocess.Popen(powerd(tmpdir_short, root, '--listen',
                                    '127.0.0.1:%d' % port, '--state-file',
                                    state, '--count', '40'),
                             stdout=subprocess.PIPE, text=True)

        def scrape():
            text = fetch(port)
            return text if text and text.count('qemu_power_vm_watts{') == \
                len(HOSTILE) else None

        text = wait_until(scrape, 20, '/metrics lists every VM')
        stamp = float(next(
            ln.split()[1] for ln in text.splitlines()
            if ln.startswith('qemu_power_last_update_timestamp_seconds ')))
        assert abs(stamp - time.time()) < 5, stamp
        assert 'qemu_power_build_info{version="' in text

        # A hung QEMU: no watts for it (not 0 W), up 0; back once it runs.
        hung = vms[1]
        os.kill(hung.get_pid(), signal.SIGSTOP)
        try:
            def hung_down():
                t = fetch(port)
                return t if t and 'qemu_power_vm_up{vm=%s,uuid=""} 0' \
                    % label(HOSTILE[1]) in t else None

            down = wait_until(hung_down, 10, 'the stopped VM is down')
            assert 'qemu_power_vm_watts{vm=%s' % label(HOSTILE[1]) \
                not in down
            assert 'qemu_power_vm_energy_joules_total{vm=%s' \
                % label(HOSTILE[1]) in down
            check = subprocess.run(['promtool', 'check', 'metrics'],
                                   input=down, capture_output=True,
                                   text=True)
            assert check.returncode == 0, check.stdout + check.stderr
        finally:
            os.kill(hung.get_pid(), signal.SIGCONT)
        text = wait_until(scrape, 10, 'the VM is back')
        out, _ = d.communicate(timeout=30)
        assert d.returncode == 0
        check = subprocess.run(['promtool', 'check', 'metrics'], input=text,
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        for name in HOSTILE:
            assert 'vm=%s' % label(name) in text, name

        lines = [json.loads(x) for x in out.splitlines()]
        assert {v['name'] for v in lines[-1]['vms']} == set(HOSTILE)
        joules = {v['name']: v['zones'][0]['energy_joules']
                  for v in lines[-1]['vms']}
        assert joules['tab\there'] > 0

        # a restart over that state file: no refusal, nothing lost
        again = subprocess.run(powerd(tmpdir_short, root, '--state-file',
                                      state, '--count', '2'),
                               capture_output=True, text=True, timeout=30)
        assert again.returncode == 0, again.stderr
        assert 'corrupt' not in again.stderr
        last = json.loads(again.stdout.splitlines()[-1])
        for v in last['vms']:
            assert v['zones'][0]['energy_joules'] >= joules[v['name']], v
    finally:
        meter.stop()
        for vm in vms:
            vm.shutdown(hard=True)

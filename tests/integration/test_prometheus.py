# SPDX-License-Identifier: GPL-2.0-or-later
#
# Names a tenant may give a VM (a tab, a quote, a backslash, a newline,
# non-ASCII, an empty one) must not break anyone's scrape or the daemon's
# restart: qemu-powerd's /metrics passes promtool with each name as its
# own label value, the JSON output gives the names back byte for byte, and
# the state file survives them and a restart.  On the way: the page says
# when its numbers are from, and a hung VM has no watts sample (not 0 W).
# A real Prometheus scraping the page stores the meter's truth.
import json
import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request

from machines import (POWERD, TOP, TinyVM, free_port, kvm_probe, meter_past,
                      wait_until)
from meter import Meter

HOSTILE = ['tab\there', 'quote"q', 'back\\slash', 'new\nline', 'café-€', '',
           'comma,name']


def fetch(port):
    """The /metrics page, or None while it does not answer."""
    try:
        with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port,
                                    timeout=1) as r:
            return r.read().decode()
    except OSError:
        return None


def promtool_ok(text):
    """promtool check metrics passes @text (a /metrics page)."""
    check = subprocess.run(['promtool', 'check', 'metrics'], input=text,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


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
                return t if t and one(series(t), 'qemu_power_vm_up',
                                      vm=HOSTILE[1], uuid='') == 0 else None

            down = wait_until(hung_down, 10, 'the stopped VM is down')
            assert 'qemu_power_vm_watts{vm=%s' % label(HOSTILE[1]) \
                not in down
            assert 'qemu_power_vm_energy_joules_total{vm=%s' \
                % label(HOSTILE[1]) in down
            promtool_ok(down)
        finally:
            os.kill(hung.get_pid(), signal.SIGCONT)
        text = wait_until(scrape, 10, 'the VM is back')
        out, _ = d.communicate(timeout=30)
        assert d.returncode == 0
        promtool_ok(text)
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


def series(text):
    """{(name, frozenset of (label, value)): value} of a /metrics page."""
    out = {}
    for ln in text.splitlines():
        if not ln or ln.startswith('#'):
            continue
        head, value = ln.rsplit(' ', 1)
        name, _, rest = head.partition('{')
        labels = []
        rest = rest[:-1] if rest else ''
        while rest:
            k, _, rest = rest.partition('="')
            v = ''
            while not rest.startswith('"'):
                if rest.startswith('\\'):
                    v += {'n': '\n'}.get(rest[1], rest[1])
                    rest = rest[2:]
                else:
                    v += rest[0]
                    rest = rest[1:]
            rest = rest[1:].lstrip(',')
            labels.append((k, v))
        key = (name, frozenset(labels))
        assert key not in out, 'two series %s' % ln
        out[key] = float(value)
    return out


def pick(s, name, **labels):
    """The values of metric @name whose labels include @labels."""
    return [v for (n, ls), v in s.items() if n == name and
            set(labels.items()) <= set(ls)]


def one(s, name, **labels):
    v = pick(s, name, **labels)
    assert len(v) == 1, (name, labels, v)
    return v[0]


def test_twins_and_health(tmpdir_short):
    """
    Two QMP VMs with one -name (and no uuid): each has its own series,
    told apart by the socket label, and promtool passes.  Against the
    meter: the node's idle and active energy counters, the VMs' work
    ratio; a stopped VM: no watts, its errors counted, its data's age
    shown, its part unattributed rather than other.
    """
    probe = kvm_probe()
    root = os.path.join(tmpdir_short, 'sys')
    meter = Meter(root).start()
    socks = [os.path.join(tmpdir_short, 'twin%d.qmp' % i) for i in range(2)]
    vms = []
    try:
        for i, sock in enumerate(socks):
            vm = TinyVM(probe, tmpdir_short, 'twin', 'spin' if i == 0 else
                        'halt', args=('-qmp',
                                      'unix:%s,server=on,wait=off' % sock))
            vm.launch()
            vms.append(vm)
            meter.track(sock, vm.get_pid())
        port = free_port()
        d = subprocess.Popen([POWERD, '--qmp',
                              os.path.join(tmpdir_short, 'twin*.qmp'),
                              '--sysfs-root', root, '--energy-source',
                              'powercap', '--idle-watts', str(meter.idle),
                              '--interval', '0.5', '--format', 'json',
                              '--listen', '127.0.0.1:%d' % port,
                              '--count', '60'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)

        def both_measured():
            t = fetch(port)
            return t if t and t.count('qemu_power_vm_watts{') == 2 else None

        first = wait_until(both_measured, 20, 'both twins measured')
        promtool_ok(first)
        s1 = series(first)
        for sock in socks:
            one(s1, 'qemu_power_vm_up', vm='twin', uuid='', socket=sock)
            one(s1, 'qemu_power_vm_share_ratio', vm='twin', socket=sock)
            one(s1, 'qemu_power_vm_errors_total', socket=sock)
        assert not pick(s1, 'qemu_power_vm_share')     # the old name

        # Ten seconds later: the node's counters against the meter.
        t1 = one(s1, 'qemu_power_last_update_timestamp_seconds')
        time.sleep(10)     # the span to measure over, not a wait for a state
        s2 = series(fetch(port))
        t2 = one(s2, 'qemu_power_last_update_timestamp_seconds')
        meter_past(meter, t2)
        idle = (one(s2, 'qemu_power_host_idle_joules_total', zone='package-0')
                - one(s1, 'qemu_power_host_idle_joules_total',
                      zone='package-0'))
        active = (one(s2, 'qemu_power_host_active_joules_total',
                      zone='package-0') -
                  one(s1, 'qemu_power_host_active_joules_total',
                      zone='package-0'))
        true_active = meter.active_joules(t1, t2)
        # the meter's idle is 10 W, given: idle energy is 10 W x time
        assert abs(idle / (t2 - t1) - meter.idle) < 0.02 * meter.idle, idle
        assert abs(active - true_active) < 0.05 * true_active + 1, \
            (active, true_active)
        # The VMs' work over the host's, against the meter's CPU times
        # over the last interval of the page.
        ratio = one(s2, 'qemu_power_vm_work_ratio')
        true_ratio = sum((meter.vms[s][1].at(t2) - meter.vms[s][1].at(
            t2 - 0.5)) for s in socks) / (meter.host.at(t2) -
                                          meter.host.at(t2 - 0.5))
        assert 0 < ratio <= 1.05, ratio
        assert abs(ratio - true_ratio) < 0.15, (ratio, true_ratio)

        # The busy twin stopped: no watts, errors counted, the age shown,
        # and its part of the power unattributed, not other.
        busy = socks[0]
        os.kill(vms[0].get_pid(), signal.SIGSTOP)
        try:
            def failed_a_while():
                t = fetch(port)
                if not t:
                    return None
                s = series(t)
                return s if one(s, 'qemu_power_vm_errors_total',
                                socket=busy) >= 3 else None

            s3 = wait_until(failed_a_while, 15, 'the stopped twin fails')
            promtool_ok(fetch(port))
        finally:
            os.kill(vms[0].get_pid(), signal.SIGCONT)
        assert one(s3, 'qemu_power_vm_up', socket=busy) == 0
        assert not pick(s3, 'qemu_power_vm_watts', socket=busy)
        assert one(s3, 'qemu_power_vm_up', socket=socks[1]) == 1
        last_ok = one(s3, 'qemu_power_vm_last_success_timestamp_seconds',
                      socket=busy)
        now = one(s3, 'qemu_power_last_update_timestamp_seconds')
        assert now - last_ok >= 1.0, (now, last_ok)       # 3 intervals
        assert one(s3, 'qemu_power_vm_last_success_timestamp_seconds',
                   socket=socks[1]) == now
        un = one(s3, 'qemu_power_host_unattributed_watts', zone='package-0')
        act = one(s3, 'qemu_power_host_active_watts', zone='package-0')
        other = one(s3, 'qemu_power_host_other_watts', zone='package-0')
        vm_w = sum(pick(s3, 'qemu_power_vm_watts', zone='package-0'))
        assert un > 0, un
        assert abs(vm_w + un + other - act) < 0.01, (vm_w, un, other, act)

        out, err = d.communicate(timeout=60)
        assert d.returncode == 0, err
    finally:
        meter.stop()
        for vm in vms:
            vm.shutdown(hard=True)
    # The JSON lines say the same: the ratio, each VM's age and errors.
    lines = [json.loads(x) for x in out.splitlines()]
    assert all('vm_work_ratio' in ln for ln in lines)
    failed = 0
    for ln in lines:
        for v in ln['vms']:
            assert v['socket'] in socks, v
            if v['status'] == 'ok':
                assert v['last_ok_time'] == ln['time'], v
            elif v['status'] == 'failed':
                failed += 1
                assert v['last_ok_time'] < ln['time'], v
    assert failed >= 3
    assert [v['errors'] for v in lines[-1]['vms'] if v['socket'] == busy] \
        >= [3]
    for ln in lines:
        for z in ln['host']['zones']:
            parts = z['idle_watts'] + z['unattributed_watts'] + \
                z['other_watts'] + sum(v['zones'][0]['watts']
                                       for v in ln['vms'])
            assert abs(parts - z['watts']) < 1e-6, ln


def documented_metrics():
    """{name: type} from the metrics table of docs/qemu-powerd.rst."""
    with open(os.path.join(TOP, 'docs', 'qemu-powerd.rst')) as f:
        doc = f.read()
    table = doc[doc.index('\nMetrics\n'):doc.index('\nPort\n')]
    got = dict(re.findall(r'^``(qemu_power_\w+)``\s+(gauge|counter)\s',
                          table, re.M))
    assert len(got) >= 20, got
    return got


def http_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def test_prometheus_scrapes(tiny, meters, tmpdir_short, daemons):
    """
    (Scenario g.)  The page has every metric of docs/qemu-powerd.rst's
    table with its type and passes promtool; a real Prometheus scrapes
    it, and what it stored is true: each VM's energy counter between two
    of its scrapes is the meter's energy of that VM between the intervals
    those scrapes showed.  docs/prometheus.yml passes promtool, and the
    Grafana dashboard graphs the main series.
    """
    meter = meters()
    for name, guest in (('g-spin', 'spin'), ('g-halt', 'halt')):
        meter.track(name, tiny(name, guest).get_pid())
    port = free_port()
    daemons('--qmp', os.path.join(tmpdir_short, '*.qmp'), '--sysfs-root',
            meter.root, '--energy-source', 'powercap', '--idle-watts',
            str(meter.idle), '--interval', '0.5', '--format', 'json',
            '--listen', '127.0.0.1:%d' % port)

    def both_measured():
        t = fetch(port)
        return t if t and t.count('qemu_power_vm_watts{') == 2 else None

    text = wait_until(both_measured, 20, 'both VMs measured')
    promtool_ok(text)
    types = dict(re.findall(r'^# TYPE (\S+) (\S+)', text, re.M))
    for name, kind in documented_metrics().items():
        if name == 'qemu_power_vm_kernel_work_excluded':
            continue                    # only where a counter misses it
        assert types.get(name) == kind, (name, kind, types.get(name))
    s = series(text)
    for name in ('g-spin', 'g-halt'):
        assert one(s, 'qemu_power_vm_up', vm=name) == 1
    info = [ls for (n, ls) in s if n == 'qemu_power_info']
    assert len(info) == 1 and {('energy_source', 'powercap'),
                               ('estimated', 'false')} <= info[0], info

    pport = free_port()
    cfg = os.path.join(tmpdir_short, 'prometheus.yml')
    with open(cfg, 'w') as f:
        f.write('global:\n  scrape_interval: 1s\n'
                'scrape_configs:\n  - job_name: qemu-powerd\n'
                '    static_configs:\n'
                "      - targets: ['127.0.0.1:%d']\n" % port)
    log = open(os.path.join(tmpdir_short, 'prometheus.log'), 'w')
    prom = subprocess.Popen(['prometheus', '--config.file=' + cfg,
                             '--storage.tsdb.path=' +
                             os.path.join(tmpdir_short, 'tsdb'),
                             '--web.listen-address=127.0.0.1:%d' % pport,
                             '--log.level=warn'], stdout=log, stderr=log)
    api = 'http://127.0.0.1:%d/api/v1/' % pport
    try:
        def raw(expr, at):
            # every query at one evaluation time @at: the same scrapes
            r = http_json(api + 'query?' + urllib.parse.urlencode(
                {'query': expr, 'time': '%.3f' % at}))
            assert r['status'] == 'success', r
            return r['data']['result']

        def scraped(n):
            at = time.time()
            try:
                res = raw('qemu_power_last_update_timestamp_seconds[1m]', at)
            except OSError:
                return None             # not listening yet
            return (at, res) if res and len(res[0]['values']) >= n else None

        # six scrapes stored, one a second
        at, res = wait_until(lambda: scraped(6), 30, 'six scrapes stored')
        shown = [float(v) for _, v in res[0]['values']]
        energy = {r['metric']['vm']: [float(v) for _, v in r['values']]
                  for r in raw('qemu_power_vm_energy_joules_total'
                               '{zone="package-0"}[1m]', at)}
    finally:
        prom.terminate()
        prom.wait(10)
        log.close()
    # the scrapes of both series are the same scrapes
    assert sorted(energy) == ['g-halt', 'g-spin'], energy
    t1, t2 = shown[0], shown[-1]
    assert t2 - t1 >= 3, shown
    meter_past(meter, t2)
    for name, values in energy.items():
        assert len(values) == len(shown), (name, values, shown)
        got = values[-1] - values[0]
        true = meter.vm_joules(name, t1, t2)
        print('%s: %.3f J stored, %.3f J true over %.1f s'
              % (name, got, true, t2 - t1))
        lo, hi = meter.vm_bounds(true, t1, t2)
        assert lo <= got <= hi, (name, lo, hi)
    assert meter.vm_joules('g-halt', t1, t2) < \
        meter.vm_joules('g-spin', t1, t2)

    check = subprocess.run(['promtool', 'check', 'config',
                            os.path.join(TOP, 'docs', 'prometheus.yml')],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    with open(os.path.join(TOP, 'contrib', 'grafana',
                           'qemu-power-dashboard.json')) as f:
        dash = json.load(f)
    exprs = ' '.join(t['expr'] for p in dash['panels']
                     for t in p.get('targets', []))
    assert dash['title'] and dash['schemaVersion']
    for m in ('qemu_power_vm_energy_joules_total',
              'qemu_power_host_idle_joules_total',
              'qemu_power_host_active_joules_total',
              'qemu_power_host_watts', 'qemu_power_vm_errors_total'):
        assert m in exprs, m

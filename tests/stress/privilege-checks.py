#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# privilege-checks.py: QEMU run as an unprivileged user (nobody, through
# setpriv) on a root-owned fake sysfs tree laid out as on a real host
# since 2020: energy_uj files 0400 root, writable knobs 0644 root, the
# rest 0444.  Run by test-privilege.sh, as root.  QEMU must say why it
# has no energy ("Permission denied", never an invented 0), still read
# what it may read, refuse every set-host-* with a clear error that
# names the file, change nothing, and keep running.  Prints "ok - ..."
# lines and "privilege: N passed, N failed"; exit status 0 if all passed.
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostqmp as h  # noqa: E402

NOBODY = 65534
AS_NOBODY = ['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY,
             '--clear-groups']
KNOBS = re.compile(r'(scaling_governor|scaling_min_freq|scaling_max_freq|'
                   r'scaling_setspeed|max_perf_pct|min_perf_pct|no_turbo|'
                   r'enabled|constraint_\d+_power_limit_uw|'
                   r'constraint_\d+_time_window_us)$')


class Checks:
    def __init__(self, a):
        self.a = a
        self.dir = os.path.abspath(a.dir)
        self.tree = os.path.join(self.dir, 'sys')
        self.rundir = os.path.join(self.dir, 'run')
        self.passed = self.failed = 0
        self.qemu = None
        self.files = {}

    def result(self, good, text, why=''):
        if good:
            print('ok - ' + text, flush=True)
            self.passed += 1
        else:
            print('not ok - ' + text, flush=True)
            for line in why.splitlines():
                print('#   ' + line, flush=True)
            self.failed += 1
        return good

    def energy_files(self):
        return [os.path.join(self.tree, k) for k in self.files
                if k.endswith('/energy_uj')]

    def meta(self):
        """Contents, modes and owners of everything in the tree."""
        m = {}
        for k, v in h.snapshot(self.tree).items():
            st = os.lstat(os.path.join(self.tree, k))
            m[k] = (v, st.st_mode, st.st_uid, st.st_gid)
        return m

    def setup(self):
        os.makedirs(self.tree)
        os.makedirs(self.rundir)
        # QEMU, as nobody, makes its QMP socket here; the rest is root's
        os.chown(self.rundir, NOBODY, NOBODY)
        os.chmod(self.rundir, 0o700)
        self.files = h.fake_host(self.tree)
        h.write_tree(self.tree, self.files)
        for k in self.files:
            mode = 0o444
            if k.endswith('/energy_uj'):
                mode = 0o400
            elif KNOBS.search(k):
                mode = 0o644
            os.chmod(os.path.join(self.tree, k), mode)
        for d, dirs, _ in os.walk(self.dir):
            for x in dirs:
                if os.path.join(d, x) != self.rundir:
                    os.chmod(os.path.join(d, x), 0o755)
        os.chmod(self.dir, 0o755)
        probe = subprocess.run(AS_NOBODY + ['test', '-x', self.a.qemu, '-a',
                                           '-w', self.rundir, '-a', '-r',
                                           os.path.join(self.tree,
                                                        self.some_knob())])
        if probe.returncode != 0:
            raise h.QmpError('nobody cannot run %s or reach %s: every '
                             'directory above them must be o+x'
                             % (self.a.qemu, self.dir))

    def some_knob(self):
        return h.CPU % 0 + 'scaling_max_freq'

    def start(self):
        self.qemu = h.Qemu(self.a.qemu, self.rundir, self.tree,
                           user_cmd=AS_NOBODY, new_session=True)

    def cmd(self, name, args=None):
        return self.qemu.qmp.cmd(name, args)

    def check_nobody(self):
        with open('/proc/%d/status' % self.qemu.proc.pid) as f:
            status = dict(line.split(':', 1) for line in f if ':' in line)
        uids = status['Uid'].split()
        gids = status['Gid'].split()
        groups = status['Groups'].split()
        caps = int(status['CapEff'], 16)
        self.result(uids == [str(NOBODY)] * 4 and
                    gids == [str(NOBODY)] * 4 and not groups and not caps,
                    'QEMU runs as nobody, without groups or capabilities',
                    'Uid %s Gid %s Groups %s CapEff %x'
                    % (uids, gids, groups, caps))

    def check_no_energy(self, when):
        r = self.cmd('query-power')
        e = r.get('return', {}).get('host-energy', {})
        reason = e.get('reason', '')
        # the clause that says why, of "No host energy counter (...; ...)"
        why = [c for c in re.split(r'[(;)] *', reason) if 'energy_uj' in c]
        self.result('return' in r and e.get('available') is False and
                    e.get('zones') == [] and 'Permission denied' in reason
                    and why,
                    'query-power %s: no energy, "%s"'
                    % (when, why[0] if why else reason[:200]),
                    json.dumps(r)[:800])

    def check_energy(self, when):
        r = self.cmd('query-power')
        e = r.get('return', {}).get('host-energy', {})
        raw = {z['name']: z.get('raw-uj') for z in e.get('zones', [])}
        want = {'package-0': 1000000, 'package-1': 2000000, 'core-0': 1000,
                'dram-1': 2000}
        good = e.get('available') is True and \
            all(raw.get(k) == v for k, v in want.items())
        return good, json.dumps(e)[:600]

    def check_policy(self):
        r = self.cmd('query-host-power-policy')
        p = r.get('return', {})
        zones = {z['zone']: z for z in p.get('zones', [])}
        pkg = zones.get('package-0', {}).get('constraints', [{}])[0]
        self.result(len(p.get('cpus', [])) == 4 and
                    p['cpus'][1].get('max-khz') == 3000000 and
                    p.get('pstate', {}).get('max-perf-pct') == 100 and
                    len(zones) == 6 and
                    pkg.get('power-limit-uw') == 150000000,
                    'query-host-power-policy reads what nobody may read '
                    '(cpufreq, intel_pstate, power limits)',
                    json.dumps(r)[:800])

    def check_refused(self, name, args, knob):
        before = self.meta()
        r = self.cmd(name, args)
        desc = r.get('error', {}).get('desc', '')
        after = self.meta()
        changed = h.diff(before, after)
        self.result('error' in r and 'Permission denied' in desc and
                    knob in desc and not changed and self.qemu.alive(),
                    '%s %s fails: "%s"' % (name, json.dumps(args), desc),
                    'reply %s; changed %s' % (json.dumps(r)[:600], changed))

    def run(self):
        self.setup()
        before = self.meta()
        self.start()
        self.check_nobody()
        self.check_no_energy('with energy_uj 0400')
        self.check_policy()
        self.check_refused('set-host-cpufreq',
                           {'cpus': [1], 'governor': 'performance'},
                           'scaling_governor')
        self.check_refused('set-host-cpufreq', {'max-khz': 2400000},
                           'scaling_max_freq')
        self.check_refused('set-host-pstate', {'max-perf-pct': 50},
                           'max_perf_pct')
        self.check_refused('set-host-power-limit',
                           {'zone': 'package-0', 'constraint': 'long_term',
                            'power-limit-uw': 100000000},
                           'constraint_0_power_limit_uw')
        self.check_refused('set-host-power-limit',
                           {'zone': 'dram-1', 'enabled': True}, 'enabled')
        self.check_no_energy('again')
        self.result(self.meta() == before,
                    'the tree is as it was: contents, modes, owners, '
                    'no new file', str(h.diff(before, self.meta())))

        # the administrator lets nobody read energy (chmod, udev, ACL)
        for f in self.energy_files():
            os.chmod(f, 0o444)
        # QEMU looks for energy again at most once a second
        end = time.monotonic() + 3
        good, why = self.check_energy('')
        while not good and time.monotonic() < end:
            time.sleep(0.2)
            good, why = self.check_energy('')
        self.result(good, 'query-power finds energy once energy_uj is '
                    'readable, within 3 s', why[:200])
        r1 = self.cmd('object-del', {'id': 'hp0'})
        r2 = self.cmd('object-add', {'qom-type': 'host-power', 'id': 'hp0',
                                     'policy': 'allow',
                                     'sysfs-root': self.tree})
        good, why = self.check_energy('')
        self.result('return' in r1 and 'return' in r2 and good,
                    'after object-del and object-add of host-power, '
                    'query-power reads the energy', '%s %s %s'
                    % (json.dumps(r1), json.dumps(r2)[:300], why))
        # and taken away again while QEMU runs: a reason, no stale value
        for f in self.energy_files():
            os.chmod(f, 0o400)
        self.check_no_energy('once energy_uj is 0400 again')

        alive = self.qemu.alive()
        rc = self.qemu.stop()
        self.qemu = None
        print('# crashes: %d' % (0 if alive else 1), flush=True)
        self.result(alive and rc == 0,
                    'QEMU kept running and quit cleanly (exit %s)' % rc)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--qemu', required=True)
    ap.add_argument('--dir', required=True,
                    help='a new private directory for the tree and QEMU')
    a = ap.parse_args()
    a.qemu = os.path.abspath(a.qemu)

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    c = Checks(a)
    try:
        c.run()
    except KeyboardInterrupt:
        c.result(False, 'interrupted')
    except (OSError, h.QmpError, KeyError, ValueError) as e:
        c.result(False, 'the checks could not run: %s' % e,
                 c.qemu.log_tail() if c.qemu else '')
    finally:
        if c.qemu:
            c.qemu.stop(graceful=False)
    print('privilege: %d passed, %d failed' % (c.passed, c.failed),
          flush=True)
    return 0 if c.failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main())

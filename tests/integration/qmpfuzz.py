# SPDX-License-Identifier: GPL-2.0-or-later
#
# QMP argument fuzzing of the host power commands (set-host-cpufreq,
# set-host-pstate, set-host-power-limit, query-host-power-policy,
# query-power, set-power-sampling, query-power-sampling), for
# test_qmp_args.py.  A QEMU with -object host-power,allow-policy=on asks
# qemu-power-helper, which works on a fake sysfs tree.  QEMU gets
# known-valid requests, then random ones from a seeded generator (wrong
# types, out-of-range and huge numbers, floats, strings with '/', '..',
# newlines and NULs, huge lists, unknown and missing keys, malformed
# JSON), then the valid ones again.  After every request QEMU must still
# answer, the tree may have changed only if the request succeeded (and
# then only knob files, as the reply says), and nothing outside the tree
# may have been created or changed: no string of the request may have
# become a path.
#
# The requests go through hostqmp.Qmp, a raw socket, and not through
# qemu.qmp: a fuzzer must send text that a QMP library refuses to write
# (malformed JSON, NaN, duplicate keys, 1030 nested brackets) and read
# replies that carry no id.
import json
import os
import random
import re
import subprocess
import time

import hostqmp as h

# Files that a successful set-host-* may change, by name.
KNOBS = re.compile(r'(scaling_governor|scaling_min_freq|scaling_max_freq|'
                   r'scaling_setspeed|max_perf_pct|min_perf_pct|enabled|'
                   r'constraint_\d+_power_limit_uw|'
                   r'constraint_\d+_time_window_us)$')

COMMANDS = {
    'set-host-cpufreq': {'cpus': 'cpus', 'governor': 'governor',
                         'frequency-khz': 'khz', 'min-khz': 'khz',
                         'max-khz': 'khz'},
    'set-host-pstate': {'max-perf-pct': 'pct', 'min-perf-pct': 'pct'},
    'set-host-power-limit': {'zone': 'zone', 'constraint': 'constraint',
                             'power-limit-uw': 'uw', 'time-window-us': 'us',
                             'enabled': 'bool'},
    'query-host-power-policy': {},
    'query-power': {},
    'set-power-sampling': {'enable': 'bool', 'interval-ms': 'ms',
                           'lease-ms': 'ms', 'host-energy': 'bool'},
    'query-power-sampling': {},
}

INTS = [0, 1, -1, 2, 7, 100, 101, 2**31 - 1, 2**31, 2**32 - 1, 2**32,
        2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**100, -2**31,
        -2**63, -2**63 - 1, -2**64, 10**30, 1200000, 3000000, -1200000]
FLOATS = [0.0, -0.0, 0.5, -0.5, 1.5, 50.0, 3000000.0, 1e308, -1e308,
          5e-324, 1.8446744073709552e19]
# JSON text that Python does not write: substituted into the request
RAW = ['NaN', 'Infinity', '-Infinity', '1e400', '-1e400', '00', '-0',
       '0x10', '+1', '1.', '.5', '18446744073709551616000000000000',
       "'single'", '"\\u0000"', '"a\\u0000b"', '"\\ud800"', '"\\x41"',
       '"\\/"', 'true', 'null']


class Gen:
    def __init__(self, rng, marker, max_list):
        self.rng = rng
        self.marker = marker
        self.max_list = max_list
        self.raws = []
        # strings that a careless implementation could take for a path:
        # all name the marker, so that a file they create can be found
        self.paths = (['../' * k + marker for k in range(0, 10)] +
                      ['../' * k + 'canary/knob' for k in range(1, 10)] +
                      ['../' * k + 'canary' for k in range(1, 10)] +
                      ['/tmp/' + marker, marker + '/x', '/' + marker,
                       './' + marker])
        self.strings = self.paths + [
            '', '.', '..', '/', '//', '../', 'performance', 'userspace',
            'ondemand', 'performance\n', 'performance\x00', '\x00',
            'performance\x00../../x', ' performance', 'performance ',
            'PERFORMANCE', 'perf', 'performance/', 'performance\nuserspace',
            '\n', '\r\n', '\t', '%s%s%s%n', '%x', '\\', '"', "'", '\u2603',
            '\ud800', '\udfff\ud800', 'a' * 300, 'b' * 5000,
            'package-0', 'package-1', 'package-0/../package-1',
            'package-0\x00', 'intel-rapl:0', 'intel-rapl:0:0', 'core',
            'dram-1', 'psys', 'long_term', 'short_term', 'peak_power',
            'long_term/../constraint_1', 'constraint_0', '0', '-1', '1e3',
            'cpu0', '*', '?', '$(touch /tmp/%s)' % marker,
            '`touch /tmp/%s`' % marker, '; touch /tmp/%s' % marker]

    def raw(self, text):
        """A placeholder that to_json() turns into @text."""
        self.raws.append(text)
        return '\x01RAW%d\x01' % (len(self.raws) - 1)

    def to_json(self, obj):
        text = json.dumps(obj)
        for i, r in enumerate(self.raws):
            text = text.replace('"\\u0001RAW%d\\u0001"' % i, r)
        self.raws = []
        return text

    def plausible(self, kind):
        r = self.rng
        if kind == 'cpus':
            # CPUs 4 and 5 are not online
            return r.sample(range(6 if r.randrange(4) == 0 else 4),
                            r.randint(0, 4))
        if kind == 'governor':
            return r.choice(h.GOVERNORS + ['turbo'])
        if kind == 'khz':
            return r.choice(h.FREQS + [r.randint(1200000, 3000000), 1199999,
                                       3000001, 2500000])
        if kind == 'pct':
            return r.randint(0, 101)
        if kind == 'zone':
            return r.choice(['package-0', 'package-1', 'core-0', 'dram-1',
                             'core-1', 'psys', 'package-7'])
        if kind == 'constraint':
            return r.choice(['long_term', 'short_term', 'peak_power'])
        if kind == 'uw':
            return r.choice([r.randint(1, h.MAX_POWER_UW), 0, 1,
                             h.MAX_POWER_UW, h.MAX_POWER_UW + 1])
        if kind == 'us':
            return r.randint(0, 2000000)
        if kind == 'ms':
            return r.choice([0, 99, 100, 101, 999, 1000, 60000, 3600000,
                             3600001, 86400000, 86400001, 2**32 - 1,
                             r.randint(100, 5000)])
        return r.choice([True, False])

    def hostile(self, depth=0):
        r = self.rng
        k = r.randrange(100)
        if k < 25:
            return r.choice(INTS)
        if k < 35:
            return r.choice(FLOATS)
        if k < 65:
            return r.choice(self.strings)
        if k < 72:
            return self.raw(r.choice(RAW))
        if k < 77:
            return r.choice([None, True, False])
        if k < 90 or depth > 3:
            n = r.choice([0, 1, 2, 5, 100])
            if r.randrange(50) == 0:
                n = self.max_list
            if r.randrange(2):
                return [r.randint(0, 8) for _ in range(n)]
            return [self.hostile(depth + 1) for _ in range(min(n, 20))]
        if k < 95:
            return {r.choice(self.strings): self.hostile(depth + 1)
                    for _ in range(r.randint(0, 3))}
        # deep nesting, around QEMU's limit of 1024
        return self.raw('[' * 1030 + ']' * 1030 if r.randrange(2)
                        else '[' * 1000 + '1' + ']' * 1000)

    def request(self, tag):
        """(text, command name or None, well-formed?)"""
        r = self.rng
        k = r.randrange(100)
        name = r.choice(sorted(COMMANDS))
        req = {'execute': name, 'id': tag}
        if k < 70:
            args = {}
            for key, kind in COMMANDS[name].items():
                p = r.randrange(100)
                if p < 25:
                    continue
                args[key] = (self.plausible(kind) if p < 80
                             else self.hostile())
            for _ in range(r.randrange(3) if r.randrange(100) < 15 else 0):
                args[r.choice(self.strings + ['bogus', 'cpu', 'governors',
                                              'max_khz'])] = self.hostile()
            if args or r.randrange(2):
                req['arguments'] = args
        elif k < 80:
            req['arguments'] = self.hostile()
            while isinstance(req['arguments'], dict):
                req['arguments'] = self.hostile()
        elif k < 85:
            name = 'no-such-command-%d' % r.randrange(10**6)
            req['execute'] = name
        elif k < 92:
            junk = r.randrange(4)
            if junk == 0:
                req[r.choice(['bogus', 'exec', 'arguments ', ''])] = \
                    self.hostile()
            elif junk == 1:
                del req['execute']
                req['arguments'] = {}
            elif junk == 2:
                req['execute'] = self.hostile()
            else:
                req['exec-oob'] = req.pop('execute')
            name = None
        else:
            # malformed but complete text: QEMU answers each error, and
            # may answer more than once; the caller resynchronises
            return (r.choice([
                '{"execute": "%s" "x"}' % name,
                '{"execute": %s}' % name,
                '{"execute": "%s", "arguments": {"cpus": [0,]}}' % name,
                '{"execute": "%s", "arguments": {,}}' % name,
                '{"execute": "%s", "arguments": {"a": 1, "a": 2}}' % name,
                '[{"execute": "%s"}]' % name, '"%s"' % name, '123', '{}',
                '{"execute": "%s", "arguments": {"zone": "a\nb"}}' % name,
                '{"execute": "%s", "arguments": {"zone": "\x01"}}' % name,
                '{"execute": "\xff\xfe"}', '{"execute": 1e999}',
            ]), None, False)
        return self.to_json(req), name, True


class Fuzz:
    """
    One run: @requests random requests from @seed to a QEMU built at
    @qemu, in the new private directory @directory.  setup(), valid(),
    fuzz(), valid() again, then failures() lists what went wrong.
    """

    def __init__(self, qemu, directory, requests, seed, max_list=100000):
        self.qemu_path = os.path.abspath(qemu)
        self.requests = requests
        self.seed = seed
        self.max_list = max_list
        self.dir = os.path.abspath(directory)
        self.tree = os.path.join(self.dir, 'sys')
        self.rundir = os.path.join(self.dir, 'run')
        self.cwd = os.path.join(self.dir, 'cwd')
        self.qemu = None
        self.helper = None
        self.gen = None
        self.sent = 0
        self.crashes = 0
        self.timeouts = 0
        self.problems = {}
        self.examples = {}
        self.successes = {}
        self.elapsed = 0
        self.bad_valid = []

    def problem(self, what, req, detail):
        """Count a violation; keep the first few as examples."""
        self.problems[what] = self.problems.get(what, 0) + 1
        ex = self.examples.setdefault(what, [])
        if len(ex) < 3:
            ex.append('request #%d: %s\n  -> %s' % (self.sent, req[:300],
                                                    detail[:500]))

    def outside(self):
        return h.snapshot(self.dir, skip=('sys', 'run'))

    def start(self):
        # a new session: a Ctrl-C on the terminal is for the test, which
        # then stops QEMU itself
        self.qemu = h.Qemu(self.qemu_path, self.rundir, self.helper.sock,
                           cwd=self.cwd, new_session=True)

    def setup(self):
        for d in (self.tree, self.rundir, self.cwd,
                  os.path.join(self.dir, 'canary')):
            os.makedirs(d)
        h.write_tree(self.tree, h.fake_host(self.tree))
        # files a "../" string could reach: outside the tree and inside
        with open(os.path.join(self.dir, 'canary', 'knob'), 'w') as f:
            f.write('canary\n')
        with open(os.path.join(self.tree, 'canary'), 'w') as f:
            f.write('canary\n')
        self.helper = h.start_helper(self.rundir, self.tree)
        self.start()

    # --- known-valid requests ---

    def valid(self, when):
        """Requests that must succeed, each with the files it changes."""
        cases = [
            ('set-host-cpufreq', {'cpus': [1], 'governor': 'performance',
                                  'min-khz': 1200000, 'max-khz': 3000000},
             {h.CPU % 1 + 'scaling_governor': 'performance',
              h.CPU % 1 + 'scaling_min_freq': '1200000',
              h.CPU % 1 + 'scaling_max_freq': '3000000'}),
            ('set-host-cpufreq', {'cpus': [2], 'governor': 'userspace',
                                  'min-khz': 1200000, 'max-khz': 3000000,
                                  'frequency-khz': 1800000},
             {h.CPU % 2 + 'scaling_governor': 'userspace',
              h.CPU % 2 + 'scaling_min_freq': '1200000',
              h.CPU % 2 + 'scaling_max_freq': '3000000',
              h.CPU % 2 + 'scaling_setspeed': '1800000'}),
            ('set-host-cpufreq', {'max-khz': 2400000, 'min-khz': 1200000},
             dict([(h.CPU % c + 'scaling_max_freq', '2400000')
                   for c in range(4)] +
                  [(h.CPU % c + 'scaling_min_freq', '1200000')
                   for c in range(4)])),
            ('set-host-pstate', {'max-perf-pct': 80, 'min-perf-pct': 30},
             {h.PSTATE + 'max_perf_pct': '80',
              h.PSTATE + 'min_perf_pct': '30'}),
            ('set-host-power-limit', {'zone': 'package-1',
                                      'constraint': 'long_term',
                                      'power-limit-uw': 120000000,
                                      'enabled': True},
             {h.ZONE % 1 + 'constraint_0_power_limit_uw': '120000000',
              h.ZONE % 1 + 'enabled': '1'}),
            ('set-host-power-limit', {'zone': 'dram-0', 'enabled': False},
             {h.ZONE % '0:1' + 'enabled': '0'}),
            # sampling reads the tree (host energy) and writes nothing
            ('set-power-sampling', {'enable': True, 'interval-ms': 100,
                                    'lease-ms': 2000, 'host-energy': True},
             {}),
        ]
        bad = []
        for name, args, expect in cases:
            before = h.snapshot(self.tree)
            r = self.qemu.qmp.cmd(name, args)
            after = h.snapshot(self.tree)
            changed = set(h.changed_values(before, after))
            got = {k: h.value(after, k) for k in expect}
            if 'return' not in r:
                bad.append('%s %s: %s' % (name, json.dumps(args),
                                          r.get('error', r)))
            elif got != expect or not changed <= set(expect):
                bad.append('%s %s: files %s, changed %s' %
                           (name, json.dumps(args), got, sorted(changed)))
        policy = self.qemu.qmp.cmd('query-host-power-policy')
        p = policy.get('return', {})
        if (len(p.get('cpus', [])) != 4 or len(p.get('zones', [])) != 6 or
                p.get('pstate', {}).get('max-perf-pct') != 80 or
                p['cpus'][2].get('frequency-khz') != 1800000):
            bad.append('query-host-power-policy does not show them: %s'
                       % json.dumps(policy)[:400])
        power = self.qemu.qmp.cmd('query-power')
        if not power.get('return', {}).get('host-energy', {}).get(
                'available'):
            bad.append('query-power has no host energy: %s'
                       % json.dumps(power)[:400])
        self.bad_valid += ['known-valid request %s fuzzing: %s' % (when, b)
                           for b in bad]
        print('known-valid requests %s fuzzing: %d cases, %d wrong'
              % (when, len(cases), len(bad)))

    # --- the invariants checked after every request ---

    def check_tree(self, req, before, after, reply, name):
        changed = h.diff(before, after)
        if set(before) != set(after):
            self.problem('files appeared or vanished in the tree', req,
                         str(sorted(set(before) ^ set(after))))
        if 'error' in reply:
            if changed:
                self.problem('the tree changed although the request '
                             'failed', req, '%s; %s' % (changed,
                                                         reply['error']))
            return
        if 'return' not in reply:
            self.problem('neither return nor error', req, str(reply))
            return
        if name is None:
            self.problem('a malformed request succeeded', req, str(reply))
        elif name.startswith('query-') and changed:
            self.problem('a query changed the tree', req, str(changed))
        stray = [c for c in changed if not KNOBS.search(c)]
        if stray:
            self.problem('a success changed files that are no knobs', req,
                         str(stray))
        self.check_reply(req, after, reply['return'], name)

    def check_reply(self, req, snap, ret, name):
        """What a successful set-host-* returns is what the files say."""
        def num(rel):
            v = h.value(snap, rel)
            return int(v) if v is not None and v.isdigit() else v

        bad = []
        if name == 'set-host-pstate':
            for key, f in (('max-perf-pct', 'max_perf_pct'),
                           ('min-perf-pct', 'min_perf_pct')):
                if ret.get(key) != num(h.PSTATE + f):
                    bad.append('%s %s vs file %s' % (key, ret.get(key),
                                                     num(h.PSTATE + f)))
        elif name == 'set-host-cpufreq':
            for c in ret:
                d = h.CPU % c['cpu']
                for key, f in (('min-khz', 'scaling_min_freq'),
                               ('max-khz', 'scaling_max_freq'),
                               ('governor', 'scaling_governor')):
                    if c.get(key) != num(d + f):
                        bad.append('CPU %d %s %s vs file %s' %
                                   (c['cpu'], key, c.get(key), num(d + f)))
        elif name == 'set-host-power-limit':
            m = re.match(r'(package|core|dram)-(\d+)$', ret.get('zone', ''))
            if m:
                sub = {'package': '', 'core': ':0', 'dram': ':1'}[m[1]]
                d = h.ZONE % (m[2] + sub)
                for i, c in enumerate(ret.get('constraints', [])):
                    f = d + 'constraint_%d_power_limit_uw' % i
                    if c.get('power-limit-uw') != num(f):
                        bad.append('%s %s vs file %s' %
                                   (f, c.get('power-limit-uw'), num(f)))
        if bad:
            self.problem('a reply disagrees with the tree', req,
                         '; '.join(bad))

    def check_invariants(self, req, snap):
        """What validation must keep true of the tree, whatever asked."""
        def num(rel):
            v = h.value(snap, rel)
            return int(v) if v is not None and v.isdigit() else None

        bad = []
        for c in range(4):
            d = h.CPU % c
            lo, hi = num(d + 'scaling_min_freq'), num(d + 'scaling_max_freq')
            if lo is None or hi is None or not 1200000 <= lo <= hi <= 3000000:
                bad.append('CPU %d: min %s max %s' % (c, lo, hi))
            gov = h.value(snap, d + 'scaling_governor')
            if gov not in h.GOVERNORS:
                bad.append('CPU %d: governor %r' % (c, gov))
            sp = h.value(snap, d + 'scaling_setspeed')
            if sp != '<unsupported>' and num(d + 'scaling_setspeed') not in \
                    h.FREQS:
                bad.append('CPU %d: setspeed %r' % (c, sp))
        lo, hi = num(h.PSTATE + 'min_perf_pct'), num(h.PSTATE + 'max_perf_pct')
        if lo is None or hi is None or not 0 <= lo <= hi <= 100:
            bad.append('pstate: min %s max %s' % (lo, hi))
        for k in snap:
            if k.endswith('/enabled') and h.value(snap, k) not in ('0', '1'):
                bad.append('%s: %r' % (k, h.value(snap, k)))
            m = re.search(r'constraint_(\d+)_power_limit_uw$', k)
            if m:
                top = num(k[:m.start()] + 'constraint_%s_max_power_uw' % m[1])
                if num(k) is None or (top is not None and num(k) > top):
                    bad.append('%s: %r, maximum %s' % (k, h.value(snap, k),
                                                       top))
        if bad:
            self.problem('the tree broke an invariant', req, '; '.join(bad))

    # --- the fuzzing ---

    def resync(self):
        """Read replies until that of a marked request: the text before
        it may have had several, or one that QEMU could not tie to it."""
        tag = self.qemu.qmp.new_id()
        r = self.qemu.qmp.send_raw(json.dumps({'execute': 'query-power',
                                               'id': tag}))
        # past the nesting limit, QEMU answers each bracket left over
        for _ in range(10000):
            if r.get('id') == tag:
                return
            r = self.qemu.qmp.read_reply()
        raise h.QmpError('no reply to a marked request')

    def fuzz(self):
        gen = Gen(random.Random(self.seed), 'qmpargs-%d-%d'
                  % (self.seed, os.getpid()), self.max_list)
        self.gen = gen
        tree = h.snapshot(self.tree)
        outside0 = self.outside()
        t0 = time.monotonic()
        for i in range(self.requests):
            tag = 'fz-%d' % i
            text, name, well_formed = gen.request(tag)
            self.sent += 1
            try:
                reply = self.qemu.qmp.send_raw(text, tag if well_formed
                                               else None)
                if not well_formed or 'id' not in reply:
                    self.resync()
            except (OSError, h.QmpError, ValueError) as e:
                try:
                    self.qemu.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
                if self.qemu.alive():
                    self.timeouts += 1
                    what = 'QEMU stopped answering'
                else:
                    self.crashes += 1
                    what = 'QEMU died (exit %s)' % self.qemu.proc.returncode
                self.problem(what, text, '%s; log: %s'
                             % (e, self.qemu.log_tail()))
                self.qemu.stop(graceful=False)
                self.start()
                tree = h.snapshot(self.tree)
                continue
            if 'return' in reply:
                self.successes[str(name)] = \
                    self.successes.get(str(name), 0) + 1
            after = h.snapshot(self.tree)
            self.check_tree(text, tree, after, reply, name)
            self.check_invariants(text, after)
            tree = after
            if i % 50 == 49 or i == self.requests - 1:
                now = self.outside()
                if now != outside0:
                    self.problem('something outside the tree changed',
                                 text, str(h.diff(outside0, now)))
                    outside0 = now
        self.elapsed = time.monotonic() - t0

    def failures(self):
        """Every violation seen, each with up to three examples."""
        found = [p for p in self.candidate_paths() if os.path.lexists(p)]
        if found:
            self.problems['a request string became a path'] = len(found)
            self.examples['a request string became a path'] = found[:3]
        print('%d requests sent in %.1f s (seed %d), %d crashes, '
              '%d timeouts; %d places checked for stray files; '
              'successes: %s'
              % (self.sent, self.elapsed, self.seed, self.crashes,
                 self.timeouts, len(self.candidate_paths()),
                 json.dumps(self.successes, sort_keys=True)))
        out = list(self.bad_valid)
        for what, n in sorted(self.problems.items()):
            out.append('%s: %d times\n    %s' % (
                what, n, '\n    '.join(self.examples[what])))
        return out

    def close(self):
        """Stop QEMU (quit, if it still answers) and the helper: QEMU's
        exit status, or None if it had to be killed."""
        rc = None
        if self.qemu:
            alive = self.qemu.alive()
            rc = self.qemu.stop(graceful=alive)
            self.qemu = None
        if self.helper:
            self.helper.stop()
            self.helper = None
        return rc

    def candidate_paths(self):
        """Where a string of the requests would land as a path, taken
        relative to any directory of the tree (or as it is)."""
        out = set()
        dirs = [d for d, _, _ in os.walk(self.tree)]
        for s in self.gen.paths + ['/tmp/' + self.gen.marker]:
            if 'canary' in s:
                continue        # existing files, checked by their content
            out.add(os.path.normpath(s if s.startswith('/')
                                     else os.path.join(self.cwd, s)))
            for d in dirs:
                out.add(os.path.normpath(os.path.join(d, s)))
        return sorted(out)

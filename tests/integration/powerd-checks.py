# SPDX-License-Identifier: GPL-2.0-or-later
#
# powerd-checks.py: checks of qemu-powerd's JSON lines against the
# invariants of docs/qemu-powerd.rst (well-formed VM members, parts that
# add up per zone, no negative or absurd value, energy never decreasing,
# time increasing), each printing one "ok - ..." or "not ok - ..." line;
# "# ..." lines are notes.  A library now: tests/stress/stress-checks.py
# imports it for its per-line checks.  The order of VMs and zones never
# matters.
import json
import math

# Rounding: the parts of a zone add up within this much per term.
ROUND = 0.005


class Bad(Exception):
    pass


def result(desc, good, detail=''):
    print('%s - %s%s' % ('ok' if good else 'not ok', desc,
                         ': ' + detail if detail else ''))


def run(desc, fn, *args):
    try:
        detail, good = fn(*args), True
    except Bad as e:
        detail, good = str(e), False
    except Exception as e:          # a bug here, or output of a wrong shape
        detail, good = 'unexpected %s: %s' % (type(e).__name__, e), False
    result(desc, good, detail or '')
    return good


def note(text):
    print('# ' + text)


def num(x, what):
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise Bad('%s is not a number: %r' % (what, x))
    if not math.isfinite(x):
        raise Bad('%s is not finite: %r' % (what, x))
    return float(x)


def load(path, one=False):
    """The JSON objects of @path, one per line (or one in all)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise Bad('no output: %s' % e)
    if one:
        try:
            return [json.loads(text)]
        except ValueError as e:
            raise Bad('not one JSON object (%s): %.300r' % (e, text))
    objs = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            objs.append(json.loads(line))
        except ValueError as e:
            raise Bad('line %d is not JSON (%s): %.300r' % (i, e, line))
    return objs


def vms(obj):
    v = obj.get('vms')
    if not isinstance(v, list):
        raise Bad('no "vms" list')
    return v


def zones(obj):
    h = obj.get('host')
    if not isinstance(h, dict) or not isinstance(h.get('zones'), list):
        raise Bad('no "host": {"zones": [...]}')
    return h['zones']


def vm_by_name(obj, name, or_socket=False):
    """The VM named @name in @obj, or None.  With @or_socket, also one
    named by its socket path .../@name.qmp."""
    found = [v for v in vms(obj) if v.get('name') == name or
             (or_socket and str(v.get('name')).endswith('/%s.qmp' % name))]
    if len(found) > 1:
        raise Bad('%d VMs named %r' % (len(found), name))
    return found[0] if found else None


def vm_zone(vm, zone):
    for z in vm.get('zones') or []:
        if z.get('zone') == zone:
            return z
    return None


def vm_watts(vm, zone='package-0'):
    z = vm_zone(vm, zone)
    return num(z.get('watts'), 'watts of %s' % vm.get('name')) if z else 0.0


def zone_by_name(obj, name):
    for z in zones(obj):
        if z.get('zone') == name:
            return z
    raise Bad('no zone %r in %s' % (name, [z.get('zone')
                                            for z in zones(obj)]))


def conservation(obj):
    """sum(VM watts) + other + idle == watts for every zone."""
    out = []
    for z in zones(obj):
        name = z.get('zone')
        w = num(z.get('watts'), '%s watts' % name)
        idle = num(z.get('idle_watts'), '%s idle_watts' % name)
        other = num(z.get('other_watts'), '%s other_watts' % name)
        # failed VMs' estimated part (absent before it existed)
        other += num(z.get('unattributed_watts', 0.0),
                     '%s unattributed_watts' % name)
        vmsum, n = 0.0, 2
        for v in vms(obj):
            vz = vm_zone(v, name)
            if vz is not None:
                vmsum += num(vz.get('watts'), '%s watts of %s'
                             % (name, v.get('name')))
                n += 1
        total = vmsum + other + idle
        tol = max(0.01, ROUND * n)
        if abs(total - w) > tol:
            raise Bad('zone %s: VMs %.3f + other %.3f + idle %.3f = %.3f'
                      ' != watts %.3f' % (name, vmsum, other, idle,
                                           total, w))
        if 'active_watts' in z:
            act = num(z['active_watts'], '%s active_watts' % name)
            if abs(act - (w - idle)) > 0.01 + ROUND * 2:
                raise Bad('zone %s: active_watts %.3f != watts - idle'
                          ' = %.3f' % (name, act, w - idle))
        out.append('%s %.2f = %.2f + %.2f + %.2f' % (name, w, vmsum,
                                                    other, idle))
    if not out:
        raise Bad('no zones')
    return '; '.join(out)


def no_negative(obj, limit=None):
    """No negative (or, with @limit, absurd) watts anywhere."""
    for z in zones(obj):
        for k in ('watts', 'idle_watts', 'active_watts', 'other_watts',
                  'energy_joules'):
            if k in z:
                x = num(z[k], '%s %s' % (z.get('zone'), k))
                if x < -0.01:
                    raise Bad('zone %s: %s %g < 0' % (z.get('zone'), k, x))
                if limit is not None and k == 'watts' and x > limit:
                    raise Bad('zone %s: watts %g > %g' % (z.get('zone'), x,
                                                         limit))
    for v in vms(obj):
        for z in v.get('zones') or []:
            for k in ('watts', 'energy_joules'):
                if k in z:
                    x = num(z[k], '%s %s of %s' % (z.get('zone'), k,
                                                   v.get('name')))
                    if x < -0.01:
                        raise Bad('VM %s zone %s: %s %g < 0'
                                  % (v.get('name'), z.get('zone'), k, x))
                    if limit is not None and k == 'watts' and x > limit:
                        raise Bad('VM %s zone %s: watts %g > %g'
                                  % (v.get('name'), z.get('zone'), x, limit))
        if 'share' in v:
            s = num(v['share'], 'share of %s' % v.get('name'))
            if s < -0.001 or s > 1.001:
                raise Bad('VM %s: share %g not in [0, 1]'
                          % (v.get('name'), s))


def vm_fields(obj):
    for v in vms(obj):
        n = v.get('name')
        if not isinstance(n, str) or not n:
            raise Bad('VM without a name: %r' % v)
        if not isinstance(v.get('uuid'), str):
            raise Bad('VM %s: uuid is not a string' % n)
        st = v.get('status')
        if st not in ('ok', 'new', 'failed'):
            raise Bad('VM %s: status %r' % (n, st))
        if st == 'failed':
            if not isinstance(v.get('error'), str) or not v['error']:
                raise Bad('VM %s failed without an error' % n)
        elif not isinstance(v.get('zones'), list):
            raise Bad('VM %s (%s) has no zones list' % (n, st))


def each_line(desc, objs, fn, *args):
    def check():
        for i, o in enumerate(objs, 1):
            try:
                fn(o, *args)
            except Bad as e:
                raise Bad('line %d: %s' % (i, e))
        return '%d lines' % len(objs)
    return run(desc, check)


def monotonic_energy(objs):
    """Per VM and zone, energy_joules never decreases while the VM is
    listed (one that went away may come back from 0)."""
    last = {}
    for i, o in enumerate(objs, 1):
        listed = {(v.get('name'), v.get('uuid')) for v in vms(o)}
        for k in [k for k in last if k[:2] not in listed]:
            del last[k]
        for v in vms(o):
            for z in v.get('zones') or []:
                if 'energy_joules' not in z:
                    continue
                key = (v.get('name'), v.get('uuid'), z.get('zone'))
                e = num(z['energy_joules'], 'energy_joules')
                if key in last and e < last[key] - 0.001:
                    raise Bad('line %d: %s %s energy_joules %g < %g before'
                              % (i, key[0], key[2], e, last[key]))
                last[key] = e
    if not last:
        raise Bad('no VM energy_joules at all')
    return ', '.join('%s %s %.1f J' % (k[0], k[2], e)
                     for k, e in sorted(last.items()))


def increasing_time(objs):
    t = [num(o.get('time'), 'time') for o in objs]
    for i in range(1, len(t)):
        if t[i] <= t[i - 1]:
            raise Bad('line %d: time %.3f <= %.3f' % (i + 1, t[i], t[i - 1]))
    return ''

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Checks of push mode (set-power-sampling and POWER_SAMPLE events) for
# test-powerd.sh scenario j.  Prints "ok - ..." or "not ok - ..." lines.
#
#   compare EVENT_OUT POLL_OUT  the same VMs measured by qemu-powerd in
#                               event mode and in poll mode at once
#   modes OUT --event A --poll B  which VMs pushed and which were polled
#   lease SOCKET --pid PID      SIGKILL the qemu-powerd that holds the
#                               lease of the VM behind SOCKET (its second
#                               QMP monitor): the events stop in time
#   consumers SOCKET_A SOCKET_B two consumers ask for different intervals
import argparse
import json
import os
import signal
import socket
import sys
import time


def result(desc, good, detail=''):
    print('%s - %s%s' % ('ok' if good else 'not ok', desc,
                         ': ' + detail if detail else ''))
    return good


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class Qmp:
    """A QMP client that keeps the events it reads."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.buf = b''
        self.events = []
        self.read()                                 # the greeting
        self.cmd('qmp_capabilities')

    def read(self, timeout=None):
        """The next message; socket.timeout if none came in @timeout s."""
        end = None if timeout is None else time.monotonic() + timeout
        while b'\n' not in self.buf:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                raise socket.timeout('no QMP message in time')
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise EOFError('QMP connection closed')
            self.buf += data
        line, self.buf = self.buf.split(b'\n', 1)
        msg = json.loads(line)
        if 'event' in msg:
            msg['received'] = time.monotonic_ns()
            self.events.append(msg)
        return msg

    def cmd(self, name, **args):
        req = {'execute': name}
        if args:
            req['arguments'] = args
        self.sock.settimeout(None)
        self.sock.sendall(json.dumps(req).encode() + b'\n')
        while True:
            msg = self.read(10)
            if 'event' not in msg:
                return msg

    def listen(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self.read(max(0.01, end - time.monotonic()))
            except (socket.timeout, TimeoutError):
                pass

    def samples(self):
        return [e for e in self.events if e['event'] == 'POWER_SAMPLE']


def watts_by_vm(objs, skip):
    """Mean watts per VM (short name) over the lines after the first @skip."""
    sums = {}
    for o in objs[skip:]:
        for v in o['vms']:
            name = os.path.basename(v['name'])
            w = sum(z['watts'] for z in v['zones'])
            sums.setdefault(name, []).append(w)
    return {k: sum(x) / len(x) for k, x in sums.items()}


def compare(a):
    ev, po = load(a.event_out), load(a.poll_out)
    result('event mode: %d lines, poll mode: %d lines' % (len(ev), len(po)),
           len(ev) == a.count and len(po) == a.count)
    modes = {}
    for o in ev[1:]:
        for v in o['vms']:
            modes.setdefault(os.path.basename(v['name']), set()).add(
                (v['mode'], v['status']))
    for vm in a.vms:
        result('event mode: %s answers by events after the first interval'
               % vm, modes.get(vm) == {('event', 'ok')},
               str(modes.get(vm)))
    pmodes = {v['mode'] for o in po for v in o['vms']}
    result('poll mode: every VM polled', pmodes == {'poll'}, str(pmodes))
    we, wp = watts_by_vm(ev, 2), watts_by_vm(po, 2)
    for vm in a.vms:
        e, p = we.get(vm), wp.get(vm)
        if e is None or p is None:
            result('%s in both outputs' % vm, False)
            continue
        diff = abs(e - p)
        good = diff <= max(a.rel * max(e, p), a.abs_watts)
        result('%s: event mode %.2f W, poll mode %.2f W (within %d%% or '
               '%.1f W)' % (vm, e, p, a.rel * 100, a.abs_watts), good)
    # rounds start just after the interval's boundary in both modes
    steps = [b['time'] - x['time'] for x, b in zip(ev, ev[1:])]
    result('event mode: rounds one interval apart',
           all(abs(s - a.interval) < 0.3 * a.interval for s in steps),
           ' '.join('%.3f' % s for s in steps))


def modes(a):
    objs = load(a.out)
    seen = {}
    for o in objs[1:]:
        for v in o['vms']:
            seen.setdefault(os.path.basename(v['name']), set()).add(
                (v['mode'], v['status']))
    for vm in a.event:
        result('%s pushes its samples' % vm,
               seen.get(vm) == {('event', 'ok')}, str(seen.get(vm)))
    for vm in a.poll:
        result('%s, without set-power-sampling, is polled' % vm,
               seen.get(vm) == {('poll', 'ok')}, str(seen.get(vm)))


def lease(a):
    q = Qmp(a.socket)
    st = q.cmd('query-power-sampling')['return']
    result('the consumer holds a lease of %d ms' % a.lease_ms,
           st.get('active') and st.get('lease-ms') == a.lease_ms, str(st))
    killed = time.monotonic_ns()
    os.kill(a.pid, signal.SIGKILL)
    q.listen(a.lease_ms / 1000 + 1.5)
    got = q.samples()
    after = [e for e in got if e['data']['timestamp-ns'] > killed]
    late = [e for e in got
            if e['data']['timestamp-ns'] >= killed + a.lease_ms * 10**6]
    result('samples went on after SIGKILL until the lease ran out',
           len(after) >= 1, '%d samples' % len(after))
    result('no sample after the lease ran out', not late,
           '%d late samples' % len(late))
    st = q.cmd('query-power-sampling')['return']
    result('sampling stopped: lease-expired',
           not st['active'] and st.get('stop-reason') == 'lease-expired',
           str(st))
    n = len(q.samples())
    q.listen(1)
    result('and stays stopped', len(q.samples()) == n)


def consumers(a):
    qa, qb = Qmp(a.socket_a), Qmp(a.socket_b)
    ra = qa.cmd('set-power-sampling', enable=True, **{'interval-ms': 1000,
                                                        'lease-ms': 10000})
    rb = qb.cmd('set-power-sampling', enable=True, **{'interval-ms': 200,
                                                        'lease-ms': 5000})
    result('both requests accepted', 'return' in ra and 'return' in rb)
    sa = qa.cmd('query-power-sampling')['return']
    result('the second request replaced the first (last writer wins)',
           sa.get('interval-ms') == 200 and sa.get('lease-ms') == 5000,
           str(sa))
    qa.listen(1.2)
    qb.listen(0.1)
    ia = {e['data']['interval-ms'] for e in qa.samples()}
    na, nb = len(qa.samples()), len(qb.samples())
    result('both consumers receive the same events, every 200 ms',
           ia == {200} and na >= 4 and nb >= 4, '%d and %d samples' % (na, nb))
    seqs = [e['data']['seq'] for e in qa.samples()]
    result('numbered without gaps', seqs == list(range(seqs[0],
                                                       seqs[0] + len(seqs))),
           str(seqs))
    qb.cmd('set-power-sampling', enable=False)
    st = qa.cmd('query-power-sampling')['return']
    result('either consumer can stop it', st.get('stop-reason') == 'stopped',
           str(st))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest='check', required=True)

    def lst(s):
        return [x for x in s.split(',') if x]

    p = sub.add_parser('compare')
    p.add_argument('event_out')
    p.add_argument('poll_out')
    p.add_argument('--count', type=int, required=True)
    p.add_argument('--interval', type=float, default=1)
    p.add_argument('--vms', type=lst, required=True)
    p.add_argument('--rel', type=float, default=0.05)
    p.add_argument('--abs-watts', type=float, default=0.5)
    p.set_defaults(fn=compare)
    p = sub.add_parser('modes')
    p.add_argument('out')
    p.add_argument('--event', type=lst, default=[])
    p.add_argument('--poll', type=lst, default=[])
    p.set_defaults(fn=modes)
    p = sub.add_parser('lease')
    p.add_argument('socket')
    p.add_argument('--pid', type=int, required=True)
    p.add_argument('--lease-ms', type=int, required=True)
    p.set_defaults(fn=lease)
    p = sub.add_parser('consumers')
    p.add_argument('socket_a')
    p.add_argument('socket_b')
    p.set_defaults(fn=consumers)
    a = ap.parse_args()
    try:
        a.fn(a)
    except Exception as e:          # a crash of the checks is a failure
        result('%s checks ran' % a.check, False,
               '%s: %s' % (type(e).__name__, e))
        sys.exit(1)


if __name__ == '__main__':
    main()

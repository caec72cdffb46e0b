#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# fake-qmp.py: a fake QEMU QMP server on a UNIX socket for the qemu-powerd
# integration tests (machines.FakeQMP).  It sends QEMU's greeting, does the
# qmp_capabilities negotiation, answers query-name (--name) and a few other
# queries like QEMU, and answers query-power with one of the built-in CASES
# below, or with the lines of --reply-file (one reply per query, the last
# line repeated).  --case takes a comma-separated sequence, one case per
# query-power (the last repeated), e.g. "good,good,hang"; "restart" is a
# good reply whose counters went back to almost 0, as after a QEMU
# restart.  Runs in the foreground until SIGTERM/SIGINT; --pidfile writes
# its PID once the socket listens; --log appends every command received.
# --list prints the cases.
import argparse
import json
import os
import signal
import socketserver
import sys
import threading
import time

GREETING = {'QMP': {'version': {'qemu': {'micro': 0, 'minor': 0,
                                         'major': 10},
                                'package': ''},
                    'capabilities': ['oob']}}

T0 = time.monotonic_ns()


RESTART = []


def good_return(busy=0.25, restarted=False):
    """A reply like the one recorded from build/qemu-system-x86_64 (TCG),
    whose counters advance as if the vCPU were busy @busy of the time;
    @restarted: as if QEMU had restarted at the first such reply (the
    counters start again from almost 0)."""
    now = time.monotonic_ns()
    if restarted:
        if not RESTART:
            RESTART.append(now)
        count = 1000 + int((now - RESTART[0]) * busy)
    else:
        count = 1412047621 + int((now - T0) * busy)
    return {
        'vcpus': [{'thread-id': 22734, 'shared-thread': False,
                   'count': count,
                   'qom-path': '/machine/unattached/device[0]',
                   'cpu-index': 0}],
        'instance-count': count + 98857903 + int((now - T0) * 0.01),
        'counter-source': 'task-clock',
        'timestamp-ns': now,
        'vcpu-count': count,
        'host-energy': {
            'zones': [], 'available': False,
            'reason': 'No host energy counter (fake-qmp.py)'},
        'counter-kernel-excluded': False,
    }


def dumps(obj):
    return json.dumps(obj, separators=(', ', ': '))


def case_reply(case):
    """The raw reply line (without the final CRLF) for @case, or None for
    no reply at all."""
    r = good_return(restarted=case == 'restart')
    if case in ('good', 'restart'):
        return dumps({'return': r})
    if case == 'truncated':
        s = dumps({'return': r})
        return s[:len(s) // 2]
    if case == 'missing':
        for k in ('timestamp-ns', 'instance-count', 'vcpu-count',
                  'counter-source'):
            del r[k]
        return dumps({'return': r})
    if case == 'wrong-types':
        r['timestamp-ns'] = str(r['timestamp-ns'])
        r['instance-count'] = 'lots'
        r['vcpu-count'] = True
        r['counter-source'] = 42
        return dumps({'return': r})
    if case == 'negative':
        r['instance-count'] = -r['instance-count']
        r['vcpu-count'] = -1
        r['vcpus'][0]['count'] = -1
        return dumps({'return': r})
    if case == 'huge':
        r['instance-count'] = 2 ** 70 + 12345
        r['vcpu-count'] = 2 ** 64
        r['vcpus'][0]['count'] = 2 ** 64
        return dumps({'return': r})
    if case == 'not-object':
        return dumps({'return': [1, 2, 3]})
    if case == 'error':
        return dumps({'error': {'class': 'GenericError',
                                'desc': 'query-power failed (fake-qmp.py)'}})
    if case == 'garbage':
        return 'this is not JSON at all'
    if case in ('hang', 'close'):
        return None
    raise ValueError('unknown case %r' % case)


CASES = ['good', 'restart', 'truncated', 'missing', 'wrong-types',
         'negative', 'huge', 'not-object', 'error', 'garbage', 'hang',
         'close']
BAD_CASES = [c for c in CASES if c not in ('good', 'restart')]


class State:
    def __init__(self, args):
        self.args = args
        self.cases = args.case.split(',')
        self.lines = None
        if args.reply_file:
            with open(args.reply_file) as f:
                self.lines = [ln.rstrip('\r\n') for ln in f if ln.strip()]
        self.n = 0
        self.lock = threading.Lock()
        self.log = open(args.log, 'a') if args.log else None

    def next_power(self):
        """(case, reply line or None) for the next query-power."""
        with self.lock:
            i = self.n
            self.n += 1
        if self.lines is not None:
            return 'file', self.lines[min(i, len(self.lines) - 1)]
        case = self.cases[min(i, len(self.cases) - 1)]
        return case, case_reply(case)

    def note(self, text):
        if self.log:
            with self.lock:
                self.log.write('%.3f %s\n' % (time.time(), text))
                self.log.flush()


class Handler(socketserver.BaseRequestHandler):
    def send(self, obj_or_line):
        line = (obj_or_line if isinstance(obj_or_line, str)
                else dumps(obj_or_line))
        self.request.sendall((line + '\r\n').encode())

    def handle(self):
        st = self.server.state
        st.note('connect')
        self.send(GREETING)
        dec = json.JSONDecoder()
        buf = ''
        negotiated = False
        hung = False
        while True:
            try:
                data = self.request.recv(65536)
            except OSError:
                break
            if not data:
                break
            if hung:
                continue            # never answer again on this connection
            buf += data.decode('utf-8', 'replace')
            while True:
                buf = buf.lstrip()
                if not buf:
                    break
                try:
                    cmd, end = dec.raw_decode(buf)
                except ValueError:
                    break           # incomplete (or junk: wait for more)
                buf = buf[end:]
                st.note('cmd ' + json.dumps(cmd))
                reply = self.answer(cmd, negotiated)
                if isinstance(cmd, dict) and \
                        cmd.get('execute') == 'qmp_capabilities':
                    negotiated = True
                if reply is None:
                    hung = True
                    break
                if reply == 'close':
                    st.note('close')
                    return
                self.send(reply)
        st.note('disconnect')

    def answer(self, cmd, negotiated):
        st = self.server.state
        if not isinstance(cmd, dict) or 'execute' not in cmd:
            return {'error': {'class': 'GenericError',
                              'desc': "QMP input lacks member 'execute'"}}
        ex = cmd['execute']
        ident = {'id': cmd['id']} if 'id' in cmd else {}

        def ret(value):
            d = {'return': value}
            d.update(ident)
            return d

        def err(cls, desc):
            d = {'error': {'class': cls, 'desc': desc}}
            d.update(ident)
            return d

        if ex == 'qmp_capabilities':
            if negotiated:
                return err('CommandNotFound',
                           "Capabilities negotiation is already complete,"
                           " command ignored")
            return ret({})
        if not negotiated:
            return err('CommandNotFound',
                       "Expecting capabilities negotiation with "
                       "'qmp_capabilities'")
        if ex == 'query-name':
            return ret({'name': st.args.name} if st.args.name else {})
        if ex == 'query-uuid':
            return ret({'UUID': '00000000-0000-0000-0000-000000000000'})
        if ex == 'query-status':
            return ret({'status': 'running', 'singlestep': False,
                        'running': True})
        if ex == 'query-version':
            return ret(GREETING['QMP']['version'])
        if ex == 'query-power':
            case, line = st.next_power()
            st.note('query-power -> %s' % case)
            if case == 'close':
                return 'close'
            if line is None:
                return None
            if ident and line.startswith('{') and \
                    case in ('good', 'restart', 'file'):
                try:
                    d = json.loads(line)
                    d.update(ident)
                    line = dumps(d)
                except ValueError:
                    pass
            elif ident and case == 'error':
                d = json.loads(line)
                d.update(ident)
                line = dumps(d)
            return line
        return err('CommandNotFound', "The command %s has not been found"
                   % ex)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser(description='fake QMP server')
    ap.add_argument('--socket', help='UNIX socket path to listen on')
    ap.add_argument('--case', default='good',
                    help='query-power case(s), comma-separated: ' +
                    ', '.join(CASES))
    ap.add_argument('--reply-file',
                    help='query-power replies, one JSON line each')
    ap.add_argument('--name', help='the name for query-name')
    ap.add_argument('--pidfile', help='write the PID here when listening')
    ap.add_argument('--log', help='append the commands received here')
    ap.add_argument('--list', action='store_true',
                    help='print the cases and exit')
    a = ap.parse_args()
    if a.list:
        print(' '.join(CASES))
        return 0
    if not a.socket:
        ap.error('--socket is required')
    for c in a.case.split(','):
        if c not in CASES:
            ap.error('unknown case %r (%s)' % (c, ', '.join(CASES)))

    try:
        os.unlink(a.socket)
    except FileNotFoundError:
        pass
    srv = Server(a.socket, Handler)
    srv.state = State(a)

    def stop(*_):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if a.pidfile:
        tmp = a.pidfile + '.tmp'
        with open(tmp, 'w') as f:
            f.write('%d\n' % os.getpid())
        os.rename(tmp, a.pidfile)
    try:
        srv.serve_forever()
    finally:
        srv.server_close()
        for p in (a.socket, a.pidfile):
            if p:
                try:
                    os.unlink(p)
                except OSError:
                    pass
    return 0


if __name__ == '__main__':
    sys.exit(main())

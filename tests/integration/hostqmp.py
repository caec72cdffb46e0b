# SPDX-License-Identifier: GPL-2.0-or-later
#
# hostqmp.py: what the host power tests (test_qmp_args.py, test_helper.py)
# share: a fake sysfs tree of the layout that
# tests/unit/fake-sysfs.c builds (cpufreq, intel_pstate, powercap RAPL),
# snapshots of a tree to tell what changed, a QEMU with -object host-power
# on such a tree, and a small QMP client.  Processes are started only
# here, kept by their Popen object, and only those are ever signalled.
import json
import os
import select
import socket
import subprocess
import time

from machines import Helper, wait_until

CPU = 'devices/system/cpu/cpu%d/cpufreq/'
PSTATE = 'devices/system/cpu/intel_pstate/'
ZONE = 'class/powercap/intel-rapl:%s/'

GOVERNORS = ['conservative', 'ondemand', 'userspace', 'powersave',
             'performance', 'schedutil']
FREQS = [3000000, 2400000, 1800000, 1200000]
MAX_POWER_UW = 200000000


def fake_host(root, cpus=4, packages=2, pstate=True):
    """Files of fake_sysfs_host() in tests/unit/fake-sysfs.c, as a dict
    of relative path to content; written by write_tree()."""
    t = {'devices/system/cpu/online': '0-%d\n' % (cpus - 1)}
    for c in range(cpus):
        d = CPU % c
        t['devices/system/cpu/cpu%d/topology/physical_package_id' % c] = \
            '%d\n' % (c * packages // cpus)
        t[d + 'scaling_driver'] = 'acpi-cpufreq\n'
        t[d + 'scaling_governor'] = 'ondemand\n'
        t[d + 'scaling_available_governors'] = ' '.join(GOVERNORS) + ' \n'
        t[d + 'scaling_min_freq'] = '1200000\n'
        t[d + 'scaling_max_freq'] = '3000000\n'
        t[d + 'cpuinfo_min_freq'] = '1200000\n'
        t[d + 'cpuinfo_max_freq'] = '3000000\n'
        t[d + 'scaling_cur_freq'] = '2400000\n'
        t[d + 'scaling_setspeed'] = '<unsupported>\n'
        t[d + 'scaling_available_frequencies'] = \
            ' '.join(str(f) for f in FREQS) + ' \n'
    if pstate:
        t[PSTATE + 'status'] = 'active\n'
        t[PSTATE + 'max_perf_pct'] = '100\n'
        t[PSTATE + 'min_perf_pct'] = '20\n'
        t[PSTATE + 'no_turbo'] = '0\n'
    for p in range(packages):
        z = ZONE % p
        t[z + 'name'] = 'package-%d\n' % p
        t[z + 'enabled'] = '1\n'
        t[z + 'energy_uj'] = '%d\n' % (1000000 * (p + 1))
        t[z + 'max_energy_range_uj'] = '262143328850\n'
        t[z + 'constraint_0_name'] = 'long_term\n'
        t[z + 'constraint_0_power_limit_uw'] = '150000000\n'
        t[z + 'constraint_0_time_window_us'] = '999424\n'
        t[z + 'constraint_0_max_power_uw'] = '%d\n' % MAX_POWER_UW
        t[z + 'constraint_1_name'] = 'short_term\n'
        t[z + 'constraint_1_power_limit_uw'] = '180000000\n'
        t[z + 'constraint_1_time_window_us'] = '2440\n'
        for s, sub in enumerate(('core', 'dram')):
            sz = ZONE % ('%d:%d' % (p, s))
            t[sz + 'name'] = sub + '\n'
            t[sz + 'enabled'] = '0\n'
            t[sz + 'energy_uj'] = '%d\n' % (1000 * (s + 1))
            t[sz + 'max_energy_range_uj'] = '262143328850\n'
            t[sz + 'constraint_0_name'] = 'long_term\n'
            t[sz + 'constraint_0_power_limit_uw'] = '0\n'
            t[sz + 'constraint_0_time_window_us'] = '976\n'
    return t


def write_tree(root, files, mode=0o644):
    for rel, content in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(content)
        os.chmod(path, mode)


def snapshot(root, skip=()):
    """{relative path: content} of every file under root, and the
    directories, with '/' appended, mapped to None; symlinks as
    '-> target'.  Directories named in skip (relative) are left out."""
    snap = {}
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        dirs[:] = [x for x in dirs
                   if os.path.normpath(os.path.join(rel, x)) not in skip]
        for x in dirs:
            snap[os.path.normpath(os.path.join(rel, x)) + '/'] = None
        for x in files:
            path = os.path.join(d, x)
            key = os.path.normpath(os.path.join(rel, x))
            if os.path.islink(path):
                snap[key] = '-> ' + os.readlink(path)
                continue
            try:
                with open(path, 'rb') as f:
                    snap[key] = f.read()
            except OSError as e:
                snap[key] = 'unreadable: %s' % e.strerror
    return snap


def diff(before, after):
    """Sorted paths that differ (added, removed or changed)."""
    return sorted(k for k in set(before) | set(after)
                  if before.get(k) != after.get(k))


def changed_values(before, after):
    """Sorted paths whose value (less one newline) differs: a file
    rewritten with its own value does not count."""
    return sorted(k for k in set(before) | set(after)
                  if value(before, k) != value(after, k))


def value(snap, rel):
    """A file's value as sysfs shows it, less one newline."""
    v = snap.get(rel)
    if isinstance(v, bytes):
        v = v.decode(errors='replace')
        return v[:-1] if v.endswith('\n') else v
    return v


class QmpError(Exception):
    pass


class Qmp:
    """One QMP connection; replies are matched by id, events are kept."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.timeout = timeout
        self.buf = b''
        self.events = []
        self.next_id = 0
        greeting = self.read_msg()
        if 'QMP' not in greeting:
            raise QmpError('no QMP greeting: %r' % greeting)
        r = self.cmd('qmp_capabilities')
        if 'return' not in r:
            raise QmpError('qmp_capabilities failed: %r' % r)

    def close(self):
        self.sock.close()

    def read_msg(self):
        deadline = time.monotonic() + self.timeout
        while b'\n' not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise QmpError('no reply within %g s' % self.timeout)
            data = self.sock.recv(65536)
            if not data:
                raise QmpError('connection closed')
            self.buf += data
        line, self.buf = self.buf.split(b'\n', 1)
        return json.loads(line)

    def new_id(self):
        self.next_id += 1
        return 'req-%d' % self.next_id

    def send_raw(self, text, tag=None):
        """Send one request, given as text, and return its reply, the
        first message that is no event.  With @tag, the request's id, a
        reply that has another id is an error; one without an id is
        fine (QEMU could not read the request)."""
        self.sock.sendall(text.encode() + b'\n')
        return self.read_reply(tag, text)

    def read_reply(self, tag=None, text=''):
        while True:
            msg = self.read_msg()
            if 'event' in msg:
                self.events.append(msg)
                continue
            if tag is not None and 'id' in msg and msg['id'] != tag:
                raise QmpError('reply %r to %s' % (msg, text[:200]))
            return msg

    def cmd(self, name, args=None):
        tag = self.new_id()
        req = {'execute': name, 'id': tag}
        if args is not None:
            req['arguments'] = args
        return self.send_raw(json.dumps(req), tag)


def start_helper(rundir, tree):
    """qemu-power-helper (tests/integration/machines.Helper) over @tree,
    its socket, state and log in @rundir, allowing root everything."""
    return Helper(rundir, tree, ['--allow-energy', 'root',
                                 '--allow-policy', 'root']).start()


class Qemu:
    """A QEMU with -object host-power asking the qemu-power-helper on
    socket @helper (over a fake tree), QMP on a socket.  The helper keeps
    its changes when it goes (restore-on-exit=off), so that a restarted
    QEMU finds the tree as the last one left it."""

    def __init__(self, qemu, rundir, helper, allow_policy=True,
                 user_cmd=(), cwd=None, new_session=False):
        self.sock = os.path.join(rundir, 'qmp.sock')
        self.log = os.path.join(rundir, 'qemu.log')
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        argv = list(user_cmd) + [
            qemu, '-M', 'none', '-accel', 'tcg', '-nodefaults',
            '-display', 'none',
            '-qmp', 'unix:%s,server=on,wait=off' % self.sock,
            '-object', 'host-power,id=hp0,allow-policy=%s,helper=%s,'
            'restore-on-exit=off' % ('on' if allow_policy else 'off',
                                     helper)]
        self.logf = open(self.log, 'ab')
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf,
                                     cwd=cwd or rundir,
                                     start_new_session=new_session)
        # for the test's shell, should this process die without stopping
        # QEMU: it kills what this names if it still runs with rundir in
        # its command line
        with open(os.path.join(rundir, 'qemu.pid'), 'w') as f:
            f.write('%d\n' % self.proc.pid)
        self.qmp = None

        def connected():
            if self.proc.poll() is not None:
                raise QmpError('QEMU exited with %d at start: %s'
                               % (self.proc.returncode, self.log_tail()))
            if os.path.exists(self.sock):
                try:
                    self.qmp = Qmp(self.sock)
                except (OSError, QmpError):
                    pass
            return self.qmp
        try:
            wait_until(connected, 20, 'QEMU opens its QMP socket')
        except AssertionError:
            self.stop()
            raise

    def log_tail(self, n=600):
        try:
            with open(self.log, 'rb') as f:
                return f.read()[-n:].decode(errors='replace').strip()
        except OSError:
            return ''

    def alive(self):
        return self.proc.poll() is None

    def stop(self, graceful=True):
        """quit through QMP (if @graceful and possible), else SIGTERM,
        then SIGKILL; returns the exit status."""
        if self.qmp:
            try:
                if graceful and self.alive():
                    self.qmp.cmd('quit')
            except (OSError, QmpError):
                pass
            self.qmp.close()
            self.qmp = None
        for sig in ((None,) if graceful else ()) + ('term', 'kill'):
            if sig == 'term':
                self.proc.terminate()
            elif sig == 'kill':
                self.proc.kill()
            try:
                self.proc.wait(timeout=5)
                break
            except subprocess.TimeoutExpired:
                pass
        self.logf.close()
        return self.proc.returncode

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# libvirt-checks.py DIR DOM...: the checks of test-libvirt.sh on the
# replies it collected in DIR through 'virsh qemu-monitor-command'
# (FILE holds virsh's output, FILE.rc its exit status): DOM.1.json and
# DOM.2.json are two query-power samples about a second apart, DOM.hmp is
# 'info power', DOM.regs 'info registers', DOM.bogus.json is query-power
# with an unknown argument.
# The spinning domain must be named qp-spin, the halted one qp-idle.
# Prints one "ok - ..." or "not ok - ..." line per check.
import json
import sys


class Bad(Exception):
    pass


def run(desc, fn):
    try:
        detail, good = fn(), True
    except Bad as e:
        detail, good = str(e), False
    print("%s - %s%s" % ("ok" if good else "not ok", desc,
                         ": " + detail if detail else ""))


def read(name):
    try:
        with open("%s/%s" % (DIR, name)) as f:
            text = f.read().strip()
        with open("%s/%s.rc" % (DIR, name)) as f:
            rc = int(f.read())
    except (OSError, ValueError) as e:
        raise Bad("no reply: %s" % e)
    return rc, text


def reply(name):
    rc, text = read(name)
    if rc != 0:
        raise Bad("virsh exited with %d: %.300s" % (rc, text))
    try:
        return json.loads(text)
    except ValueError as e:
        raise Bad("not JSON (%s): %.300s" % (e, text))


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def power(name):
    r = reply(name)
    if not isinstance(r, dict) or not isinstance(r.get("return"), dict):
        raise Bad("no return member: %.300s" % json.dumps(r))
    r = r["return"]
    want = {"timestamp-ns": is_int, "instance-count": is_int,
            "vcpu-count": is_int,
            "counter-source": lambda x: x in ("cycles", "task-clock", "schedstat"),
            "counter-unit": lambda x: x in ("cycles", "nanoseconds"),
            "vcpus": lambda x: isinstance(x, list) and len(x) == 1,
            "host-energy": lambda x: isinstance(x, dict)}
    bad = [k for k, ok in want.items() if not ok(r.get(k))]
    if bad:
        raise Bad("missing or wrong %s in %.400s" % (", ".join(bad), json.dumps(r)))
    v = r["vcpus"][0]
    vwant = {"cpu-index": lambda x: x == 0, "qom-path": lambda x: isinstance(x, str),
             "thread-id": is_int, "count": is_int,
             "shared-thread": lambda x: isinstance(x, bool)}
    bad = [k for k, ok in vwant.items() if not ok(v.get(k))]
    if bad:
        raise Bad("missing or wrong %s in vcpus[0] %s" % (", ".join(bad), json.dumps(v)))
    e = r["host-energy"]
    if (not isinstance(e.get("available"), bool) or not isinstance(e.get("zones"), list)
            or (not e["available"] and not isinstance(e.get("reason"), str))):
        raise Bad("bad host-energy %s" % json.dumps(e))
    return r


DIR, DOMS = sys.argv[1], sys.argv[2:]
samples = {}


# The guests run where they should: in the BIOS segment, halted or not
def check_regs(d, halted):
    rc, text = read("%s.regs" % d)
    if rc != 0:
        raise Bad("virsh exited with %d: %.300s" % (rc, text))
    regs = dict(w.split("=", 1) for w in text.replace("CS =", "CS=").split()
                if "=" in w)
    where = "CS=%s EIP=%s HLT=%s" % (regs.get("CS"), regs.get("EIP"), regs.get("HLT"))
    if regs.get("CS") != "f000" or regs.get("HLT") != ("1" if halted else "0"):
        raise Bad("%s, want CS=f000 HLT=%d" % (where, halted))
    return where


run("qp-spin: the spin guest runs its loop", lambda: check_regs("qp-spin", False))
run("qp-idle: the halt guest is halted", lambda: check_regs("qp-idle", True))


# (a) both samples have the documented members
def check_members(d, i):
    r = samples[d, i] = power("%s.%d.json" % (d, i))
    return "%s in %s, vCPU thread %d" % (
        r["counter-source"], r["counter-unit"], r["vcpus"][0]["thread-id"])


for d in DOMS:
    for i in (1, 2):
        run("%s: query-power sample %d has the documented members" % (d, i),
            lambda: check_members(d, i))


# (b) counts never decrease; the spinning vCPU works, the halted one does not
def pair(d):
    if (d, 1) not in samples or (d, 2) not in samples:
        raise Bad("no valid samples")
    return samples[d, 1], samples[d, 2]


def check_monotonic(d):
    a, b = pair(d)
    if b["timestamp-ns"] <= a["timestamp-ns"]:
        raise Bad("timestamp-ns %d -> %d" % (a["timestamp-ns"], b["timestamp-ns"]))
    p = [(k, a[k], b[k]) for k in ("instance-count", "vcpu-count")]
    p += [("vcpus[%d].count" % i, x["count"], y["count"])
          for i, (x, y) in enumerate(zip(a["vcpus"], b["vcpus"]))]
    down = ["%s %d -> %d" % x for x in p if x[2] < x[1]]
    if down:
        raise Bad("decreased: " + ", ".join(down))
    return ", ".join("%s +%d" % (x[0], x[2] - x[1]) for x in p[:2])


for d in DOMS:
    run("%s: counts never decrease" % d, lambda: check_monotonic(d))


def share(d):
    a, b = pair(d)
    dv = b["vcpu-count"] - a["vcpu-count"]
    if b["counter-unit"] == "nanoseconds":
        wall = b["timestamp-ns"] - a["timestamp-ns"]
        return dv / wall, "%.1f%% of the %.2f s between the samples" % (
            100 * dv / wall, wall / 1e9)
    # Cycles cannot be compared with wall time: take the spinning
    # domain's growth as the reference instead.
    ra, rb = pair("qp-spin")
    ref = max(1, rb["vcpu-count"] - ra["vcpu-count"])
    return dv / ref, "%.1f%% of the spinning vCPU's cycles" % (100 * dv / ref)


def check_share(d, at_least, limit):
    x, what = share(d)
    want = "%s %g%%" % (">=" if at_least else "<", 100 * limit)
    if (x >= limit) != at_least:
        raise Bad("vcpu-count grew by %s, want %s" % (what, want))
    return "vcpu-count grew by %s (%s)" % (what, want)


run("qp-spin: the spinning vCPU is counted busy",
    lambda: check_share("qp-spin", True, 0.5))
run("qp-idle: the halted vCPU is counted idle",
    lambda: check_share("qp-idle", False, 0.05))


# (c) HMP info power
def check_hmp(d):
    rc, text = read("%s.hmp" % d)
    if rc != 0:
        raise Bad("virsh exited with %d: %.300s" % (rc, text))
    missing = [w for w in ("counter source:", "CPU 0 thread") if w not in text]
    if missing:
        raise Bad("no %s in %r" % (" or ".join(map(repr, missing)), text))
    return "; ".join(text.splitlines()[:2])


for d in DOMS:
    run("%s: HMP info power" % d, lambda: check_hmp(d))


# (d) an unknown argument is refused.  virsh passes a QMP error through as
# the reply and exits 0; a failing virsh counts only if it names the argument.
def check_bogus(d):
    rc, text = read("%s.bogus.json" % d)
    if rc != 0:
        if "bogus" not in text:
            raise Bad("virsh exited with %d: %.300s" % (rc, text))
        return text
    r = reply("%s.bogus.json" % d)
    if not isinstance(r, dict) or not isinstance(r.get("error"), dict):
        raise Bad("no error member: %.300s" % json.dumps(r))
    return "%s: %s" % (r["error"].get("class"), r["error"].get("desc"))


for d in DOMS:
    run("%s: query-power with an unknown argument fails" % d, lambda: check_bogus(d))

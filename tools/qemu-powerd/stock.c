/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: a QEMU without the power patch set is measured from its
 * threads' CPU time as the kernel accounts it, in the clock a patched
 * QEMU's schedstat source uses, so that both kinds of VM can share one
 * host's power.  QEMU is asked only for its vCPU threads.
 */

#include "qemu/osdep.h"
#include <time.h>
#include "qapi/error.h"
#include "qemu/task-counter.h"
#include "qemu/timer.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "stock.h"

bool stock_command_not_found(const char *reply)
{
    QObject *obj = qobject_from_json(reply, NULL);
    QDict *d = qobject_to(QDict, obj);
    QDict *err = d ? qdict_get_qdict(d, "error") : NULL;
    bool r = err && !g_strcmp0(qdict_get_try_str(err, "class"),
                               "CommandNotFound");

    qobject_unref(obj);
    return r;
}

bool stock_parse_vcpus(const char *reply, GArray *tids, Error **errp)
{
    QObject *obj = qobject_from_json(reply, NULL);
    QDict *d = qobject_to(QDict, obj);
    QList *list = d ? qobject_to(QList, qdict_get(d, "return")) : NULL;
    QListEntry *e;
    bool ok = false;

    g_array_set_size(tids, 0);
    if (!list) {
        error_setg(errp, "query-cpus-fast: %s", d && qdict_haskey(d, "error") ?
                   "error reply" : "malformed reply");
        goto out;
    }
    QLIST_FOREACH_ENTRY(list, e) {
        QDict *cpu = qobject_to(QDict, qlist_entry_obj(e));
        QNum *n = cpu ? qobject_to(QNum, qdict_get(cpu, "thread-id")) : NULL;
        int64_t tid;
        int t;

        if (!n || !qnum_get_try_int(n, &tid) || tid <= 0 || tid > INT_MAX) {
            error_setg(errp, "query-cpus-fast: a vCPU without a valid "
                       "thread-id");
            goto out;
        }
        t = tid;
        g_array_append_val(tids, t);
    }
    if (!tids->len) {
        error_setg(errp, "query-cpus-fast: no vCPU");
        goto out;
    }
    ok = true;
out:
    qobject_unref(obj);
    return ok;
}

int stock_pid_of(int tid, Error **errp)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", tid);
    g_autofree char *buf = NULL;
    const char *p;
    int pid;

    if (!g_file_get_contents(path, &buf, NULL, NULL)) {
        error_setg(errp, "vCPU thread %d: no such thread", tid);
        return 0;
    }
    p = strstr(buf, "\nTgid:");
    if (!p || sscanf(p + 6, "%d", &pid) != 1 || pid <= 0) {
        error_setg(errp, "vCPU thread %d: no Tgid in %s", tid, path);
        return 0;
    }
    return pid;
}

/* Run time of thread @tid of @pid, in ns. */
static bool thread_ns(int pid, int tid, uint64_t *ns, Error **errp)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/task/%d/schedstat",
                                            pid, tid);
    g_autofree char *buf = NULL;

    if (!g_file_get_contents(path, &buf, NULL, NULL)) {
        error_setg(errp, "vCPU thread %d is no longer a thread of "
                   "process %d", tid, pid);
        return false;
    }
    return task_counter_parse_schedstat(buf, ns, errp);
}

bool stock_sample(int pid, GArray *tids, VmSample *s, Error **errp)
{
    struct timespec cpu, mono;
    clockid_t clock;
    uint64_t vcpus = 0;

    if (pid <= 0) {
        error_setg(errp, "The QEMU's process is not known");
        return false;
    }
    if (clock_getcpuclockid(pid, &clock) != 0 ||
        clock_gettime(clock, &cpu) != 0) {
        error_setg(errp, "Process %d is gone", pid);
        return false;
    }
    clock_gettime(CLOCK_MONOTONIC, &mono);
    for (guint i = 0; i < tids->len; i++) {
        uint64_t ns;

        if (!thread_ns(pid, g_array_index(tids, int, i), &ns, errp)) {
            return false;
        }
        vcpus += ns;
    }
    vm_sample_clear(s);
    s->timestamp_ns = mono.tv_sec * NANOSECONDS_PER_SECOND + mono.tv_nsec;
    s->source = g_strdup(STOCK_SOURCE);
    s->cycles = false;
    s->kernel_excluded = false;
    s->instance_count = cpu.tv_sec * NANOSECONDS_PER_SECOND + cpu.tv_nsec;
    s->vcpu_count = vcpus;
    s->nvcpus = tids->len;
    return true;
}

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: strict parsing of query-power replies and POWER_SAMPLE
 * events.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qobject/qstring.h"
#include "qemu/task-counter.h"
#include "sample.h"

void vm_sample_clear(VmSample *s)
{
    g_free(s->source);
    memset(s, 0, sizeof(*s));
}

static bool get_uint(QDict *d, const char *key, uint64_t *v, Error **errp)
{
    QObject *o = qdict_get(d, key);
    QNum *n = qobject_to(QNum, o);

    if (!o) {
        error_setg(errp, "query-power reply lacks '%s'", key);
        return false;
    }
    if (!n || !qnum_get_try_uint(n, v)) {
        error_setg(errp, "query-power reply's '%s' is not an unsigned "
                   "64-bit integer", key);
        return false;
    }
    return true;
}

static bool parse_return(QDict *ret, VmSample *s, Error **errp)
{
    QString *src = qobject_to(QString, qdict_get(ret, "counter-source"));
    QString *why = qobject_to(QString, qdict_get(ret, "counter-unavailable"));
    VmSample n = { 0 };
    TaskCounterSource source;

    if (!src) {
        error_setg(errp, "VM has no counters%s%s", why ? ": " : "",
                   why ? qstring_get_str(why) : "");
        return false;
    }
    /* the source gives the unit: cycles, or nanoseconds of CPU time */
    if (!task_counter_source_parse(qstring_get_str(src), &source)) {
        error_setg(errp, "query-power reply's 'counter-source' is not "
                   "cycles, task-clock or schedstat");
        return false;
    }
    if (!get_uint(ret, "timestamp-ns", &n.timestamp_ns, errp) ||
        !get_uint(ret, "instance-count", &n.instance_count, errp) ||
        !get_uint(ret, "vcpu-count", &n.vcpu_count, errp)) {
        return false;
    }
    n.nvcpus = qdict_get_qlist(ret, "vcpus") ?
        qlist_size(qdict_get_qlist(ret, "vcpus")) : 0;
    n.cycles = !task_counter_source_is_time(source);
    n.kernel_excluded = qdict_get_try_bool(ret, "counter-kernel-excluded",
                                           false);
    n.source = g_strdup(qstring_get_str(src));
    vm_sample_clear(s);
    *s = n;
    return true;
}

static bool parse_reply(QObject *obj, VmSample *s, Error **errp)
{
    QDict *d = qobject_to(QDict, obj);
    QDict *err, *ret;

    if (!d) {
        error_setg(errp, "Reply is not a JSON object");
        return false;
    }
    err = qdict_get_qdict(d, "error");
    if (err) {
        QString *desc = qobject_to(QString, qdict_get(err, "desc"));

        error_setg(errp, "QEMU: %s", desc ? qstring_get_str(desc) :
                   "error without description");
        return false;
    }
    ret = qdict_get_qdict(d, "return");
    if (!ret) {
        error_setg(errp, "Reply has no 'return' object");
        return false;
    }
    return parse_return(ret, s, errp);
}

bool vm_sample_parse(const char *reply, VmSample *s, Error **errp)
{
    QObject *obj = qobject_from_json(reply, errp);
    bool ok;

    if (!obj) {
        error_prepend(errp, "Malformed reply: ");
        return false;
    }
    ok = parse_reply(obj, s, errp);
    qobject_unref(obj);
    return ok;
}

bool vm_sample_parse_event(const char *line, VmSample *s, Error **errp)
{
    QObject *obj = qobject_from_json(line, errp);
    QDict *d = qobject_to(QDict, obj);
    QDict *data = d ? qdict_get_qdict(d, "data") : NULL;
    bool ok = false;

    if (!obj) {
        error_prepend(errp, "Malformed POWER_SAMPLE: ");
        return false;
    }
    if (!d || g_strcmp0(qdict_get_try_str(d, "event"), "POWER_SAMPLE")) {
        error_setg(errp, "Not a POWER_SAMPLE event");
    } else if (!data) {
        error_setg(errp, "POWER_SAMPLE has no 'data' object");
    } else {
        ok = parse_return(data, s, errp);
    }
    qobject_unref(obj);
    return ok;
}

bool vm_sample_parse_record(const char *rec, VmSample *s, Error **errp)
{
    QObject *obj = qobject_from_json(rec, errp);
    QDict *d = qobject_to(QDict, obj);
    int64_t version = d ? qdict_get_try_int(d, "version", -1) : -1;
    bool ok = false;

    if (!obj) {
        error_prepend(errp, "Malformed channel record: ");
        return false;
    }
    if (!d) {
        error_setg(errp, "Channel record is not a JSON object");
    } else if (version != SAMPLE_RECORD_VERSION) {
        error_setg(errp, "Channel record of version %" PRId64 ", not %d",
                   version, SAMPLE_RECORD_VERSION);
    } else if (parse_return(d, s, errp)) {
        s->nvcpus = MAX(qdict_get_try_int(d, "vcpus", 0), 0);
        ok = true;
    }
    qobject_unref(obj);
    return ok;
}

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: host energy from qemu-power-helper.  One request at a
 * time, from the main thread; every wait ends by the round's deadline.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "helper.h"
#include "lines.h"

#define HELPER_VERSION 1
#define HELPER_LINE_MAX 65536

struct PowerHelper {
    char *path;
    int fd;
    GString *inbuf;
};

PowerHelper *power_helper_new(const char *path)
{
    PowerHelper *h = g_new0(PowerHelper, 1);

    h->path = g_strdup(path);
    h->fd = -1;
    h->inbuf = g_string_new("");
    return h;
}

static void disconnect(PowerHelper *h)
{
    if (h->fd >= 0) {
        close(h->fd);
        h->fd = -1;
    }
    g_string_truncate(h->inbuf, 0);
}

/* A line of the helper as a QDict, or NULL. */
static QDict *read_dict(PowerHelper *h, int64_t deadline, Error **errp)
{
    g_autofree char *line = lines_read(h->fd, h->inbuf, HELPER_LINE_MAX,
                                       deadline, errp);
    QDict *d;

    if (!line) {
        return NULL;
    }
    d = qobject_to(QDict, qobject_from_json(line, NULL));
    if (!d) {
        error_setg(errp, "Not a JSON object");
    }
    return d;
}

static bool handshake(PowerHelper *h, int64_t deadline, Error **errp)
{
    g_autoptr(QDict) greeting = NULL;
    QDict *v;

    h->fd = lines_connect(h->path, errp);
    if (h->fd < 0) {
        return false;
    }
    greeting = read_dict(h, deadline, errp);
    if (!greeting) {
        return false;
    }
    v = qdict_get_qdict(greeting, "qemu-power-helper");
    if (!v || qdict_get_try_int(v, "version", -1) != HELPER_VERSION) {
        error_setg(errp, "Not qemu-power-helper protocol version %d",
                   HELPER_VERSION);
        return false;
    }
    /*
     * keep false: host knobs that --power-cap changed come back to what
     * they were if qemu-powerd dies
     */
    if (!lines_send(h->fd, "{\"execute\": \"hello\", \"arguments\": "
                    "{\"name\": \"qemu-powerd\", \"keep\": false}}\n",
                    errp)) {
        return false;
    }
    qobject_unref(greeting);
    greeting = read_dict(h, deadline, errp);
    if (!greeting) {
        return false;
    }
    v = qdict_get_qdict(greeting, "error");
    if (v) {
        error_setg(errp, "hello: %s",
                   qdict_get_try_str(v, "desc") ?: "refused");
        return false;
    }
    return true;
}

/* The "return" of @cmd with @args (or none), or NULL with @errp set. */
static QObject *call(PowerHelper *h, const char *cmd, QDict *args,
                     int64_t deadline, Error **errp)
{
    g_autoptr(QDict) req = qdict_new();
    g_autoptr(GString) text = NULL;
    g_autoptr(QDict) reply = NULL;
    QDict *err;
    QObject *ret;

    qdict_put_str(req, "execute", cmd);
    if (args) {
        qdict_put(req, "arguments", qobject_ref(args));
    }
    text = qobject_to_json(QOBJECT(req));
    g_string_append_c(text, '\n');
    if ((h->fd < 0 && !handshake(h, deadline, errp)) ||
        !lines_send(h->fd, text->str, errp)) {
        return NULL;
    }
    reply = read_dict(h, deadline, errp);
    if (!reply) {
        return NULL;
    }
    err = qdict_get_qdict(reply, "error");
    if (err) {
        error_setg(errp, "%s", qdict_get_try_str(err, "desc") ?: "error");
        return NULL;
    }
    ret = qdict_get(reply, "return");
    if (!ret) {
        error_setg(errp, "A reply without \"return\"");
        return NULL;
    }
    return qobject_ref(ret);
}

QObject *power_helper_call(PowerHelper *h, const char *cmd, QDict *args,
                           int64_t deadline, Error **errp)
{
    QObject *ret = call(h, cmd, args, deadline, errp);

    if (!ret) {
        error_prepend(errp, "qemu-power-helper at '%s': ", h->path);
    }
    return ret;
}

/* The zones of a PowerHostEnergy; false if it is not one. */
static bool parse_energy(QDict *e, GPtrArray *names, GArray *uj,
                         Error **errp)
{
    QList *zones = qdict_get_qlist(e, "zones");
    const QListEntry *ent;

    if (!qdict_get_try_bool(e, "available", false)) {
        error_setg(errp, "The host's energy is not available: %s",
                   qdict_get_try_str(e, "reason") ?: "no reason given");
        return false;
    }
    if (!zones) {
        error_setg(errp, "A reply without zones");
        return false;
    }
    QLIST_FOREACH_ENTRY(zones, ent) {
        QDict *z = qobject_to(QDict, qlist_entry_obj(ent));
        QNum *n = z ? qobject_to(QNum, qdict_get(z, "energy-uj")) : NULL;
        const char *name = z ? qdict_get_try_str(z, "name") : NULL;
        uint64_t v;

        if (!name || !n || !qnum_get_try_uint(n, &v)) {
            error_setg(errp, "A zone without a name or energy-uj");
            return false;
        }
        g_ptr_array_add(names, g_strdup(name));
        g_array_append_val(uj, v);
    }
    return true;
}

bool power_helper_energy(PowerHelper *h, int64_t deadline, GPtrArray **names,
                         GArray **uj, Error **errp)
{
    g_autoptr(GPtrArray) n = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GArray) v = g_array_new(false, false, sizeof(uint64_t));
    QObject *ret = call(h, "query-energy", NULL, deadline, errp);
    QDict *e = qobject_to(QDict, ret);
    bool ok = e && parse_energy(e, n, v, errp);

    if (ret && !e) {
        error_setg(errp, "query-energy did not return an object");
    }
    qobject_unref(ret);
    if (!ok) {
        if (!ret) {
            disconnect(h);      /* try a new connection next time */
        }
        error_prepend(errp, "qemu-power-helper at '%s': ", h->path);
        return false;
    }
    *names = g_steal_pointer(&n);
    *uj = g_steal_pointer(&v);
    return true;
}

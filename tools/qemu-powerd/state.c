/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: the state file, JSON (version 2):
 *
 *   {"qemu-powerd-state": 2,
 *    "energy": [["vm", NAME, UUID, ZONE, JOULES, LAST_SEEN],
 *               ["host", "", "", ZONE, JOULES, LAST_SEEN], ...],
 *    "idle": [[ZONE, [[UTILISATION, WATTS], ...]], ...]}
 *
 * LAST_SEEN is a Unix time in seconds, so that VMs gone for good can be
 * forgotten; "idle" holds each zone's regression window, oldest point
 * first, so that a restarted daemon has its idle estimate at once.
 *
 * VM names are any bytes a tenant chose, so the file is escaped JSON and
 * a key is the JSON text of the first four members of its row:
 * unambiguous whatever a name holds (the earlier tab-separated lines
 * broke on a tab, and a VM named "host" took the host's line).  Version
 * 1 (rows without LAST_SEEN, no "idle") and the tab-separated files are
 * still read.
 */

#include "qemu/osdep.h"
#include <math.h>
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qobject/qstring.h"
#include "json-out.h"
#include "log.h"
#include "state.h"

#define STATE_VERSION 2

typedef struct StateEnergy {
    double joules;
    int64_t seen;               /* Unix seconds */
} StateEnergy;

struct PowerdState {
    GHashTable *energy;         /* key -> StateEnergy */
    GHashTable *idle;           /* zone name -> IdleModel */
};

PowerdState *state_new(void)
{
    PowerdState *st = g_new0(PowerdState, 1);

    st->energy = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                       g_free);
    st->idle = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                     g_free);
    return st;
}

void state_free(PowerdState *st)
{
    if (st) {
        g_hash_table_destroy(st->energy);
        g_hash_table_destroy(st->idle);
        g_free(st);
    }
}

static void clear(PowerdState *st)
{
    g_hash_table_remove_all(st->energy);
    g_hash_table_remove_all(st->idle);
}

static char *make_key(const char *kind, const char *name, const char *uuid,
                      const char *zone)
{
    GString *k = g_string_new("");

    json_append_string(k, kind);
    g_string_append(k, ", ");
    json_append_string(k, name);
    g_string_append(k, ", ");
    json_append_string(k, uuid);
    g_string_append(k, ", ");
    json_append_string(k, zone);
    return g_string_free(k, false);
}

char *state_vm_key(const char *name, const char *uuid, const char *zone)
{
    return make_key("vm", name, uuid, zone);
}

char *state_host_key(const char *zone)
{
    return make_key("host", "", "", zone);
}

bool state_get_energy(PowerdState *st, const char *key, double *joules)
{
    StateEnergy *e = g_hash_table_lookup(st->energy, key);

    if (e) {
        *joules = e->joules;
    }
    return e;
}

/* Takes @key. */
static bool add(PowerdState *st, char *key, double joules, int64_t seen)
{
    StateEnergy *e;

    if (!isfinite(joules) || joules < 0 || seen < 0) {
        g_free(key);
        return false;
    }
    e = g_new(StateEnergy, 1);
    e->joules = joules;
    e->seen = seen;
    g_hash_table_insert(st->energy, key, e);
    return true;
}

void state_set_energy(PowerdState *st, const char *key, double joules,
                      int64_t seen)
{
    add(st, g_strdup(key), joules, seen);
}

static bool is_vm_key(const char *key)
{
    return g_str_has_prefix(key, "\"vm\", ");
}

unsigned state_prune(PowerdState *st, int64_t before)
{
    GHashTableIter it;
    gpointer key, value;
    unsigned n = 0;

    g_hash_table_iter_init(&it, st->energy);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        if (is_vm_key(key) && ((StateEnergy *)value)->seen < before) {
            g_hash_table_iter_remove(&it);
            n++;
        }
    }
    return n;
}

unsigned state_count(PowerdState *st)
{
    return g_hash_table_size(st->energy);
}

void state_set_idle(PowerdState *st, const char *zone, const IdleModel *m)
{
    g_hash_table_insert(st->idle, g_strdup(zone), g_memdup2(m, sizeof(*m)));
}

bool state_get_idle(PowerdState *st, const char *zone, IdleModel *m)
{
    IdleModel *kept = g_hash_table_lookup(st->idle, zone);

    if (kept) {
        *m = *kept;
    }
    return kept;
}

static bool parse_row(PowerdState *st, QList *item, int version,
                      int64_t now)
{
    const char *s[4];
    QNum *num[2] = { NULL, NULL };
    int64_t seen = now;
    int n = 0;
    QListEntry *f;

    if (!item || qlist_size(item) != (version == 1 ? 5 : 6)) {
        return false;
    }
    QLIST_FOREACH_ENTRY(item, f) {
        if (n < 4) {
            QString *q = qobject_to(QString, qlist_entry_obj(f));

            if (!q) {
                return false;
            }
            s[n] = qstring_get_str(q);
        } else {
            num[n - 4] = qobject_to(QNum, qlist_entry_obj(f));
            if (!num[n - 4]) {
                return false;
            }
        }
        n++;
    }
    if (version > 1 && !qnum_get_try_int(num[1], &seen)) {
        return false;
    }
    if (strcmp(s[0], "vm") && strcmp(s[0], "host")) {
        return false;
    }
    return add(st, make_key(s[0], s[1], s[2], s[3]),
               qnum_get_double(num[0]), seen);
}

/* Member @n of @l, which has at least n + 1. */
static QObject *nth(QList *l, int n)
{
    const QListEntry *e = qlist_first(l);

    while (n--) {
        e = qlist_next(e);
    }
    return qlist_entry_obj(e);
}

/* [ZONE, [[U, W], ...]], in the order the model took them. */
static bool parse_idle(PowerdState *st, QList *item)
{
    g_autofree IdleModel *m = g_new0(IdleModel, 1);
    QString *zone;
    QList *points;
    QListEntry *e;

    if (!item || qlist_size(item) != 2) {
        return false;
    }
    zone = qobject_to(QString, nth(item, 0));
    points = qobject_to(QList, nth(item, 1));
    if (!zone || !points || qlist_size(points) > IDLE_WINDOW) {
        return false;
    }
    QLIST_FOREACH_ENTRY(points, e) {
        QList *pt = qobject_to(QList, qlist_entry_obj(e));
        QNum *u = pt && qlist_size(pt) == 2 ?
            qobject_to(QNum, nth(pt, 0)) : NULL;
        QNum *w = u ? qobject_to(QNum, nth(pt, 1)) : NULL;
        double uv, wv;

        if (!w) {
            return false;
        }
        uv = qnum_get_double(u);
        wv = qnum_get_double(w);
        /* what idle_model_add() would drop or clamp is damage here */
        if (!isfinite(uv) || !isfinite(wv) || uv < 0 || uv > 1 || wv < 0) {
            return false;
        }
        idle_model_add(m, uv, wv);
    }
    g_hash_table_insert(st->idle, g_strdup(qstring_get_str(zone)),
                        g_steal_pointer(&m));
    return true;
}

static bool parse_state(PowerdState *st, QObject *obj, int64_t now)
{
    QDict *d = qobject_to(QDict, obj);
    QList *energy = d ? qdict_get_qlist(d, "energy") : NULL;
    QList *idle = d ? qdict_get_qlist(d, "idle") : NULL;
    int64_t version = d ? qdict_get_try_int(d, "qemu-powerd-state", 0) : 0;
    QListEntry *e;

    if (!energy || version < 1 || version > STATE_VERSION ||
        (version > 1 && !idle)) {
        return false;
    }
    QLIST_FOREACH_ENTRY(energy, e) {
        if (!parse_row(st, qobject_to(QList, qlist_entry_obj(e)), version,
                       now)) {
            return false;
        }
    }
    if (idle) {
        QLIST_FOREACH_ENTRY(idle, e) {
            if (!parse_idle(st, qobject_to(QList, qlist_entry_obj(e)))) {
                return false;
            }
        }
    }
    return true;
}

/* The JSON form; false if @text is not one. */
static bool parse_json(PowerdState *st, const char *text, int64_t now)
{
    QObject *obj = qobject_from_json(text, NULL);
    bool ok = obj && parse_state(st, obj, now);

    qobject_unref(obj);
    return ok;
}

/* The tab-separated form of earlier versions; false if @text is not one. */
static bool parse_legacy(PowerdState *st, const char *text, int64_t now)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

    for (int i = 0; lines[i]; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], "\t", -1);
        char *end;
        double j;

        if (!*lines[i]) {
            continue;
        }
        if (g_strv_length(f) != 4) {
            return false;
        }
        j = g_ascii_strtod(f[3], &end);
        if (end == f[3] || *end) {
            return false;
        }
        if (!add(st, strcmp(f[0], "host") || *f[1] ?
                 state_vm_key(f[0], f[1], f[2]) : state_host_key(f[2]), j,
                 now)) {
            return false;
        }
    }
    return true;
}

PowerdState *state_load(const char *path, int64_t now, Error **errp)
{
    g_autoptr(PowerdState) st = state_new();
    g_autofree char *text = NULL;
    g_autofree char *aside = NULL;
    g_autoptr(GError) gerr = NULL;
    bool ok;

    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        if (g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            return g_steal_pointer(&st);
        }
        error_setg(errp, "Could not read state file '%s': %s", path,
                   gerr->message);
        return NULL;
    }
    ok = text[0] == '{' ? parse_json(st, text, now) :
        parse_legacy(st, text, now);
    if (ok) {
        return g_steal_pointer(&st);
    }
    clear(st);
    aside = g_strdup_printf("%s.corrupt", path);
    if (rename(path, aside) < 0) {
        error_setg_errno(errp, errno, "State file '%s' is corrupt and "
                         "could not be moved aside", path);
        return NULL;
    }
    powerd_log(LOG_WARNING, "state file '%s' is corrupt: moved to '%s', "
               "starting from zero energy", path, aside);
    return g_steal_pointer(&st);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void append_energy(GString *text, PowerdState *st)
{
    guint n;
    g_autofree gpointer *keys = g_hash_table_get_keys_as_array(st->energy,
                                                               &n);
    const char *sep = "\n  ";

    /* sorted: the file reads the same from one write to the next */
    qsort(keys, n, sizeof(*keys), cmp_keys);
    for (guint i = 0; i < n; i++) {
        StateEnergy *e = g_hash_table_lookup(st->energy, keys[i]);

        g_string_append_printf(text, "%s[%s, ", sep, (char *)keys[i]);
        json_append_number(text, e->joules);
        g_string_append_printf(text, ", %" PRId64 "]", e->seen);
        sep = ",\n  ";
    }
}

static void append_idle(GString *text, PowerdState *st)
{
    GHashTableIter it;
    gpointer zone, value;
    const char *sep = "\n  ";

    g_hash_table_iter_init(&it, st->idle);
    while (g_hash_table_iter_next(&it, &zone, &value)) {
        IdleModel *m = value;
        size_t first = (m->next + IDLE_WINDOW - m->n) % IDLE_WINDOW;

        g_string_append(text, sep);
        g_string_append_c(text, '[');
        json_append_string(text, zone);
        g_string_append(text, ", [");
        for (size_t i = 0; i < m->n; i++) {
            size_t k = (first + i) % IDLE_WINDOW;

            g_string_append(text, i ? ", [" : "[");
            json_append_number(text, m->u[k]);
            g_string_append(text, ", ");
            json_append_number(text, m->p[k]);
            g_string_append_c(text, ']');
        }
        g_string_append(text, "]]");
        sep = ",\n  ";
    }
}

/* Make the rename of a file in @path's directory durable. */
static bool sync_dir(const char *path)
{
    g_autofree char *dir = g_path_get_dirname(path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool ok = fd >= 0 && fsync(fd) == 0;

    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

bool state_save(const char *path, PowerdState *st, Error **errp)
{
    g_autofree char *tmp = g_strdup_printf("%s.tmp", path);
    GString *text = g_string_new("");
    int fd;
    bool ok;

    g_string_append_printf(text, "{\"qemu-powerd-state\": %d,\n"
                           " \"energy\": [", STATE_VERSION);
    append_energy(text, st);
    g_string_append(text, "],\n \"idle\": [");
    append_idle(text, st);
    g_string_append(text, "]}\n");
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ok = fd >= 0 &&
         qemu_write_full(fd, text->str, text->len) == text->len &&
         fsync(fd) == 0;
    if (!ok) {
        error_setg_errno(errp, errno, "Could not write '%s'", tmp);
    }
    if (fd >= 0) {
        close(fd);
    }
    g_string_free(text, true);
    if (ok && rename(tmp, path) < 0) {
        error_setg_errno(errp, errno, "Could not replace '%s'", path);
        ok = false;
    }
    if (!ok) {
        unlink(tmp);
    } else if (!sync_dir(path)) {
        error_setg_errno(errp, errno, "Could not sync the folder of '%s'",
                         path);
        ok = false;
    }
    return ok;
}

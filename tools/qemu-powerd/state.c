/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: the state file, JSON:
 *
 *   {"qemu-powerd-state": 1,
 *    "energy": [["vm", NAME, UUID, ZONE, JOULES],
 *               ["host", "", "", ZONE, JOULES], ...]}
 *
 * VM names are any bytes a tenant chose, so the file is escaped JSON and
 * a key is the JSON text of its first four members: unambiguous whatever
 * a name holds (the earlier tab-separated lines broke on a tab, and a VM
 * named "host" took the host's line).  Those earlier files are still read.
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
#include "state.h"

#define STATE_VERSION 1

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

static bool add(PowerdState *st, char *key, double joules)
{
    double *j;

    if (!isfinite(joules) || joules < 0) {
        g_free(key);
        return false;
    }
    j = g_new(double, 1);
    *j = joules;
    g_hash_table_insert(st, key, j);
    return true;
}

static bool parse_energy(PowerdState *st, QObject *obj)
{
    QDict *d = qobject_to(QDict, obj);
    QList *energy = d ? qdict_get_qlist(d, "energy") : NULL;
    QListEntry *e;

    if (!energy ||
        qdict_get_try_int(d, "qemu-powerd-state", 0) != STATE_VERSION) {
        return false;
    }
    QLIST_FOREACH_ENTRY(energy, e) {
        QList *item = qobject_to(QList, qlist_entry_obj(e));
        const char *s[4];
        QNum *j = NULL;
        int n = 0;
        QListEntry *f;

        if (!item || qlist_size(item) != 5) {
            return false;
        }
        QLIST_FOREACH_ENTRY(item, f) {
            if (n < 4) {
                QString *q = qobject_to(QString, qlist_entry_obj(f));

                if (!q) {
                    return false;
                }
                s[n++] = qstring_get_str(q);
            } else {
                j = qobject_to(QNum, qlist_entry_obj(f));
            }
        }
        if (!j || (strcmp(s[0], "vm") && strcmp(s[0], "host")) ||
            !add(st, make_key(s[0], s[1], s[2], s[3]), qnum_get_double(j))) {
            return false;
        }
    }
    return true;
}

/* The JSON form; false if @text is not one. */
static bool parse_json(PowerdState *st, const char *text)
{
    QObject *obj = qobject_from_json(text, NULL);
    bool ok = obj && parse_energy(st, obj);

    qobject_unref(obj);
    return ok;
}

/* The tab-separated form of earlier versions; false if @text is not one. */
static bool parse_legacy(PowerdState *st, const char *text)
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
                 state_vm_key(f[0], f[1], f[2]) : state_host_key(f[2]), j)) {
            return false;
        }
    }
    return true;
}

PowerdState *state_load(const char *path, Error **errp)
{
    PowerdState *st = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                            g_free);
    g_autofree char *text = NULL;
    g_autofree char *aside = NULL;
    g_autoptr(GError) gerr = NULL;
    bool ok;

    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        if (g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            return st;
        }
        error_setg(errp, "Could not read state file '%s': %s", path,
                   gerr->message);
        g_hash_table_destroy(st);
        return NULL;
    }
    ok = text[0] == '{' ? parse_json(st, text) : parse_legacy(st, text);
    if (ok) {
        return st;
    }
    g_hash_table_remove_all(st);
    aside = g_strdup_printf("%s.corrupt", path);
    if (rename(path, aside) < 0) {
        error_setg_errno(errp, errno, "State file '%s' is corrupt and "
                         "could not be moved aside", path);
        g_hash_table_destroy(st);
        return NULL;
    }
    fprintf(stderr, "qemu-powerd: warning: state file '%s' is corrupt: "
            "moved to '%s', starting from zero energy\n", path, aside);
    return st;
}

bool state_save(const char *path, PowerdState *state, Error **errp)
{
    g_autofree char *tmp = g_strdup_printf("%s.tmp", path);
    GString *text = g_string_new("{\"qemu-powerd-state\": 1, \"energy\": [");
    GHashTableIter it;
    gpointer key, value;
    const char *sep = "\n  ";
    int fd;
    bool ok;

    g_hash_table_iter_init(&it, state);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        g_string_append_printf(text, "%s[%s, ", sep, (char *)key);
        json_append_number(text, *(double *)value);
        g_string_append_c(text, ']');
        sep = ",\n  ";
    }
    g_string_append(text, "]}\n");
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
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
    }
    return ok;
}

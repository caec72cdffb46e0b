/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-power-helper: arbitration between clients that change the same
 * host knobs.  Each knob remembers its original value, what the helper
 * last wrote (so that a change behind our back is seen and left alone)
 * and the changes of each client in order, each with the value before
 * it.  The original and the last written value of every knob go to the
 * state file, written atomically on every change.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qobject/qobject.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qobject/qstring.h"
#include "arbiter.h"

/* QObject has no g_autoptr() */
static void unref_obj(QObject **obj)
{
    qobject_unref(*obj);
}

/* The state file's format; a file of another version is refused. */
#define STATE_VERSION 1

/* Knobs a state file may hold: far more than a host has. */
#define STATE_MAX_KNOBS 65536

/* Client 0 owns the changes of a previous run, and the kept ones. */
#define NO_CLIENT 0

typedef struct Change {
    uint64_t client;
    char *before;               /* the value before this change */
} Change;

typedef struct Knob {
    char *rel;                  /* the path beneath the root */
    char *original;
    char *written;              /* read back after our last write */
    GArray *changes;            /* Change, oldest first */
} Knob;

struct Arbiter {
    char *root;
    char *state_file;
    GPtrArray *knobs;           /* Knob */
};

static void change_clear(gpointer p)
{
    g_free(((Change *)p)->before);
}

static Knob *knob_new(const char *rel, const char *original,
                      const char *written)
{
    Knob *k = g_new0(Knob, 1);

    k->rel = g_strdup(rel);
    k->original = g_strdup(original);
    k->written = g_strdup(written);
    k->changes = g_array_new(false, false, sizeof(Change));
    g_array_set_clear_func(k->changes, change_clear);
    return k;
}

static void knob_free(Knob *k)
{
    g_free(k->rel);
    g_free(k->original);
    g_free(k->written);
    g_array_free(k->changes, true);
    g_free(k);
}

static void add_change(Knob *k, uint64_t client, const char *before)
{
    Change c = { .client = client, .before = g_strdup(before) };

    g_array_append_val(k->changes, c);
}

/* A relative path as the helper builds them: no "..", no odd byte. */
static bool valid_rel(const char *rel)
{
    if (!*rel || rel[0] == '/' || strstr(rel, "..") ||
        strlen(rel) > PATH_MAX) {
        return false;
    }
    for (const char *p = rel; *p; p++) {
        if (!g_ascii_isalnum(*p) && !strchr("/_-:.", *p)) {
            return false;
        }
    }
    return true;
}

static char *full_path(Arbiter *a, const Knob *k)
{
    return g_strdup_printf("%s/%s", a->root, k->rel);
}

/* "a\nb" -> "a\\nb", and at most 64 bytes of it, for the log. */
static char *quote(const char *s)
{
    g_autofree char *cut = g_strndup(s ? s : "", 64);

    return g_strescape(cut, NULL);
}

static bool save_state(Arbiter *a, Error **errp)
{
    g_autoptr(QDict) top = NULL;
    QList *knobs;
    g_autoptr(GString) json = NULL;
    g_autofree char *tmp = NULL;
    g_autofree char *dir = NULL;
    int fd, dfd;

    if (!a->state_file) {
        return true;
    }
    if (!a->knobs->len) {
        if (unlink(a->state_file) < 0 && errno != ENOENT) {
            error_setg_errno(errp, errno, "Could not remove '%s'",
                             a->state_file);
            return false;
        }
        return true;
    }
    top = qdict_new();
    knobs = qlist_new();
    qdict_put_int(top, "version", STATE_VERSION);
    qdict_put_str(top, "sysfs-root", a->root);
    for (guint i = 0; i < a->knobs->len; i++) {
        Knob *k = g_ptr_array_index(a->knobs, i);
        QDict *kd = qdict_new();

        qdict_put_str(kd, "path", k->rel);
        qdict_put_str(kd, "original", k->original);
        qdict_put_str(kd, "written", k->written);
        qlist_append(knobs, kd);
    }
    qdict_put(top, "knobs", knobs);
    json = qobject_to_json_pretty(QOBJECT(top), true);
    g_string_append_c(json, '\n');

    /* tmp + fsync + rename: the file is the old one or the new one */
    tmp = g_strdup_printf("%s.tmp", a->state_file);
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not create '%s'", tmp);
        return false;
    }
    if (write(fd, json->str, json->len) != json->len || fsync(fd) < 0) {
        error_setg_errno(errp, errno, "Could not write '%s'", tmp);
        close(fd);
        unlink(tmp);
        return false;
    }
    close(fd);
    if (rename(tmp, a->state_file) < 0) {
        error_setg_errno(errp, errno, "Could not rename '%s'", tmp);
        unlink(tmp);
        return false;
    }
    dir = g_path_get_dirname(a->state_file);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return true;
}

static void save_or_log(Arbiter *a)
{
    Error *err = NULL;

    if (!save_state(a, &err)) {
        helper_log("state file: %s", error_get_pretty(err));
        error_free(err);
    }
}

static bool load_state(Arbiter *a, Error **errp)
{
    g_autofree char *text = NULL;
    QObject *obj __attribute__((cleanup(unref_obj))) = NULL;
    GError *gerr = NULL;
    QDict *top;
    QList *knobs;
    QListEntry *e;
    const char *root;

    if (!g_file_get_contents(a->state_file, &text, NULL, &gerr)) {
        if (g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            g_error_free(gerr);
            return true;
        }
        error_setg(errp, "Could not read the state file: %s",
                   gerr->message);
        g_error_free(gerr);
        return false;
    }
    obj = qobject_from_json(text, NULL);
    top = qobject_to(QDict, obj);
    knobs = top ? qdict_get_qlist(top, "knobs") : NULL;
    root = top ? qdict_get_try_str(top, "sysfs-root") : NULL;
    if (!knobs || !root ||
        qdict_get_try_int(top, "version", -1) != STATE_VERSION) {
        error_setg(errp, "'%s' is not a version %d state file; it holds "
                   "the host's original values: look at it, then remove "
                   "it", a->state_file, STATE_VERSION);
        return false;
    }
    if (strcmp(root, a->root)) {
        error_setg(errp, "'%s' records knobs under '%s', not '%s'",
                   a->state_file, root, a->root);
        return false;
    }
    QLIST_FOREACH_ENTRY(knobs, e) {
        QDict *kd = qobject_to(QDict, qlist_entry_obj(e));
        const char *rel = kd ? qdict_get_try_str(kd, "path") : NULL;
        const char *orig = kd ? qdict_get_try_str(kd, "original") : NULL;
        const char *written = kd ? qdict_get_try_str(kd, "written") : NULL;
        Knob *k;

        if (!rel || !orig || !written || !valid_rel(rel) ||
            a->knobs->len >= STATE_MAX_KNOBS) {
            error_setg(errp, "'%s' holds an invalid knob", a->state_file);
            return false;
        }
        k = knob_new(rel, orig, written);
        add_change(k, NO_CLIENT, orig);
        g_ptr_array_add(a->knobs, k);
    }
    helper_log("state file: %u knobs changed by a previous run, to be "
               "restored at the next clean stop", a->knobs->len);
    return true;
}

Arbiter *arbiter_new(const char *root, const char *state_file,
                     Error **errp)
{
    Arbiter *a = g_new0(Arbiter, 1);

    a->root = g_strdup(root);
    a->state_file = g_strdup(state_file);
    a->knobs = g_ptr_array_new_with_free_func((GDestroyNotify)knob_free);
    if (state_file && !load_state(a, errp)) {
        arbiter_free(a);
        return NULL;
    }
    return a;
}

void arbiter_free(Arbiter *a)
{
    if (a) {
        g_ptr_array_free(a->knobs, true);
        g_free(a->root);
        g_free(a->state_file);
        g_free(a);
    }
}

unsigned arbiter_knobs(Arbiter *a)
{
    return a->knobs->len;
}

static Knob *find_knob(Arbiter *a, const char *rel)
{
    for (guint i = 0; i < a->knobs->len; i++) {
        Knob *k = g_ptr_array_index(a->knobs, i);

        if (!strcmp(k->rel, rel)) {
            return k;
        }
    }
    return NULL;
}

typedef struct RecordCtx {
    Arbiter *a;
    const Peer *peer;
} RecordCtx;

static void record_one(const char *path, const char *old, void *opaque)
{
    RecordCtx *ctx = opaque;
    Arbiter *a = ctx->a;
    size_t len = strlen(a->root);
    g_autofree char *who = peer_describe(ctx->peer);
    g_autofree char *now = NULL, *q_old = NULL, *q_now = NULL;
    const char *rel;
    Knob *k;

    if (strncmp(path, a->root, len) || path[len] != '/') {
        return;                 /* cannot happen: every path is built so */
    }
    rel = path + len + 1;
    if (host_sysfs_read_str(path, &now, NULL) < 0) {
        now = g_strdup(old);    /* unreadable: assume unchanged */
    }
    q_old = quote(old);
    q_now = quote(now);
    k = find_knob(a, rel);
    if (!k) {
        if (!strcmp(old, now)) {
            return;             /* the write failed or changed nothing */
        }
        k = knob_new(rel, old, now);
        g_ptr_array_add(a->knobs, k);
    } else if (strcmp(old, k->written)) {
        g_autofree char *q_written = quote(k->written);

        helper_log("%s was '%s', not '%s' as the helper wrote last: "
                   "changed behind its back", rel, q_old, q_written);
    }
    helper_log("%s set %s from '%s' to '%s'", who, rel, q_old, q_now);
    g_free(k->written);
    k->written = g_strdup(now);
    if (!k->changes->len ||
        g_array_index(k->changes, Change, k->changes->len - 1).client !=
        ctx->peer->id) {
        add_change(k, ctx->peer->id, old);
    }
}

void arbiter_record(Arbiter *a, const Peer *peer, HostSysfsUndo *undo)
{
    RecordCtx ctx = { .a = a, .peer = peer };

    host_sysfs_undo_foreach(undo, record_one, &ctx);
    save_or_log(a);
}

/*
 * Write @value back to @k unless the knob is no longer what we wrote.
 * Returns false if it could not be written (the record stays).
 */
static bool put_back(Arbiter *a, Knob *k, const char *value,
                     const char *why)
{
    g_autofree char *path = full_path(a, k);
    g_autofree char *cur = NULL, *q_cur = NULL, *q_value = NULL;
    Error *err = NULL;

    q_value = quote(value);
    if (host_sysfs_read_str(path, &cur, &err) < 0) {
        helper_log("%s: not restored: %s", k->rel, error_get_pretty(err));
        error_free(err);
        return false;
    }
    q_cur = quote(cur);
    if (strcmp(cur, k->written)) {
        g_autofree char *q_written = quote(k->written);

        helper_log("%s: is '%s', not '%s' as the helper wrote: changed by "
                   "someone else, left alone (%s)", k->rel, q_cur,
                   q_written, why);
        return true;
    }
    if (!strcmp(cur, value)) {
        return true;
    }
    if (host_sysfs_write_str(path, value, &err) < 0) {
        helper_log("%s: could not restore '%s': %s", k->rel, q_value,
                   error_get_pretty(err));
        error_free(err);
        return false;
    }
    g_free(k->written);
    if (host_sysfs_read_str(path, &k->written, NULL) < 0) {
        k->written = g_strdup(value);
    }
    helper_log("%s restored from '%s' to '%s' (%s)", k->rel, q_cur, q_value,
               why);
    return true;
}

void arbiter_release(Arbiter *a, const Peer *peer)
{
    g_autofree char *who = peer_describe(peer);
    bool changed = false;

    for (guint i = a->knobs->len; i-- > 0;) {
        Knob *k = g_ptr_array_index(a->knobs, i);

        for (guint j = k->changes->len; j-- > 0;) {
            Change *c = &g_array_index(k->changes, Change, j);

            if (c->client != peer->id) {
                continue;
            }
            changed = true;
            if (peer->keep) {
                c->client = NO_CLIENT;      /* back at the clean stop */
                continue;
            }
            if (j + 1 < k->changes->len) {
                /* a later change stays; it now undoes to our before */
                Change *next = &g_array_index(k->changes, Change, j + 1);

                g_free(next->before);
                next->before = g_strdup(c->before);
            } else if (!put_back(a, k, c->before, who)) {
                c->client = NO_CLIENT;      /* tried again at the stop */
                continue;
            }
            g_array_remove_index(k->changes, j);
        }
        if (!k->changes->len) {
            g_ptr_array_remove_index(a->knobs, i);
        }
    }
    if (changed) {
        helper_log("%s left; its changes are %s", who,
                   peer->keep ? "kept" : "undone where still its own");
        save_or_log(a);
    }
}

void arbiter_restore_all(Arbiter *a)
{
    /* latest first: a minimum goes back after the maximum above it */
    g_autoptr(GPtrArray) retry = g_ptr_array_new();

    for (guint i = a->knobs->len; i-- > 0;) {
        Knob *k = g_ptr_array_index(a->knobs, i);

        if (!put_back(a, k, k->original, "clean stop")) {
            g_ptr_array_add(retry, k);
        }
    }
    for (guint i = 0; i < retry->len; i++) {
        Knob *k = g_ptr_array_index(retry, i);

        if (!put_back(a, k, k->original, "clean stop, second try")) {
            helper_log("%s: original '%s' not restored; it stays in the "
                       "state file", k->rel, k->original);
            continue;
        }
        g_ptr_array_remove_index(retry, i);
        i--;
    }
    /* what is left could not be restored and stays recorded */
    for (guint i = a->knobs->len; i-- > 0;) {
        Knob *k = g_ptr_array_index(a->knobs, i);

        if (!g_ptr_array_find(retry, k, NULL)) {
            g_ptr_array_remove_index(a->knobs, i);
        }
    }
    save_or_log(a);
}

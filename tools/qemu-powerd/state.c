/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: the state file, one "who<TAB>uuid<TAB>zone<TAB>joules"
 * line per VM (or "host") and zone.
 */

#include "qemu/osdep.h"
#include <math.h>
#include "qapi/error.h"
#include "state.h"

char *state_key(const char *who, const char *uuid, const char *zone)
{
    return g_strdup_printf("%s\t%s\t%s", who, uuid, zone);
}

PowerdState *state_load(const char *path, Error **errp)
{
    PowerdState *st = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                            g_free);
    g_autofree char *text = NULL;
    g_autoptr(GError) gerr = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        if (g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            return st;
        }
        error_setg(errp, "Could not read state file '%s': %s", path,
                   gerr->message);
        g_hash_table_destroy(st);
        return NULL;
    }
    lines = g_strsplit(text, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], "\t", -1);
        double *j;
        char *end;

        if (!*lines[i]) {
            continue;
        }
        if (g_strv_length(f) != 4) {
            error_setg(errp, "State file '%s' line %d is malformed", path,
                       i + 1);
            g_hash_table_destroy(st);
            return NULL;
        }
        j = g_new(double, 1);
        *j = g_ascii_strtod(f[3], &end);
        if (end == f[3] || *end || !isfinite(*j) || *j < 0) {
            error_setg(errp, "State file '%s' line %d has a bad energy",
                       path, i + 1);
            g_free(j);
            g_hash_table_destroy(st);
            return NULL;
        }
        g_hash_table_insert(st, state_key(f[0], f[1], f[2]), j);
    }
    return st;
}

bool state_save(const char *path, PowerdState *state, Error **errp)
{
    g_autofree char *tmp = g_strdup_printf("%s.tmp", path);
    GString *text = g_string_new("");
    GHashTableIter it;
    gpointer key, value;
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    int fd;
    bool ok;

    g_hash_table_iter_init(&it, state);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        g_string_append_printf(text, "%s\t%s\n", (char *)key,
                               g_ascii_formatd(buf, sizeof(buf), "%.17g",
                                               *(double *)value));
    }
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

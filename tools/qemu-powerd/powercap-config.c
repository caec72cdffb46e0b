/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd --power-cap and --power-cap-config: the cap, and the
 * priorities and floors of VMs (docs/power-cap.rst).
 */

#include "qemu/osdep.h"
#include <math.h>
#include "qapi/error.h"
#include "powercap.h"

void power_cap_config_init(PowerCapConfig *c)
{
    *c = (PowerCapConfig) {
        .release = POWER_CAP_RELEASE,
        .hold_s = POWER_CAP_HOLD_S,
        .vm_default = { .priority = 0, .floor = POWER_CAP_FLOOR },
        .vms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                     g_free),
    };
}

static bool parse_watts(const char *s, double *w)
{
    char *end;

    errno = 0;
    *w = g_ascii_strtod(s, &end);
    return !errno && end != s && !*end && isfinite(*w) && *w > 0 &&
        *w <= 1e6;
}

bool power_cap_parse(PowerCapConfig *c, const char *arg, Error **errp)
{
    const char *eq = strrchr(arg, '=');
    double w;

    if (c->cap_watts) {
        error_setg(errp, "--power-cap: given twice (one cap per qemu-powerd)");
        return false;
    }
    if (eq == arg || !parse_watts(eq ? eq + 1 : arg, &w)) {
        error_setg(errp, "--power-cap: '%s' is not [ZONE=]WATTS with WATTS "
                   "a number above 0 and at most 1000000", arg);
        return false;
    }
    c->zone = eq ? g_strndup(arg, eq - arg) : NULL;
    c->cap_watts = w;
    return true;
}

/* A number of seconds, with s, m or h after it. */
static bool parse_seconds(const char *s, double *v)
{
    char *end;
    double mul = 1;

    errno = 0;
    *v = g_ascii_strtod(s, &end);
    if (errno || end == s || !isfinite(*v) || *v < 0) {
        return false;
    }
    if (*end) {
        if (end[1]) {
            return false;
        }
        switch (*end) {
        case 's':
            break;
        case 'm':
            mul = 60;
            break;
        case 'h':
            mul = 3600;
            break;
        default:
            return false;
        }
    }
    *v *= mul;
    return *v <= 86400;
}

/* A key's value as a number in [@min, @max]. */
static bool get_number(GKeyFile *kf, const char *group, const char *key,
                       double min, double max, double *v, Error **errp)
{
    g_autofree char *s = g_key_file_get_value(kf, group, key, NULL);
    char *end;

    errno = 0;
    *v = s ? g_ascii_strtod(s, &end) : NAN;
    if (!s || errno || end == s || *end || !(*v >= min && *v <= max)) {
        error_setg(errp, "[%s] %s: '%s' is not a number from %g to %g",
                   group, key, s ? s : "", min, max);
        return false;
    }
    return true;
}

static bool get_priority(GKeyFile *kf, const char *group, int *v,
                         Error **errp)
{
    double d;

    if (!get_number(kf, group, "priority", -1000, 1000, &d, errp)) {
        return false;
    }
    if (d != floor(d)) {
        error_setg(errp, "[%s] priority: %g is not a whole number", group, d);
        return false;
    }
    *v = d;
    return true;
}

/* The keys of @group, each one of @known. */
static bool known_keys(GKeyFile *kf, const char *group,
                       const char *const *known, Error **errp)
{
    g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);

    for (char **k = keys; k && *k; k++) {
        if (!g_strv_contains(known, *k)) {
            error_setg(errp, "[%s]: unknown key '%s'", group, *k);
            return false;
        }
    }
    return true;
}

static bool vm_conf(GKeyFile *kf, const char *group, PowerCapVmConf *v,
                    Error **errp)
{
    return (!g_key_file_has_key(kf, group, "priority", NULL) ||
            get_priority(kf, group, &v->priority, errp)) &&
        (!g_key_file_has_key(kf, group, "floor", NULL) ||
         get_number(kf, group, "floor", 0, 1, &v->floor, errp));
}

bool power_cap_load(PowerCapConfig *c, const char *path, Error **errp)
{
    static const char *const cap_keys[] = {
        "release", "hold", "floor", "priority", NULL
    };
    static const char *const vm_keys[] = { "floor", "priority", NULL };
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) gerr = NULL;
    g_autoptr(GHashTable) vms = g_hash_table_new_full(g_str_hash,
                                                      g_str_equal, g_free,
                                                      g_free);
    g_auto(GStrv) groups = NULL;
    PowerCapConfig n = *c;

    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &gerr)) {
        error_setg(errp, "%s", gerr->message);
        goto fail;
    }
    groups = g_key_file_get_groups(kf, NULL);
    /* the defaults first: a [vm NAME] starts from them */
    if (g_key_file_has_group(kf, "power-cap")) {
        g_autofree char *hold = g_key_file_get_value(kf, "power-cap", "hold",
                                                     NULL);

        if (!known_keys(kf, "power-cap", cap_keys, errp) ||
            (g_key_file_has_key(kf, "power-cap", "release", NULL) &&
             !get_number(kf, "power-cap", "release", 0.5, 0.99, &n.release,
                         errp)) ||
            !vm_conf(kf, "power-cap", &n.vm_default, errp)) {
            goto fail;
        }
        if (hold && !parse_seconds(hold, &n.hold_s)) {
            error_setg(errp, "[power-cap] hold: '%s' is not a duration (a "
                       "number of seconds up to a day, s, m or h after it)",
                       hold);
            goto fail;
        }
    }
    for (char **g = groups; *g; g++) {
        PowerCapVmConf *v;

        if (!strcmp(*g, "power-cap")) {
            continue;
        }
        if (!g_str_has_prefix(*g, "vm ") || !(*g)[3]) {
            error_setg(errp, "[%s]: unknown group (not [power-cap] or "
                       "[vm NAME])", *g);
            goto fail;
        }
        v = g_new(PowerCapVmConf, 1);
        *v = n.vm_default;
        g_hash_table_insert(vms, g_strdup(*g + 3), v);
        if (!known_keys(kf, *g, vm_keys, errp) || !vm_conf(kf, *g, v, errp)) {
            goto fail;
        }
    }
    g_hash_table_remove_all(c->vms);
    {
        GHashTableIter it;
        gpointer k, v;

        g_hash_table_iter_init(&it, vms);
        while (g_hash_table_iter_next(&it, &k, &v)) {
            g_hash_table_iter_steal(&it);
            g_hash_table_insert(c->vms, k, v);
        }
    }
    n.vms = c->vms;
    *c = n;
    return true;

fail:
    error_prepend(errp, "--power-cap-config '%s': ", path);
    return false;
}

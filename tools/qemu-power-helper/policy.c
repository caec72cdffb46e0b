/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-power-helper: show and change host power policy (cpufreq,
 * intel_pstate and RAPL power limits).  Every request is validated in
 * full before the first write, and what the host applied is read back
 * and reported.  Who may ask is decided by the caller (proto.c).
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/host-cpufreq.h"
#include "qemu/host-rapl.h"
#include "policy.h"

static HostCpufreqInfo *cpufreq_info(const HostCpufreq *f)
{
    HostCpufreqInfo *info = g_new0(HostCpufreqInfo, 1);
    strList **gov_tail = &info->available_governors;
    uint64List **freq_tail = &info->available_frequencies_khz;

    info->cpu = f->cpu;
    info->driver = g_strdup(f->driver);
    info->governor = g_strdup(f->governor);
    for (int i = 0; f->governors[i]; i++) {
        QAPI_LIST_APPEND(gov_tail, g_strdup(f->governors[i]));
    }
    info->min_khz = f->min_khz;
    info->max_khz = f->max_khz;
    info->cpuinfo_min_khz = f->cpuinfo_min_khz;
    info->cpuinfo_max_khz = f->cpuinfo_max_khz;
    info->has_cur_khz = f->has_cur;
    info->cur_khz = f->cur_khz;
    info->has_frequency_khz = f->has_setspeed;
    info->frequency_khz = f->setspeed_khz;
    info->has_available_frequencies_khz = f->frequencies != NULL;
    for (guint i = 0; f->frequencies && i < f->frequencies->len; i++) {
        QAPI_LIST_APPEND(freq_tail,
                         g_array_index(f->frequencies, uint64_t, i));
    }
    return info;
}

static HostPstateInfo *pstate_info(const HostPstate *p)
{
    HostPstateInfo *info = g_new0(HostPstateInfo, 1);

    info->status = g_strdup(p->status);
    info->max_perf_pct = p->max_perf_pct;
    info->min_perf_pct = p->min_perf_pct;
    info->has_no_turbo = p->has_no_turbo;
    info->no_turbo = p->no_turbo;
    return info;
}

static HostPowerZonePolicy *zone_policy(HostRaplZone *z, Error **errp)
{
    g_autoptr(GPtrArray) constraints = NULL;
    g_autofree char *enabled_path = g_strdup_printf("%s/enabled", z->dir);
    HostPowerZonePolicy *zp;
    HostPowerConstraintList **tail;
    uint64_t enabled;

    if (!host_rapl_constraints(z, &constraints, errp)) {
        return NULL;
    }
    zp = g_new0(HostPowerZonePolicy, 1);
    zp->zone = g_strdup(z->name);
    zp->has_package = z->package >= 0;
    zp->package = z->package;
    if (host_sysfs_read_opt_u64(enabled_path, &zp->has_enabled, &enabled,
                                errp) < 0) {
        qapi_free_HostPowerZonePolicy(zp);
        return NULL;
    }
    zp->enabled = zp->has_enabled && enabled != 0;
    tail = &zp->constraints;
    for (guint i = 0; i < constraints->len; i++) {
        HostRaplConstraint *c = g_ptr_array_index(constraints, i);
        HostPowerConstraint *pc = g_new0(HostPowerConstraint, 1);

        pc->name = g_strdup(c->name);
        pc->power_limit_uw = c->power_limit_uw;
        pc->has_time_window_us = c->has_time_window;
        pc->time_window_us = c->time_window_us;
        pc->has_max_power_uw = c->has_max_power;
        pc->max_power_uw = c->max_power_uw;
        QAPI_LIST_APPEND(tail, pc);
    }
    return zp;
}

HostPowerPolicy *policy_query(const char *root, bool allowed,
                              Error **errp)
{
    g_autoptr(HostPowerPolicy) policy = g_new0(HostPowerPolicy, 1);
    HostCpufreqInfoList **cpu_tail = &policy->cpus;
    HostPowerZonePolicyList **zone_tail = &policy->zones;
    g_autoptr(GArray) cpus = NULL;
    g_autoptr(GPtrArray) zones = NULL;
    g_autoptr(HostPstate) pstate = NULL;
    Error *err = NULL;

    policy->allowed = allowed;

    /* what the host lacks is reported absent, with the reason */
    if (!host_sysfs_online_cpus(root, &cpus, &err)) {
        policy->cpufreq_unavailable = g_strdup(error_get_pretty(err));
        g_clear_pointer(&err, error_free);
    }
    for (guint i = 0; cpus && i < cpus->len; i++) {
        g_autoptr(HostCpufreq) f = NULL;
        int ret = host_cpufreq_read(root, g_array_index(cpus, unsigned, i),
                                    &f, &err);

        if (ret == -ENOENT) {
            if (!policy->cpus && !policy->cpufreq_unavailable) {
                policy->cpufreq_unavailable = g_strdup(error_get_pretty(err));
            }
            g_clear_pointer(&err, error_free);
            continue;
        }
        if (ret < 0) {
            error_propagate(errp, err);
            return NULL;
        }
        QAPI_LIST_APPEND(cpu_tail, cpufreq_info(f));
    }
    if (policy->cpus) {
        g_clear_pointer(&policy->cpufreq_unavailable, g_free);
    }

    if (host_pstate_read(root, &pstate, &err) == 0) {
        policy->pstate = pstate_info(pstate);
    } else {
        policy->pstate_unavailable = g_strdup(error_get_pretty(err));
        g_clear_pointer(&err, error_free);
    }

    if (!host_rapl_zones(root, &zones, errp)) {
        return NULL;
    }
    for (guint i = 0; i < zones->len; i++) {
        HostPowerZonePolicy *zp = zone_policy(g_ptr_array_index(zones, i),
                                              errp);

        if (!zp) {
            return NULL;
        }
        QAPI_LIST_APPEND(zone_tail, zp);
    }
    if (!zones->len) {
        policy->zones_unavailable = g_strdup("no RAPL zone under "
                                             "class/powercap");
    }
    return g_steal_pointer(&policy);
}

/* "0-2,5" for an error message. */
static char *cpu_ranges(GArray *cpus)
{
    GString *s = g_string_new("");

    for (guint i = 0; i < cpus->len; i++) {
        unsigned first = g_array_index(cpus, unsigned, i), last = first;

        while (i + 1 < cpus->len &&
               g_array_index(cpus, unsigned, i + 1) == last + 1) {
            last = g_array_index(cpus, unsigned, ++i);
        }
        g_string_append_printf(s, "%s%u", s->len ? "," : "", first);
        if (last != first) {
            g_string_append_printf(s, "-%u", last);
        }
    }
    return g_string_free(s, false);
}

HostCpufreqInfoList *policy_set_cpufreq(const char *root,
                                        q_obj_set_host_cpufreq_arg *arg,
                                        HostSysfsUndo *undo, Error **errp)
{
    HostCpufreqRequest req = {
        .governor = arg->governor,
        .has_frequency = arg->has_frequency_khz,
        .frequency_khz = arg->frequency_khz,
        .has_min = arg->has_min_khz, .min_khz = arg->min_khz,
        .has_max = arg->has_max_khz, .max_khz = arg->max_khz,
    };
    g_autoptr(GArray) online = NULL;
    g_autoptr(GArray) targets = g_array_new(false, false, sizeof(unsigned));
    g_autoptr(GArray) changed = g_array_new(false, false, sizeof(unsigned));
    g_autoptr(GPtrArray) states =
        g_ptr_array_new_with_free_func((GDestroyNotify)host_cpufreq_free);
    HostCpufreqInfoList *result = NULL, **tail = &result;
    uint32List *c;

    if (!host_sysfs_online_cpus(root, &online, errp)) {
        return NULL;
    }
    if (!arg->has_cpus) {
        g_array_append_vals(targets, online->data, online->len);
    }
    for (c = arg->cpus; c; c = c->next) {
        bool found = false;

        for (guint i = 0; i < online->len; i++) {
            found |= g_array_index(online, unsigned, i) == c->value;
        }
        if (!found) {
            error_setg(errp, "Host CPU %" PRIu32 " is not online", c->value);
            return NULL;
        }
        for (guint i = 0; i < targets->len; i++) {
            if (g_array_index(targets, unsigned, i) == c->value) {
                error_setg(errp, "Host CPU %" PRIu32 " is listed twice",
                           c->value);
                return NULL;
            }
        }
        g_array_append_val(targets, c->value);
    }
    if (!targets->len) {
        error_setg(errp, "No host CPU to change");
        return NULL;
    }

    /* validate every CPU before the first write */
    for (guint i = 0; i < targets->len; i++) {
        HostCpufreq *f = NULL;

        if (host_cpufreq_read(root, g_array_index(targets, unsigned, i), &f,
                              errp) < 0) {
            return NULL;
        }
        g_ptr_array_add(states, f);
        if (!host_cpufreq_validate(f, &req, errp)) {
            return NULL;
        }
    }

    for (guint i = 0; i < states->len; i++) {
        HostCpufreq *f = g_ptr_array_index(states, i);
        g_autoptr(HostCpufreq) now = NULL;

        if (!host_cpufreq_apply(root, f, &req, undo, errp) ||
            host_cpufreq_read(root, f->cpu, &now, errp) < 0) {
            if (changed->len) {
                g_autofree char *list = cpu_ranges(changed);

                error_prepend(errp, "Host CPUs %s were changed, then CPU "
                              "%u failed: ", list, f->cpu);
            } else {
                error_prepend(errp, "Nothing was changed: ");
            }
            qapi_free_HostCpufreqInfoList(result);
            return NULL;
        }
        g_array_append_val(changed, f->cpu);
        QAPI_LIST_APPEND(tail, cpufreq_info(now));
    }
    return result;
}

HostPstateInfo *policy_set_pstate(const char *root,
                                  q_obj_set_host_pstate_arg *arg,
                                  HostSysfsUndo *undo, Error **errp)
{
    g_autoptr(HostPstate) cur = NULL;
    g_autoptr(HostPstate) now = NULL;

    if (host_pstate_read(root, &cur, errp) < 0 ||
        !host_pstate_validate(cur, arg->has_max_perf_pct, arg->max_perf_pct,
                              arg->has_min_perf_pct, arg->min_perf_pct,
                              errp) ||
        !host_pstate_apply(root, cur, arg->has_max_perf_pct,
                           arg->max_perf_pct, arg->has_min_perf_pct,
                           arg->min_perf_pct, undo, errp) ||
        host_pstate_read(root, &now, errp) < 0) {
        return NULL;
    }
    return pstate_info(now);
}

/*
 * Write one setting of zone @z: constraint @c's @what, or the zone's own
 * @what when @c is NULL.  @done lists what was written before, for the
 * error message.
 */
static bool write_zone(HostSysfsUndo *undo, HostRaplZone *z,
                       HostRaplConstraint *c, const char *what,
                       uint64_t value, GString *done, Error **errp)
{
    g_autofree char *path = c ?
        g_strdup_printf("%s/constraint_%u_%s", z->dir, c->index, what) :
        g_strdup_printf("%s/%s", z->dir, what);
    char buf[24];

    snprintf(buf, sizeof(buf), "%" PRIu64, value);
    if (host_sysfs_write_logged(undo, path, buf, NULL, errp) < 0) {
        error_prepend(errp, "Zone '%s': %s%s: ", z->name,
                      done->len ? "changed " : "nothing was changed",
                      done->str);
        return false;
    }
    g_string_append_printf(done, "%s%s", done->len ? ", " : "", what);
    return true;
}

HostPowerZonePolicy *policy_set_power_limit(const char *root,
                                            q_obj_set_host_power_limit_arg *a,
                                            HostSysfsUndo *undo,
                                            Error **errp)
{
    const char *zone = a->zone, *constraint = a->constraint;
    bool has_power_limit_uw = a->has_power_limit_uw;
    uint64_t power_limit_uw = a->power_limit_uw;
    bool has_time_window_us = a->has_time_window_us;
    uint64_t time_window_us = a->time_window_us;
    bool has_enabled = a->has_enabled, enabled = a->enabled;
    g_autoptr(GPtrArray) zones = NULL;
    g_autoptr(GPtrArray) constraints = NULL;
    g_autoptr(GString) done = g_string_new("");
    HostRaplConstraint *c = NULL;
    HostRaplZone *z;

    if (!host_rapl_zones(root, &zones, errp)) {
        return NULL;
    }
    /* names are matched exactly; only the host's own paths are used */
    z = host_rapl_find_zone(zones, zone);
    if (!z) {
        error_setg(errp, "The host has no RAPL zone called '%s'", zone);
        return NULL;
    }
    if (!has_power_limit_uw && !has_time_window_us && !has_enabled) {
        error_setg(errp, "Nothing to change");
        return NULL;
    }
    if ((has_power_limit_uw || has_time_window_us) && !constraint) {
        error_setg(errp, "A limit or time window needs a constraint");
        return NULL;
    }
    if (constraint) {
        if (!host_rapl_constraints(z, &constraints, errp)) {
            return NULL;
        }
        for (guint i = 0; i < constraints->len; i++) {
            HostRaplConstraint *ci = g_ptr_array_index(constraints, i);

            if (!strcmp(ci->name, constraint)) {
                c = ci;
            }
        }
        if (!c) {
            error_setg(errp, "Zone '%s' has no constraint called '%s'",
                       z->name, constraint);
            return NULL;
        }
    }
    if (has_power_limit_uw &&
        (power_limit_uw == 0 ||
         (c->has_max_power && power_limit_uw > c->max_power_uw))) {
        error_setg(errp, "Power limit %" PRIu64 " uW of zone '%s' must be "
                   "above 0%s", power_limit_uw, z->name,
                   c->has_max_power ? " and at most its maximum power" : "");
        return NULL;
    }
    if (has_time_window_us && (!c->has_time_window || time_window_us == 0)) {
        error_setg(errp, "Constraint '%s' of zone '%s' %s", c->name, z->name,
                   c->has_time_window ? "needs a time window above 0" :
                   "has no time window");
        return NULL;
    }
    if (has_time_window_us &&
        !write_zone(undo, z, c, "time_window_us", time_window_us, done,
                    errp)) {
        return NULL;
    }
    if (has_power_limit_uw &&
        !write_zone(undo, z, c, "power_limit_uw", power_limit_uw, done,
                    errp)) {
        return NULL;
    }
    if (has_enabled && !write_zone(undo, z, NULL, "enabled", enabled, done,
                                   errp)) {
        return NULL;
    }
    return zone_policy(z, errp);
}

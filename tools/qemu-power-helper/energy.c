/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-power-helper: RAPL energy on the helper's own timer.  The
 * counters are found once with util/host-rapl.c (the code QEMU used),
 * and read at a period chosen from each zone's range and maximum power,
 * so that the totals stay right however rarely clients ask.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "energy.h"

struct HelperEnergy {
    HostEnergy *he;             /* NULL: none, see @why */
    char *why;
    char *sysfs_root;
    HostEnergySource source;
    int64_t period_us;
    int64_t next_us;
    int64_t retry_us;           /* without counters: when to look again */
    bool failing;               /* the last reading failed (logged once) */
};

/* Without counters, look again this often (access can come later). */
#define RETRY_US (10 * G_USEC_PER_SEC)

int64_t helper_energy_period_us(uint64_t max_range_uj, uint64_t max_power_uw)
{
    double wrap_us;

    if (!max_power_uw) {
        max_power_uw = HELPER_DEFAULT_MAX_POWER_UW;
    }
    /* uJ / uW = s; a quarter of it leaves room for a late timer */
    wrap_us = (double)max_range_uj / max_power_uw * G_USEC_PER_SEC;
    return MAX(1000, MIN(HELPER_MAX_PERIOD_US, (int64_t)(wrap_us / 4)));
}

static void energy_open(HelperEnergy *e)
{
    HostEnergyOptions opts = { .sysfs_root = e->sysfs_root };
    Error *err = NULL;

    g_clear_pointer(&e->why, g_free);
    e->he = host_energy_open(&opts, e->source, &err);
    if (!e->he) {
        e->why = g_strdup(error_get_pretty(err));
        error_free(err);
        e->retry_us = g_get_monotonic_time() + RETRY_US;
        return;
    }
    e->period_us = HELPER_MAX_PERIOD_US;
    for (guint i = 0; i < e->he->zones->len; i++) {
        HostEnergyZone *z = g_ptr_array_index(e->he->zones, i);

        e->period_us = MIN(e->period_us,
                           helper_energy_period_us(z->max_range_uj,
                                                   z->max_power_uw));
    }
    helper_log("energy: %u zones from %s, read every %" PRId64 " ms",
               e->he->zones->len, host_energy_source_name(e->he->source),
               e->period_us / 1000);
    helper_energy_tick(e, g_get_monotonic_time());
}

HelperEnergy *helper_energy_new(const char *sysfs_root,
                                HostEnergySource source)
{
    HelperEnergy *e = g_new0(HelperEnergy, 1);

    e->sysfs_root = g_strdup(sysfs_root);
    e->source = source;
    energy_open(e);
    if (!e->he) {
        helper_log("energy: not available: %s", e->why);
    }
    return e;
}

void helper_energy_free(HelperEnergy *e)
{
    if (e) {
        host_energy_free(e->he);
        g_free(e->why);
        g_free(e->sysfs_root);
        g_free(e);
    }
}

int64_t helper_energy_deadline(HelperEnergy *e)
{
    return e->he ? e->next_us : -1;
}

/* Read every zone; false (with the reason) if one failed. */
static bool read_all(HelperEnergy *e, Error **errp)
{
    bool ok = true;

    for (guint i = 0; i < e->he->zones->len; i++) {
        Error *err = NULL;

        if (!host_energy_zone_update(g_ptr_array_index(e->he->zones, i),
                                     &err)) {
            if (ok) {
                error_propagate(errp, err);
            } else {
                error_free(err);
            }
            ok = false;
        }
    }
    if (!ok && !e->failing) {
        helper_log("energy: a reading failed: %s",
                   error_get_pretty(errp ? *errp : NULL));
    }
    e->failing = !ok;
    return ok;
}

void helper_energy_tick(HelperEnergy *e, int64_t now_us)
{
    Error *err = NULL;

    if (!e->he || now_us < e->next_us) {
        return;
    }
    read_all(e, &err);
    error_free(err);
    /* from now, not from the deadline: a late tick does not bunch up */
    e->next_us = now_us + e->period_us;
}

static PowerEnergySource qapi_source(HostEnergySource s)
{
    switch (s) {
    case HOST_ENERGY_PERF:
        return POWER_ENERGY_SOURCE_PERF;
    case HOST_ENERGY_POWERCAP:
        return POWER_ENERGY_SOURCE_POWERCAP;
    case HOST_ENERGY_MSR:
        return POWER_ENERGY_SOURCE_MSR;
    default:
        g_assert_not_reached();
    }
}

PowerHostEnergy *helper_energy_snapshot(HelperEnergy *e)
{
    PowerHostEnergy *out = g_new0(PowerHostEnergy, 1);
    PowerEnergyZoneList **tail = &out->zones;
    Error *err = NULL;

    if (!e->he && g_get_monotonic_time() >= e->retry_us) {
        energy_open(e);
    }
    if (!e->he) {
        out->reason = g_strdup(e->why);
        return out;
    }
    if (!read_all(e, &err)) {
        /* one consistent snapshot: all zones or none */
        out->reason = g_strdup(error_get_pretty(err));
        error_free(err);
        return out;
    }
    for (guint i = 0; i < e->he->zones->len; i++) {
        HostEnergyZone *z = g_ptr_array_index(e->he->zones, i);
        PowerEnergyZone *pz = g_new0(PowerEnergyZone, 1);

        pz->name = g_strdup(z->name);
        pz->has_package = z->package >= 0;
        pz->package = z->package;
        pz->energy_uj = z->energy_uj;
        pz->raw_uj = z->raw_uj;
        pz->max_range_uj = z->max_range_uj;
        pz->source = qapi_source(z->source);
        /* g_get_monotonic_time() is CLOCK_MONOTONIC, in microseconds */
        pz->timestamp_ns = (uint64_t)z->read_us * 1000;
        QAPI_LIST_APPEND(tail, pz);
    }
    out->available = true;
    return out;
}

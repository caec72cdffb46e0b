/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The host's RAPL energy counters as query-power reports them: found
 * once, then read at each query with counter wraps folded in.  Until
 * they are found, they are looked for again at most once a second: the
 * hardware does not come and go, but access to it can (permissions,
 * udev rules, a module loaded late).
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/host-rapl.h"
#include "qemu/timer.h"
#include "power-internal.h"

#define RETRY_NS NANOSECONDS_PER_SECOND

static struct {
    bool tried;
    int64_t tried_ns;           /* QEMU_CLOCK_REALTIME of the last look */
    HostEnergy *energy;         /* NULL: none, see @why */
    char *why;
} host;

void power_host_energy_reset(void)
{
    g_clear_pointer(&host.energy, host_energy_free);
    g_clear_pointer(&host.why, g_free);
    host.tried = false;
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

PowerHostEnergy *power_host_energy_snapshot(void)
{
    PowerHostEnergy *out = g_new0(PowerHostEnergy, 1);
    PowerEnergyZoneList **tail = &out->zones;
    Error *err = NULL;

    if (!host.energy && (!host.tried ||
        qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - host.tried_ns >= RETRY_NS)) {
        HostEnergyOptions opts = { .sysfs_root = power_sysfs_root() };

        host.tried = true;
        host.tried_ns = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
        g_clear_pointer(&host.why, g_free);
        host.energy = host_energy_open(&opts, HOST_ENERGY__MAX, &err);
        if (!host.energy) {
            host.why = g_strdup(error_get_pretty(err));
            error_free(err);
        }
    }
    if (!host.energy) {
        out->reason = g_strdup(host.why);
        return out;
    }

    for (guint i = 0; i < host.energy->zones->len; i++) {
        HostEnergyZone *z = g_ptr_array_index(host.energy->zones, i);
        PowerEnergyZone *pz;

        if (!host_energy_zone_update(z, &err)) {
            /* one consistent snapshot: all zones or none */
            qapi_free_PowerEnergyZoneList(out->zones);
            out->zones = NULL;
            out->reason = g_strdup(error_get_pretty(err));
            error_free(err);
            return out;
        }
        pz = g_new0(PowerEnergyZone, 1);
        pz->name = g_strdup(z->name);
        pz->has_package = z->package >= 0;
        pz->package = z->package;
        pz->energy_uj = z->energy_uj;
        pz->raw_uj = z->raw_uj;
        pz->max_range_uj = z->max_range_uj;
        pz->source = qapi_source(z->source);
        QAPI_LIST_APPEND(tail, pz);
    }
    out->available = true;
    return out;
}

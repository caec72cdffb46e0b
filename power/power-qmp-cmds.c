/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QMP commands of the power subsystem.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-power.h"
#include "qemu/timer.h"
#include "power-internal.h"

static uint64_t monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec;
}

PowerInfo *qmp_query_power(Error **errp)
{
    PowerInfo *info = g_new0(PowerInfo, 1);

    info->timestamp_ns = monotonic_ns();
    power_counters_snapshot(info);
    info->host_energy = power_host_energy_snapshot();
    return info;
}

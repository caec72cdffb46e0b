/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QMP commands of the power subsystem.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-power.h"
#include "power-internal.h"

PowerInfo *qmp_query_power(Error **errp)
{
    PowerInfo *info = g_new0(PowerInfo, 1);

    power_counters_snapshot(qapi_PowerInfo_base(info));
    info->host_energy = power_host_energy_snapshot();
    return info;
}

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * HMP commands of the power subsystem.
 */

#include "qemu/osdep.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-power.h"
#include "qobject/qdict.h"

void hmp_info_power(Monitor *mon, const QDict *qdict)
{
    Error *err = NULL;
    g_autoptr(PowerInfo) info = qmp_query_power(&err);
    const char *unit;

    if (hmp_handle_error(mon, err)) {
        return;
    }
    if (!info->has_counter_source) {
        monitor_printf(mon, "counters: unavailable (%s)\n",
                       info->counter_unavailable);
    } else {
        unit = PowerCounterUnit_str(info->counter_unit);
        monitor_printf(mon, "counter source: %s%s\n",
                       PowerCounterSource_str(info->counter_source),
                       info->counter_kernel_excluded ?
                       " (user mode only: perf_event_paranoid)" : "");
        monitor_printf(mon, "instance: %" PRIu64 " %s\n",
                       info->instance_count, unit);
        monitor_printf(mon, "vCPUs:    %" PRIu64 " %s\n",
                       info->vcpu_count, unit);
    }
    for (PowerVcpuList *v = info->vcpus; v; v = v->next) {
        monitor_printf(mon, "  CPU %" PRId64 " thread %" PRId64 "%s: ",
                       v->value->cpu_index, v->value->thread_id,
                       v->value->shared_thread ? " (shared)" : "");
        if (v->value->has_count) {
            monitor_printf(mon, "%" PRIu64 "\n", v->value->count);
        } else {
            monitor_printf(mon, "not counted\n");
        }
    }
    if (!info->host_energy->available) {
        monitor_printf(mon, "host energy: unavailable (%s)\n",
                       info->host_energy->reason);
    }
    for (PowerEnergyZoneList *z = info->host_energy->zones; z; z = z->next) {
        monitor_printf(mon, "  %s: %" PRIu64 " uJ (%s)\n", z->value->name,
                       z->value->energy_uj,
                       PowerEnergySource_str(z->value->source));
    }
}

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
#include "qemu/host-sysfs.h"
#include "qobject/qdict.h"
#include "power-internal.h"

static void hmp_print_sampling(Monitor *mon)
{
    g_autoptr(PowerSampling) st = power_sampling_state();

    if (st->active) {
        monitor_printf(mon, "sampling: every %" PRIu32 " ms, lease %" PRIu32
                       " ms (%" PRIu32 " ms left), host energy %s, %"
                       PRIu64 " samples\n", st->interval_ms, st->lease_ms,
                       st->lease_left_ms, st->host_energy ? "on" : "off",
                       st->samples);
    } else {
        monitor_printf(mon, "sampling: off (%s), %" PRIu64 " samples\n",
                       PowerSamplingStop_str(st->stop_reason), st->samples);
    }
}

void hmp_info_power(Monitor *mon, const QDict *qdict)
{
    Error *err = NULL;
    g_autoptr(PowerInfo) info = qmp_query_power(&err);

    if (hmp_handle_error(mon, err)) {
        return;
    }
    if (!info->has_counter_source) {
        monitor_printf(mon, "counters: unavailable (%s)\n",
                       info->counter_unavailable);
    } else {
        const char *unit =
            info->counter_source == POWER_COUNTER_SOURCE_CYCLES ?
            "cycles" : "nanoseconds";

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
    } else {
        monitor_printf(mon, "host energy:\n");
    }
    for (PowerEnergyZoneList *z = info->host_energy->zones; z; z = z->next) {
        monitor_printf(mon, "  %s: %" PRIu64 " uJ (%s)\n", z->value->name,
                       z->value->energy_uj,
                       PowerEnergySource_str(z->value->source));
    }
    hmp_print_sampling(mon);
}

void hmp_info_host_power_policy(Monitor *mon, const QDict *qdict)
{
    Error *err = NULL;
    g_autoptr(HostPowerPolicy) p = qmp_query_host_power_policy(&err);

    if (hmp_handle_error(mon, err)) {
        return;
    }
    monitor_printf(mon, "policy changes: %s\n",
                   p->allowed ? "allow" : "deny");
    if (p->cpufreq_unavailable) {
        monitor_printf(mon, "cpufreq: unavailable (%s)\n",
                       p->cpufreq_unavailable);
    }
    for (HostCpufreqInfoList *l = p->cpus; l; l = l->next) {
        HostCpufreqInfo *c = l->value;

        monitor_printf(mon, "CPU %" PRIu32 ": %s, governor %s, "
                       "%" PRIu64 "-%" PRIu64 " kHz (hardware %" PRIu64
                       "-%" PRIu64 " kHz)", c->cpu, c->driver, c->governor,
                       c->min_khz, c->max_khz, c->cpuinfo_min_khz,
                       c->cpuinfo_max_khz);
        if (c->has_frequency_khz) {
            monitor_printf(mon, ", fixed at %" PRIu64 " kHz",
                           c->frequency_khz);
        }
        monitor_printf(mon, "\n");
    }
    if (p->pstate) {
        monitor_printf(mon, "intel_pstate: %s, perf %" PRIu64 "-%" PRIu64
                       "%%\n", p->pstate->status, p->pstate->min_perf_pct,
                       p->pstate->max_perf_pct);
    } else {
        monitor_printf(mon, "intel_pstate: unavailable (%s)\n",
                       p->pstate_unavailable);
    }
    if (p->zones_unavailable) {
        monitor_printf(mon, "RAPL limits: unavailable (%s)\n",
                       p->zones_unavailable);
    }
    for (HostPowerZonePolicyList *l = p->zones; l; l = l->next) {
        HostPowerZonePolicy *z = l->value;

        monitor_printf(mon, "zone %s%s\n", z->zone,
                       z->has_enabled && !z->enabled ? " (disabled)" : "");
        for (HostPowerConstraintList *c = z->constraints; c; c = c->next) {
            monitor_printf(mon, "  %s: %" PRIu64 " uW", c->value->name,
                           c->value->power_limit_uw);
            if (c->value->has_time_window_us) {
                monitor_printf(mon, " over %" PRIu64 " us",
                               c->value->time_window_us);
            }
            monitor_printf(mon, "\n");
        }
    }
}

void hmp_set_host_cpufreq(Monitor *mon, const QDict *qdict)
{
    const char *cpus = qdict_get_str(qdict, "cpus");
    const char *setting = qdict_get_str(qdict, "setting");
    const char *value = qdict_get_str(qdict, "value");
    g_autoptr(GArray) list = NULL;
    g_autoptr(uint32List) cpu_list = NULL;
    uint32List **tail = &cpu_list;
    const char *governor = NULL;
    uint64_t khz = 0;
    Error *err = NULL;
    HostCpufreqInfoList *ret;

    if (strcmp(cpus, "all")) {
        if (!host_sysfs_parse_cpulist(cpus, HOST_SYSFS_MAX_CPUS, &list,
                                      &err)) {
            hmp_handle_error(mon, err);
            return;
        }
        for (guint i = 0; i < list->len; i++) {
            QAPI_LIST_APPEND(tail, g_array_index(list, unsigned, i));
        }
    }
    if (!strcmp(setting, "governor")) {
        governor = value;
    } else if (strcmp(setting, "frequency-khz") &&
               strcmp(setting, "min-khz") && strcmp(setting, "max-khz")) {
        monitor_printf(mon, "Unknown setting '%s' (governor, frequency-khz, "
                       "min-khz or max-khz)\n", setting);
        return;
    } else if (!host_sysfs_parse_u64(value, &khz, &err)) {
        hmp_handle_error(mon, err);
        return;
    }
    ret = qmp_set_host_cpufreq(cpu_list != NULL, cpu_list, governor,
                               !strcmp(setting, "frequency-khz"), khz,
                               !strcmp(setting, "min-khz"), khz,
                               !strcmp(setting, "max-khz"), khz, &err);
    if (!hmp_handle_error(mon, err)) {
        monitor_printf(mon, "changed %zu CPUs\n", QAPI_LIST_LENGTH(ret));
    }
    qapi_free_HostCpufreqInfoList(ret);
}

void hmp_set_host_pstate(Monitor *mon, const QDict *qdict)
{
    const char *setting = qdict_get_str(qdict, "setting");
    int64_t value = qdict_get_int(qdict, "value");
    bool max = !strcmp(setting, "max-perf-pct");
    Error *err = NULL;
    g_autoptr(HostPstateInfo) info = NULL;

    if (!max && strcmp(setting, "min-perf-pct")) {
        monitor_printf(mon, "Unknown setting '%s' (max-perf-pct or "
                       "min-perf-pct)\n", setting);
        return;
    }
    if (value < 0) {
        monitor_printf(mon, "Performance limits are percentages (0-100)\n");
        return;
    }
    info = qmp_set_host_pstate(max, value, !max, value, &err);
    if (!hmp_handle_error(mon, err)) {
        monitor_printf(mon, "intel_pstate perf %" PRIu64 "-%" PRIu64 "%%\n",
                       info->min_perf_pct, info->max_perf_pct);
    }
}

void hmp_set_host_power_limit(Monitor *mon, const QDict *qdict)
{
    const char *zone = qdict_get_str(qdict, "zone");
    const char *constraint = qdict_get_str(qdict, "constraint");
    int64_t limit = qdict_get_int(qdict, "power_limit_uw");
    bool has_window = qdict_haskey(qdict, "time_window_us");
    int64_t window = qdict_get_try_int(qdict, "time_window_us", 0);
    Error *err = NULL;
    g_autoptr(HostPowerZonePolicy) zp = NULL;

    if (limit <= 0 || window < 0) {
        monitor_printf(mon, "The limit and time window must be positive\n");
        return;
    }
    zp = qmp_set_host_power_limit(zone, constraint, true, limit, has_window,
                                  window, false, false, &err);
    if (!hmp_handle_error(mon, err)) {
        monitor_printf(mon, "zone %s: %s set to %" PRId64 " uW\n", zp->zone,
                       constraint, limit);
    }
}

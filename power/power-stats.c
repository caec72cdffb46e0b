/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The "power" provider of query-stats: the work counts that query-power
 * reports, read when asked, in the counter source's unit.  Target "vm"
 * has the instance's count and all vCPUs' (unplugged ones included),
 * target "vcpu" each vCPU's.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-types-stats.h"
#include "qemu/module.h"
#include "system/stats.h"
#include "power-internal.h"

static Stats *stat_new(const char *name, uint64_t value)
{
    Stats *s = g_new0(Stats, 1);

    s->name = g_strdup(name);
    s->value = g_new0(StatsValue, 1);
    s->value->type = QTYPE_QNUM;
    s->value->u.scalar = value;
    return s;
}

/* Append @name = @value at *@tail unless @names filters it out. */
static void stat_add(StatsList ***tail, strList *names, const char *name,
                     uint64_t value)
{
    if (apply_str_list_filter(name, names)) {
        QAPI_LIST_APPEND(*tail, stat_new(name, value));
    }
}

static void power_stats(StatsResultList **result, StatsTarget target,
                        strList *names, strList *targets, Error **errp)
{
    g_autoptr(PowerCounts) counts = NULL;
    StatsList *list = NULL, **tail = &list;
    PowerTotals t;

    if (target == STATS_TARGET_VM) {
        /* the totals alone: no per-vCPU list to build */
        if (!power_counters_totals(&t)) {
            return;             /* counters off or unavailable */
        }
        stat_add(&tail, names, "instance-count", t.instance_count);
        stat_add(&tail, names, "vcpu-count", t.vcpu_count);
        if (list) {
            add_stats_entry(result, STATS_PROVIDER_POWER, NULL, list);
        }
        return;
    }
    if (target != STATS_TARGET_VCPU) {
        return;
    }
    counts = g_new0(PowerCounts, 1);
    power_counters_snapshot(counts);
    if (!counts->has_counter_source) {
        return;
    }
    for (PowerVcpuList *v = counts->vcpus; v; v = v->next) {
        if (!v->value->has_count ||
            !apply_str_list_filter(v->value->qom_path, targets)) {
            continue;
        }
        list = NULL;
        tail = &list;
        stat_add(&tail, names, "count", v->value->count);
        if (list) {
            add_stats_entry(result, STATS_PROVIDER_POWER, v->value->qom_path,
                            list);
        }
    }
}

static StatsSchemaValue *schema_new(const char *name, bool cycles)
{
    StatsSchemaValue *v = g_new0(StatsSchemaValue, 1);

    v->name = g_strdup(name);
    v->type = STATS_TYPE_CUMULATIVE;
    v->has_unit = true;
    if (cycles) {
        v->unit = STATS_UNIT_CYCLES;
    } else {
        v->unit = STATS_UNIT_SECONDS;       /* nanoseconds */
        v->has_base = true;
        v->base = 10;
        v->exponent = -9;
    }
    return v;
}

static void power_stats_schemas(StatsSchemaList **result, Error **errp)
{
    StatsSchemaValueList *vm = NULL, **vm_tail = &vm, *vcpu = NULL;
    PowerTotals t;

    if (!power_counters_totals(&t)) {
        return;
    }
    QAPI_LIST_APPEND(vm_tail, schema_new("instance-count", t.cycles));
    QAPI_LIST_APPEND(vm_tail, schema_new("vcpu-count", t.cycles));
    QAPI_LIST_PREPEND(vcpu, schema_new("count", t.cycles));
    add_stats_schema(result, STATS_PROVIDER_POWER, STATS_TARGET_VM, vm);
    add_stats_schema(result, STATS_PROVIDER_POWER, STATS_TARGET_VCPU, vcpu);
}

static void power_stats_register(void)
{
    add_stats_callbacks(STATS_PROVIDER_POWER, power_stats,
                        power_stats_schemas);
}

type_init(power_stats_register)

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: one interval's result, as JSON, a table, CSV or
 * Prometheus text.
 */

#ifndef QEMU_POWERD_REPORT_H
#define QEMU_POWERD_REPORT_H

#include "vm.h"

typedef struct ReportZone {
    const char *name;
    double watts;
    double idle_watts;
    bool idle_estimated;
    /*
     * "given" (--idle-watts), "regression" (from the data), "none-yet"
     * (the data cannot tell yet: no idle power is taken out, every watt
     * is split by work) or "model" (--energy-source estimate)
     */
    const char *idle_method;
    double idle_uncertainty;    /* W, standard error; 0 unless regression */
    double active_watts;
    /* the failed VMs' estimated part: theirs, but not measured */
    double unattributed_watts;
    double other_watts;
    double energy_j;            /* since qemu-powerd started */
    double idle_energy_j;       /* its idle and active parts */
    double active_energy_j;
} ReportZone;

typedef struct Report {
    double time;                /* Unix time */
    double interval_s;
    const char *energy_source;
    const char *host_work;      /* "cgroup" or "proc-stat" */
    bool estimated;
    const char *counter_unit;   /* "nanoseconds", "cycles" or NULL */
    double activity;            /* host work per second */
    /* the measured VMs' work / the host's; NaN if the host did none */
    double vm_work_ratio;
    double poll_s;              /* how long the last poll round took */
    bool libvirt;               /* VMs found through libvirt */
    uint64_t libvirt_lists;     /* times its domains were listed */
    size_t nzones;
    ReportZone *zones;
    GPtrArray *vms;             /* Vm */
    /* with --power-cap: its JSON object and its metrics, else NULL */
    const char *power_cap_json;
    const char *power_cap_metrics;
} Report;

char *report_json(const Report *r);
char *report_table(const Report *r);
char *report_csv(const Report *r, bool header);
char *report_metrics(const Report *r);

/* @s as a Prometheus label value, quoted; any bytes. */
void report_label(GString *out, const char *s);

/* The HELP and TYPE lines of metric @name. */
void report_metric_head(GString *o, const char *name, const char *type,
                        const char *help);


#endif

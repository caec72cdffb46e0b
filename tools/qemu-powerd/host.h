/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: what the host measures itself: energy per zone (RAPL, or
 * a labelled estimate) and the work done by everything that ran.
 */

#ifndef QEMU_POWERD_HOST_H
#define QEMU_POWERD_HOST_H

#include "qemu/host-rapl.h"
#include "qemu/task-counter.h"

typedef struct PowerHelper PowerHelper;

typedef struct HostOptions {
    const char *sysfs_root;
    const char *helper;         /* qemu-power-helper's socket, or NULL */
    int energy_source;          /* HostEnergySource, __MAX: auto, -1: est. */
    double estimate_idle_watts;
    double estimate_max_watts;
} HostOptions;

typedef struct Host {
    HostOptions opts;
    HostEnergy *energy;         /* NULL: estimate, or the helper */
    PowerHelper *helper;        /* the energy from qemu-power-helper */
    size_t nzones;
    char **zone_names;
    long ncpus;
    GArray *cycles;             /* per-CPU TaskCounters, once needed */
    /*
     * Where the host's CPU time comes from: the root cgroup's CPU usage
     * (cgroup v1 cpuacct.usage or v2 cpu.stat under the sysfs root), the
     * scheduler's run time in ns, the clock the VMs count in; else
     * /proc/stat, tick-sampled and with steal in it.
     */
    char *cgroup_usage;         /* the file, or NULL for /proc/stat */
    bool cgroup_v2;
    /* host_energy_check(): the first sample's energy, until it moves */
    double *first_uj;
    int64_t first_us;
    bool energy_moved;
} Host;

/* One measurement of the host. */
typedef struct HostSample {
    int64_t time_us;            /* g_get_monotonic_time() */
    int64_t real_us;            /* g_get_real_time(), at the same moment */
    uint64_t busy_ns;           /* CPU time of everything */
    uint64_t total_ns;          /* all CPUs' time: busy + idle */
    bool has_cycles;
    uint64_t cycles;            /* all CPUs' cycles, when counted */
    double *energy_uj;          /* per zone, wraps folded in (not est.) */
} HostSample;

bool host_open(Host *h, const HostOptions *opts, Error **errp);

/* Is the energy measured (RAPL, directly or through the helper)? */
static inline bool host_measured(const Host *h)
{
    return h->energy || h->helper;
}

const char *host_energy_label(const Host *h);

/* "cgroup" or "proc-stat": where the host's CPU time comes from. */
const char *host_work_label(const Host *h);

/* The root cgroup's CPU usage in ns from the text of @file. */
bool host_parse_cgroup_usage(const char *text, bool v2, uint64_t *ns,
                             Error **errp);

/* Measure now; with @want_cycles also all CPUs' cycles. */
bool host_sample(Host *h, bool want_cycles, HostSample *s, Error **errp);
void host_sample_clear(HostSample *s);

/*
 * A working energy counter never stands still: RAPL updates about every
 * millisecond, and no zone draws 0 W.  One whose every zone has stayed at
 * its first value for this long measures nothing (seen: the perf power
 * PMU of a host that is itself a VM, whose energy-psys reads 0 J).
 */
#define HOST_ENERGY_STALL_S 1

/*
 * After each successful sample @s: false, with @errp set, once no zone's
 * energy has moved from the first sample in @window_us (0: by the second
 * sample); else true (for good once one has moved; always for the
 * estimate).
 */
bool host_energy_check(Host *h, const HostSample *s, int64_t window_us,
                       Error **errp);

/* Parse the aggregate "cpu" line of /proc/stat into busy and total ns. */
bool host_parse_proc_stat(const char *text, uint64_t *busy_ns,
                          uint64_t *total_ns, Error **errp);

#endif

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Host CPU frequency policy: cpufreq per CPU and intel_pstate's global
 * limits, read and changed with strict validation under a configurable
 * sysfs root.  Used by QEMU's host power policy commands.
 */

#ifndef QEMU_HOST_CPUFREQ_H
#define QEMU_HOST_CPUFREQ_H

#include "qemu/host-sysfs.h"

/* One CPU's cpufreq policy as read from sysfs. */
typedef struct HostCpufreq {
    unsigned cpu;
    char *driver;               /* scaling_driver */
    char *governor;             /* scaling_governor */
    char **governors;           /* scaling_available_governors */
    uint64_t min_khz;           /* scaling_min_freq */
    uint64_t max_khz;           /* scaling_max_freq */
    uint64_t cpuinfo_min_khz;
    uint64_t cpuinfo_max_khz;
    bool has_cur;
    uint64_t cur_khz;           /* scaling_cur_freq */
    bool has_setspeed_file;
    bool has_setspeed;          /* only with the userspace governor */
    uint64_t setspeed_khz;
    GArray *frequencies;        /* scaling_available_frequencies or NULL */
} HostCpufreq;

void host_cpufreq_free(HostCpufreq *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HostCpufreq, host_cpufreq_free)

/*
 * Read CPU @cpu's policy.  Returns 0, -ENOENT when the CPU has no cpufreq
 * policy (no driver), or another -errno, with @errp set.
 */
int host_cpufreq_read(const char *root, unsigned cpu, HostCpufreq **out,
                      Error **errp);

/*
 * Parse scaling_available_frequencies, decimal kHz values separated by
 * spaces (the kernel ends the list with one), into an array of uint64_t
 * in the order given.
 */
bool host_cpufreq_parse_frequencies(const char *text, GArray **freqs,
                                    Error **errp);

/* A change of one CPU's policy; unset members stay as they are. */
typedef struct HostCpufreqRequest {
    const char *governor;
    bool has_frequency;
    uint64_t frequency_khz;     /* scaling_setspeed (userspace governor) */
    bool has_min;
    uint64_t min_khz;
    bool has_max;
    uint64_t max_khz;
} HostCpufreqRequest;

/*
 * Can @req be applied to a CPU whose policy is @cur?  No I/O: the
 * governor must be one of @cur's, frequencies within cpuinfo limits (and
 * in the available list if there is one), min <= max after the change,
 * a fixed frequency needs the userspace governor and lies in [min, max].
 */
bool host_cpufreq_validate(const HostCpufreq *cur,
                           const HostCpufreqRequest *req, Error **errp);

/* Apply a validated request in a safe order, logging into @undo. */
bool host_cpufreq_apply(const char *root, const HostCpufreq *cur,
                        const HostCpufreqRequest *req, HostSysfsUndo *undo,
                        Error **errp);

/* intel_pstate's global state (devices/system/cpu/intel_pstate). */
typedef struct HostPstate {
    char *status;               /* active, passive or off */
    uint64_t max_perf_pct;
    uint64_t min_perf_pct;
    bool has_no_turbo;
    bool no_turbo;
} HostPstate;

void host_pstate_free(HostPstate *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HostPstate, host_pstate_free)

/* Returns 0, -ENOENT without intel_pstate, or another -errno. */
int host_pstate_read(const char *root, HostPstate **out, Error **errp);

/* 0 <= min <= max <= 100 after the change.  No I/O. */
bool host_pstate_validate(const HostPstate *cur, bool has_max, uint64_t max,
                          bool has_min, uint64_t min, Error **errp);

bool host_pstate_apply(const char *root, const HostPstate *cur, bool has_max,
                       uint64_t max, bool has_min, uint64_t min,
                       HostSysfsUndo *undo, Error **errp);

#endif

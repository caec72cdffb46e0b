/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Interfaces between the files of the power/ subsystem.
 */

#ifndef POWER_INTERNAL_H
#define POWER_INTERNAL_H

#include "qapi/qapi-types-power.h"
#include "qobject/qdict.h"

/* vcpu-counters.c */

/*
 * Turn counting on or off and, with @has_source, force @source.  Only
 * possible before the first vCPU is counted; a forced source that
 * cannot be opened is an error.  On, without a source, chooses one.
 */
bool power_counters_configure(bool on, bool has_source,
                              PowerCounterSource source, Error **errp);

/*
 * Fill @info's timestamp, counter members and vCPU list from one pass
 * of reads.
 */
void power_counters_snapshot(PowerCounts *info);

/* query-power's totals, without the per-vCPU list, for the hot path. */
typedef struct PowerTotals {
    uint64_t timestamp_ns;
    uint64_t instance_count;
    uint64_t vcpu_count;
    unsigned vcpus;
    const char *source;         /* task_counter_source_name() */
    bool cycles;                /* else nanoseconds */
    bool kernel_excluded;
} PowerTotals;

/* Fill @t; false if this instance has no counters. */
bool power_counters_totals(PowerTotals *t);

/* Why this instance has no counters, or NULL if it has. */
const char *power_counters_unavailable(void);

/* helper-client.c: the client of qemu-power-helper's socket */

typedef struct PowerHelper PowerHelper;

/*
 * How long a call waits for the helper.  Calls run in the main loop
 * under the BQL: a hung helper costs the command that asks it this long.
 */
#define POWER_HELPER_TIMEOUT_MS 2000

/* Is @path usable as the helper's socket?  If not, @errp says why. */
bool power_helper_check_path(const char *path, Error **errp);

/*
 * A client of the helper listening on @path; it connects on the first
 * call.  With @keep, the helper leaves this instance's policy changes in
 * place when it disconnects.
 */
PowerHelper *power_helper_new(const char *path, bool keep);

/* Disconnect (the helper then restores the changes, unless keep). */
void power_helper_free(PowerHelper *h);

const char *power_helper_path(PowerHelper *h);

/*
 * Ask the helper @cmd with @args (may be NULL); returns the reply's
 * "return" value, or NULL with @errp set.  Connects first if needed.
 */
QObject *power_helper_call(PowerHelper *h, const char *cmd, QDict *args,
                           Error **errp);

/* host-power.c: the host-power object's settings */

/* What queries answer when there is no helper. */
#define POWER_NO_HELPER \
    "no qemu-power-helper: add helper=PATH to the host-power object"

/* The helper of the host-power object, or NULL if it names none. */
PowerHelper *power_helper(void);

/*
 * Does this instance's own configuration let it change host policy?
 * If not, @errp says why.  The helper decides as well.
 */
bool power_policy_allowed(Error **errp);

/* Does the host-power object allow policy changes (allow-policy)? */
bool power_object_allows_policy(void);

/* host-energy.c */

/* The host's energy counters, as the helper reads them now. */
PowerHostEnergy *power_host_energy_snapshot(void);

/* power-sampling.c */

/* The sampling state, for query-power-sampling and "info power". */
PowerSampling *power_sampling_state(void);

#endif

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Interfaces between the files of the power/ subsystem.
 */

#ifndef POWER_INTERNAL_H
#define POWER_INTERNAL_H

#include "qapi/qapi-types-power.h"
#include "qemu/host-sysfs.h"

/* vcpu-counters.c */

/*
 * Choose the counter source.  Only possible before the first vCPU is
 * counted; a forced source that cannot be opened is an error.
 */
bool power_counters_configure(PowerCounterMode mode, Error **errp);

/*
 * Fill @info's timestamp, counter members and vCPU list from one pass
 * of reads.
 */
void power_counters_snapshot(PowerCounts *info);

/* host-power.c: the host-power object's settings */

/* The directory that stands for /sys (NULL: /sys itself). */
const char *power_sysfs_root(void);

/* May this instance change host policy?  If not, @errp says why. */
bool power_policy_allowed(Error **errp);

HostPowerPolicyMode power_policy_mode(void);

/* Where host writes are logged for restore-on-exit (or NULL). */
HostSysfsUndo *power_policy_undo(void);

/* host-energy.c */

/* The host's energy counters, updated now. */
PowerHostEnergy *power_host_energy_snapshot(void);

/* Forget the energy counters (the sysfs root changed). */
void power_host_energy_reset(void);

/* power-sampling.c */

/* The sampling state, for query-power-sampling and "info power". */
PowerSampling *power_sampling_state(void);

#endif

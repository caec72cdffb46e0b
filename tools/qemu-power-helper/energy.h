/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-power-helper: the host's RAPL energy counters, read on the
 * helper's own timer often enough that no wrap is missed, served as
 * monotonic 64-bit totals.
 */

#ifndef QEMU_POWER_HELPER_ENERGY_H
#define QEMU_POWER_HELPER_ENERGY_H

#include "qapi/qapi-types-power.h"
#include "qemu/host-rapl.h"
#include "helper.h"

/* A zone's maximum power when the host does not say it: generous. */
#define HELPER_DEFAULT_MAX_POWER_UW (500ULL * 1000 * 1000)

/* The longest time between two readings. */
#define HELPER_MAX_PERIOD_US G_USEC_PER_SEC

/*
 * Open the counters of @source (HOST_ENERGY__MAX: the first that
 * works) under @sysfs_root.  Never fails: without counters the reason
 * is reported by every snapshot.
 */
HelperEnergy *helper_energy_new(const char *sysfs_root,
                                HostEnergySource source);
void helper_energy_free(HelperEnergy *e);

/*
 * How often a zone that wraps after @max_range_uj must be read at
 * @max_power_uw (0: the default) so that no wrap is missed: a quarter
 * of the time a wrap takes, at most HELPER_MAX_PERIOD_US.  Pure.
 */
int64_t helper_energy_period_us(uint64_t max_range_uj,
                                uint64_t max_power_uw);

/* When the next reading is due (g_get_monotonic_time()); -1: never. */
int64_t helper_energy_deadline(HelperEnergy *e);

/* Read every zone if due at @now_us. */
void helper_energy_tick(HelperEnergy *e, int64_t now_us);

/* Read every zone now and report them (the wire format of QAPI). */
PowerHostEnergy *helper_energy_snapshot(HelperEnergy *e);

#endif

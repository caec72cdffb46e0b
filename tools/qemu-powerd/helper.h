/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: host energy from qemu-power-helper (docs/power-helper.rst),
 * for a qemu-powerd that does not run as root.
 */

#ifndef QEMU_POWERD_HELPER_H
#define QEMU_POWERD_HELPER_H

typedef struct PowerHelper PowerHelper;

/* The helper at the socket @path; connects when first asked. */
PowerHelper *power_helper_new(const char *path);

/*
 * The helper's energy totals now: zone names into @names (strings, to
 * be freed with g_ptr_array_unref), microjoules into @uj (uint64_t),
 * waiting until @deadline (monotonic microseconds) at most.  A failed
 * call is tried on a new connection the next time.
 */
bool power_helper_energy(PowerHelper *h, int64_t deadline, GPtrArray **names,
                         GArray **uj, Error **errp);

#endif

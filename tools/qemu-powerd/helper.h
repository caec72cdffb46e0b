/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: host energy from qemu-power-helper (docs/power-helper.rst),
 * for a qemu-powerd that does not run as root.
 */

#ifndef QEMU_POWERD_HELPER_H
#define QEMU_POWERD_HELPER_H

#include "qobject/qdict.h"

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

/*
 * The "return" value of the helper's @cmd with @args (NULL: none), as
 * docs/power-helper.rst describes them, waiting until @deadline at most;
 * NULL with @errp set when the helper refuses, fails or is not there.
 * The connection says keep=false: what its requests changed, the helper
 * puts back when qemu-powerd disconnects or dies.
 */
QObject *power_helper_call(PowerHelper *h, const char *cmd, QDict *args,
                           int64_t deadline, Error **errp);

#endif

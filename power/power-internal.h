/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Interfaces between the files of the power/ subsystem.
 */

#ifndef POWER_INTERNAL_H
#define POWER_INTERNAL_H

#include "qapi/qapi-types-power.h"

/*
 * Choose the counter source.  Only possible before the first vCPU is
 * counted; a forced source that cannot be opened is an error.
 */
bool power_counters_configure(PowerCounterMode mode, Error **errp);

/* Fill @info's counter members and vCPU list from one pass of reads. */
void power_counters_snapshot(PowerInfo *info);

#endif

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: finding libvirt's running domains, in a thread of its own
 * on a connection of its own, so that neither a slow libvirtd nor calls
 * queued behind hung QEMUs hold up a round.
 */

#ifndef QEMU_POWERD_LIBVIRT_WATCH_H
#define QEMU_POWERD_LIBVIRT_WATCH_H

#include "events.h"

typedef struct LvDomain {
    char *uuid;
    char *name;
} LvDomain;

typedef struct LvWatch LvWatch;

/*
 * Watch @uri's domains; with @inbox, also take their POWER_SAMPLE events
 * on the same connection.
 */
LvWatch *lvwatch_new(const char *uri, SampleInbox *inbox);

/* Connect now (start-up: an unreachable libvirt is an error then). */
bool lvwatch_connect(LvWatch *w, Error **errp);

/*
 * Ask for the running domains and wait for them until @deadline
 * (monotonic microseconds).  Returns the list (LvDomain, to be freed
 * with g_ptr_array_unref), or NULL with @errp set if libvirt did not
 * answer in time or failed.
 */
GPtrArray *lvwatch_list(LvWatch *w, int64_t deadline, Error **errp);

/* How many times libvirt's domains were listed (0 without @w). */
uint64_t lvwatch_lists(LvWatch *w);

#endif

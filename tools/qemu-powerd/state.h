/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: what survives a restart (--state-file): the cumulative
 * energy per VM and zone, when each VM was last seen, and each zone's
 * idle-power regression window.
 */

#ifndef QEMU_POWERD_STATE_H
#define QEMU_POWERD_STATE_H

#include "attribution.h"

typedef struct PowerdState PowerdState;

PowerdState *state_new(void);
void state_free(PowerdState *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PowerdState, state_free)

/* The key of VM @name, @uuid in @zone; any bytes in any of them. */
char *state_vm_key(const char *name, const char *uuid, const char *zone);

/* The key of the host's total in @zone. */
char *state_host_key(const char *zone);

/* The joules kept under @key, if any. */
bool state_get_energy(PowerdState *st, const char *key, double *joules);

/* Keep @joules under @key, seen at Unix time @seen (seconds). */
void state_set_energy(PowerdState *st, const char *key, double joules,
                      int64_t seen);

/*
 * Forget the VMs last seen before Unix time @before (the host's totals
 * are kept); the number of entries (VM and zone) dropped.
 */
unsigned state_prune(PowerdState *st, int64_t before);

/* Entries held (VM or host, and zone). */
unsigned state_count(PowerdState *st);

/* Keep a copy of zone @zone's idle regression window. */
void state_set_idle(PowerdState *st, const char *zone, const IdleModel *m);

/* Zone @zone's idle window into @m, if one was kept. */
bool state_get_idle(PowerdState *st, const char *zone, IdleModel *m);

/*
 * Read @path; a missing file is an empty state.  A file that cannot be
 * parsed is moved aside to @path.corrupt, with a warning, and the state
 * starts empty: a daemon that refused to start over it would lose every
 * interval from then on.  NULL only when @path cannot be read or moved.
 * Entries of files without a last-seen time (version 1, the older
 * tab-separated lines) count as seen at @now.
 */
PowerdState *state_load(const char *path, int64_t now, Error **errp);

/*
 * Write @st to @path atomically and durably (temporary file, fsync,
 * rename, fsync of the directory), readable by its owner only: it names
 * the tenants' VMs.
 */
bool state_save(const char *path, PowerdState *st, Error **errp);

#endif

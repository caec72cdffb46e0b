/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: cumulative energies kept across restarts (--state-file).
 */

#ifndef QEMU_POWERD_STATE_H
#define QEMU_POWERD_STATE_H

/* key (state_vm_key(), state_host_key()) -> joules */
typedef GHashTable PowerdState;

/*
 * Read @path; a missing file is an empty state.  A file that cannot be
 * parsed is moved aside to @path.corrupt, with a warning on stderr, and
 * the state starts empty: a daemon that refused to start over it would
 * lose every interval from then on.  NULL only when @path cannot be read
 * or moved.
 */
PowerdState *state_load(const char *path, Error **errp);

/* The key of VM @name, @uuid in @zone; any bytes in any of them. */
char *state_vm_key(const char *name, const char *uuid, const char *zone);

/* The key of the host's total in @zone. */
char *state_host_key(const char *zone);

/* Write @state to @path atomically (temporary file, fsync, rename). */
bool state_save(const char *path, PowerdState *state, Error **errp);

#endif

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: cumulative energies kept across restarts (--state-file).
 */

#ifndef QEMU_POWERD_STATE_H
#define QEMU_POWERD_STATE_H

/* "vm-or-host \t uuid \t zone" -> joules */
typedef GHashTable PowerdState;

/* Read @path; a missing file is an empty state. */
PowerdState *state_load(const char *path, Error **errp);

char *state_key(const char *who, const char *uuid, const char *zone);

/* Write @state to @path atomically (temporary file, fsync, rename). */
bool state_save(const char *path, PowerdState *state, Error **errp);

#endif

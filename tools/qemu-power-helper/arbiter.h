/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-power-helper: who changed which host knob, the value each knob
 * had before anyone did, and putting them back; kept in a state file
 * so that a SIGKILL of the helper loses nothing.
 */

#ifndef QEMU_POWER_HELPER_ARBITER_H
#define QEMU_POWER_HELPER_ARBITER_H

#include "qemu/host-sysfs.h"
#include "helper.h"

/*
 * Knobs beneath @root (as host_sysfs_path() builds them), recorded in
 * @state_file (NULL: none), which is loaded here if it exists: its
 * knobs belong to no client and are restored at arbiter_restore_all().
 */
Arbiter *arbiter_new(const char *root, const char *state_file,
                     Error **errp);
void arbiter_free(Arbiter *a);

/* The knobs recorded, for the log and the tests. */
unsigned arbiter_knobs(Arbiter *a);

/*
 * @peer's request wrote the files of @undo (each with its value before
 * the request): record each change and log it.
 */
void arbiter_record(Arbiter *a, const Peer *peer, HostSysfsUndo *undo);

/*
 * @peer disconnected: put back what it changed (unless it said keep),
 * as docs/power-helper.rst says.
 */
void arbiter_release(Arbiter *a, const Peer *peer);

/* A clean stop: every original back, the state file removed. */
void arbiter_restore_all(Arbiter *a);

#endif

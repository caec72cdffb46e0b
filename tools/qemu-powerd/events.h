/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: POWER_SAMPLE events that QEMU pushes through libvirt.
 */

#ifndef QEMU_POWERD_EVENTS_H
#define QEMU_POWERD_EVENTS_H

typedef struct _virConnect *virConnectPtr;

typedef struct SampleInbox SampleInbox;

/*
 * Run libvirt's event loop in a thread of its own; must come before the
 * first connection is opened.
 */
bool events_start(Error **errp);

/*
 * The newest POWER_SAMPLE of each domain, kept under @lock; @cond is
 * broadcast when one comes.
 */
SampleInbox *inbox_new(GMutex *lock, GCond *cond);

/* Receive the samples of @conn's domains (again, after a reconnection). */
bool inbox_watch(SampleInbox *in, virConnectPtr conn, Error **errp);

/*
 * The newest sample of the domain with @uuid as a POWER_SAMPLE event
 * line, or NULL; the caller holds the lock.
 */
char *inbox_take(SampleInbox *in, const char *uuid);

/* Forget the samples not taken (of domains nobody asked for). */
void inbox_clear(SampleInbox *in);

#endif

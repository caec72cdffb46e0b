/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: the libvirt connections that carry calls to QEMUs.
 *
 * A call to a hung QEMU does not return until that QEMU runs again, and
 * libvirtd serves only a few requests of one connection at once
 * (max_client_requests, 5 by default): a sixth call queues behind the
 * hung ones, whichever VM it is for.  So the calls are spread over
 * several connections, never more than LVPOOL_CALLS_PER_CONN on one, and
 * discovery has a connection of its own (libvirt-watch.c).  When every
 * slot is held by a hung QEMU, further calls fail at once rather than
 * wait.
 */

#ifndef QEMU_POWERD_LIBVIRT_POOL_H
#define QEMU_POWERD_LIBVIRT_POOL_H

typedef struct _virConnect *virConnectPtr;
typedef struct _virDomain *virDomainPtr;

/* One below libvirtd's default max_client_requests. */
#define LVPOOL_CALLS_PER_CONN 4
/*
 * 16 connections carry 64 calls: more than libvirtd's default
 * max_workers (20) could serve at once anyway.
 */
#define LVPOOL_MAX_CONNS 16

typedef struct LvPool LvPool;
typedef struct LvConn LvConn;

/* A VM's way to libvirt: its domain on one of the pool's connections. */
typedef struct LvBinding {
    LvPool *pool;               /* set by the first lvpool_begin() */
    LvConn *conn;
    virDomainPtr dom;
} LvBinding;

LvPool *lvpool_new(const char *uri);

/*
 * Open a connection now, so that a libvirt that cannot be reached is
 * found at start-up.
 */
bool lvpool_check(LvPool *p, Error **errp);

/*
 * Before a call for the domain @uuid: bind @b to a connection with a
 * free slot (opening one if needed) and take the slot.  Fails at once
 * when no slot is free.  Returns the domain to call.
 */
virDomainPtr lvpool_begin(LvPool *p, LvBinding *b, const char *uuid,
                          Error **errp);

/*
 * After the call: give the slot back.  @failed: the call failed, so
 * check whether the connection is still alive; a dead one is dropped and
 * its domains are looked up again on another.
 */
void lvpool_end(LvBinding *b, bool failed);

/* Forget @b's domain (the VM went away); no-op if never bound. */
void lvpool_unbind(LvBinding *b);

/* Calls in flight, connections open. */
void lvpool_counts(LvPool *p, unsigned *calls, unsigned *conns);

#endif

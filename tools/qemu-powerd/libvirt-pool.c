/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: the libvirt connections that carry calls to QEMUs (see
 * libvirt-pool.h for why there are several).
 */

#include "qemu/osdep.h"
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include "qapi/error.h"
#include "libvirt-pool.h"

struct LvConn {
    virConnectPtr conn;         /* NULL while it is being opened */
    unsigned calls;             /* slots taken */
    unsigned refs;              /* bindings, and the pool's own */
    bool dead;
};

struct LvPool {
    char *uri;
    GMutex lock;
    GPtrArray *conns;           /* LvConn, alive as far as we know */
};

LvPool *lvpool_new(const char *uri)
{
    LvPool *p = g_new0(LvPool, 1);

    p->uri = g_strdup(uri);
    g_mutex_init(&p->lock);
    p->conns = g_ptr_array_new();
    return p;
}

/* The caller holds the lock. */
static void conn_unref(LvConn *c)
{
    if (--c->refs == 0) {
        if (c->conn) {
            virConnectClose(c->conn);
        }
        g_free(c);
    }
}

/* The caller holds the lock. */
static void conn_drop(LvPool *p, LvConn *c)
{
    if (!c->dead) {
        c->dead = true;
        g_ptr_array_remove(p->conns, c);
        conn_unref(c);
    }
}

static virConnectPtr open_conn(const char *uri, Error **errp)
{
    virConnectPtr conn = virConnectOpen(uri);

    if (!conn) {
        const char *msg = virGetLastErrorMessage();

        error_setg(errp, "Could not connect to libvirt: %s",
                   msg ? msg : "unknown libvirt error");
        return NULL;
    }
    /*
     * A libvirtd that went away is noticed within 15 s even while a call
     * waits (needs the event loop, which events_start() runs).
     */
    virConnectSetKeepAlive(conn, 5, 3);
    return conn;
}

bool lvpool_check(LvPool *p, Error **errp)
{
    virConnectPtr conn = open_conn(p->uri, errp);
    LvConn *c;

    if (!conn) {
        return false;
    }
    c = g_new0(LvConn, 1);
    c->conn = conn;
    c->refs = 1;
    g_mutex_lock(&p->lock);
    g_ptr_array_add(p->conns, c);
    g_mutex_unlock(&p->lock);
    return true;
}

/* A connection with a free slot, the least used; the caller holds the lock. */
static LvConn *pick(LvPool *p)
{
    LvConn *best = NULL;

    for (guint i = 0; i < p->conns->len; i++) {
        LvConn *c = g_ptr_array_index(p->conns, i);

        if (c->calls < LVPOOL_CALLS_PER_CONN &&
            (!best || c->calls < best->calls)) {
            best = c;
        }
    }
    return best;
}

static void unbind_locked(LvBinding *b)
{
    if (b->dom) {
        virDomainFree(b->dom);
        b->dom = NULL;
    }
    if (b->conn) {
        conn_unref(b->conn);
        b->conn = NULL;
    }
}

virDomainPtr lvpool_begin(LvPool *p, LvBinding *b, const char *uuid,
                          Error **errp)
{
    LvConn *c;

    b->pool = p;
    g_mutex_lock(&p->lock);
    if (b->conn && (b->conn->dead ||
                    b->conn->calls >= LVPOOL_CALLS_PER_CONN)) {
        unbind_locked(b);
    }
    c = b->conn ? b->conn : pick(p);
    if (!c) {
        virConnectPtr conn;

        if (p->conns->len >= LVPOOL_MAX_CONNS) {
            g_mutex_unlock(&p->lock);
            error_setg(errp, "No libvirt connection is free: %d calls to "
                       "QEMUs that have not answered are outstanding",
                       LVPOOL_MAX_CONNS * LVPOOL_CALLS_PER_CONN);
            return NULL;
        }
        /* a placeholder holds the place while the lock is dropped */
        c = g_new0(LvConn, 1);
        c->refs = 1;
        g_ptr_array_add(p->conns, c);
        c->calls = LVPOOL_CALLS_PER_CONN;
        g_mutex_unlock(&p->lock);
        conn = open_conn(p->uri, errp);
        g_mutex_lock(&p->lock);
        c->calls = 0;
        c->conn = conn;
        if (!conn) {
            conn_drop(p, c);
            g_mutex_unlock(&p->lock);
            return NULL;
        }
    }
    if (b->conn != c) {
        b->conn = c;
        c->refs++;
    }
    c->calls++;
    g_mutex_unlock(&p->lock);

    if (!b->dom) {
        b->dom = virDomainLookupByUUIDString(c->conn, uuid);
        if (!b->dom) {
            const char *msg = virGetLastErrorMessage();

            error_setg(errp, "libvirt: %s",
                       msg ? msg : "unknown libvirt error");
            lvpool_end(b, true);
            return NULL;
        }
    }
    return b->dom;
}

void lvpool_end(LvBinding *b, bool failed)
{
    LvPool *p = b->pool;

    g_mutex_lock(&p->lock);
    b->conn->calls--;
    if (failed && virConnectIsAlive(b->conn->conn) != 1) {
        /* libvirtd restarted: the next call looks the domain up afresh */
        conn_drop(p, b->conn);
        unbind_locked(b);
    }
    g_mutex_unlock(&p->lock);
}

void lvpool_unbind(LvBinding *b)
{
    LvPool *p = b->pool;

    if (!p) {
        return;
    }
    g_mutex_lock(&p->lock);
    unbind_locked(b);
    g_mutex_unlock(&p->lock);
}

void lvpool_counts(LvPool *p, unsigned *calls, unsigned *conns)
{
    g_mutex_lock(&p->lock);
    *calls = 0;
    for (guint i = 0; i < p->conns->len; i++) {
        *calls += ((LvConn *)g_ptr_array_index(p->conns, i))->calls;
    }
    *conns = p->conns->len;
    g_mutex_unlock(&p->lock);
}

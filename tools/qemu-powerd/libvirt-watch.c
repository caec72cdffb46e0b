/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: finding libvirt's running domains in a thread of their
 * own.  The main thread asks once a round and waits no longer than the
 * round allows; a request that is still running when the next comes is
 * not repeated, its answer serves the next round.  libvirt is listed
 * only when its lifecycle events say that something changed (or the
 * connection was made again, or the list is a minute old): a round
 * without a domain started or stopped asks libvirt nothing.
 */

#include "qemu/osdep.h"
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "libvirt-watch.h"

/* Listed again after this long even without an event (one missed). */
#define RELIST_US (60 * G_USEC_PER_SEC)

struct LvWatch {
    char *uri;
    SampleInbox *inbox;
    GMutex lock;
    GCond cond;
    virConnectPtr conn;         /* the watcher thread's */
    uint64_t asked, answered;   /* request numbers */
    GPtrArray *list;            /* the newest answer, or NULL */
    char *error;                /* or why there is none */
    int64_t listed_us;          /* when it was listed */
    uint64_t lists;             /* times it was listed (qatomic) */
    bool stale;                 /* an event since: list again (qatomic) */
    int lifecycle_cb;           /* lifecycle callback on conn, or -1 */
    GThread *thread;
};

static void lvdomain_free(gpointer p)
{
    LvDomain *d = p;

    g_free(d->uuid);
    g_free(d->name);
    g_free(d);
}

static const char *libvirt_msg(void)
{
    const char *msg = virGetLastErrorMessage();

    return msg ? msg : "unknown libvirt error";
}

/* A domain started, stopped, was paused...: the list may have changed. */
static int lifecycle(virConnectPtr conn, virDomainPtr dom, int event,
                     int detail, void *opaque)
{
    LvWatch *w = opaque;

    qatomic_set(&w->stale, true);
    return 0;
}

/* The connection went: whatever comes next must be listed afresh. */
static void conn_closed(virConnectPtr conn, int reason, void *opaque)
{
    LvWatch *w = opaque;

    qatomic_set(&w->stale, true);
}

/*
 * Close the connection.  Its callbacks hold references to it: without
 * deregistering them first, a connection lost to a libvirtd restart
 * would never be freed.  (On a dead connection they may fail: no matter.)
 */
static void drop_conn(LvWatch *w)
{
    if (!w->conn) {
        return;
    }
    if (w->lifecycle_cb >= 0) {
        virConnectDomainEventDeregisterAny(w->conn, w->lifecycle_cb);
        w->lifecycle_cb = -1;
    }
    virConnectUnregisterCloseCallback(w->conn, conn_closed);
    virConnectClose(w->conn);
    w->conn = NULL;
}

/* (Re)connect when needed.  Only the watcher thread, or before it runs. */
static bool ensure_conn(LvWatch *w, Error **errp)
{
    if (w->conn && virConnectIsAlive(w->conn) == 1) {
        return true;
    }
    drop_conn(w);
    w->conn = virConnectOpen(w->uri);
    if (!w->conn) {
        error_setg(errp, "Could not connect to libvirt: %s", libvirt_msg());
        return false;
    }
    virConnectSetKeepAlive(w->conn, 5, 3);
    qatomic_set(&w->stale, true);
    if (virConnectRegisterCloseCallback(w->conn, conn_closed, w, NULL) < 0) {
        error_setg(errp, "Could not watch libvirt's connection: %s",
                   libvirt_msg());
        drop_conn(w);
        return false;
    }
    w->lifecycle_cb = virConnectDomainEventRegisterAny(
        w->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
        VIR_DOMAIN_EVENT_CALLBACK(lifecycle), w, NULL);
    if (w->lifecycle_cb < 0) {
        error_setg(errp, "Could not watch libvirt's domain events: %s",
                   libvirt_msg());
        drop_conn(w);
        return false;
    }
    if (w->inbox && !inbox_watch(w->inbox, w->conn, errp)) {
        drop_conn(w);
        return false;
    }
    return true;
}

static GPtrArray *list_domains(LvWatch *w, Error **errp)
{
    virDomainPtr *doms = NULL;
    GPtrArray *list;
    int n;

    if (!ensure_conn(w, errp)) {
        return NULL;
    }
    /* an event from now on makes this answer stale */
    qatomic_set(&w->stale, false);
    qatomic_inc(&w->lists);
    n = virConnectListAllDomains(w->conn, &doms,
                                 VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (n < 0) {
        error_setg(errp, "Could not list libvirt domains: %s",
                   libvirt_msg());
        return NULL;
    }
    list = g_ptr_array_new_with_free_func(lvdomain_free);
    for (int i = 0; i < n; i++) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        const char *name = virDomainGetName(doms[i]);

        if (name && virDomainGetUUIDString(doms[i], uuid) == 0) {
            LvDomain *d = g_new(LvDomain, 1);

            d->uuid = g_strdup(uuid);
            d->name = g_strdup(name);
            g_ptr_array_add(list, d);
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    return list;
}

static gpointer watcher(gpointer opaque)
{
    LvWatch *w = opaque;

    g_mutex_lock(&w->lock);
    for (;;) {
        uint64_t req;
        Error *err = NULL;
        GPtrArray *list;

        while (w->answered == w->asked) {
            g_cond_wait(&w->cond, &w->lock);
        }
        req = w->asked;
        g_mutex_unlock(&w->lock);
        list = list_domains(w, &err);
        g_mutex_lock(&w->lock);
        g_clear_pointer(&w->list, g_ptr_array_unref);
        g_clear_pointer(&w->error, g_free);
        w->list = list;
        w->listed_us = g_get_monotonic_time();
        if (err) {
            qatomic_set(&w->stale, true);
            w->error = g_strdup(error_get_pretty(err));
            error_free(err);
        }
        w->answered = req;
        g_cond_broadcast(&w->cond);
    }
    return NULL;
}

LvWatch *lvwatch_new(const char *uri, SampleInbox *inbox)
{
    LvWatch *w = g_new0(LvWatch, 1);

    w->uri = g_strdup(uri);
    w->inbox = inbox;
    w->lifecycle_cb = -1;
    g_mutex_init(&w->lock);
    g_cond_init(&w->cond);
    return w;
}

bool lvwatch_connect(LvWatch *w, Error **errp)
{
    if (!ensure_conn(w, errp)) {
        return false;
    }
    w->thread = g_thread_new("libvirt-watch", watcher, w);
    return true;
}

GPtrArray *lvwatch_list(LvWatch *w, int64_t deadline, Error **errp)
{
    GPtrArray *list = NULL;
    uint64_t want;

    g_mutex_lock(&w->lock);
    if (w->asked == w->answered && w->list && !qatomic_read(&w->stale) &&
        g_get_monotonic_time() - w->listed_us < RELIST_US) {
        /* nothing happened since the last list */
        list = g_ptr_array_ref(w->list);
        g_mutex_unlock(&w->lock);
        return list;
    }
    if (w->asked == w->answered) {
        w->asked++;
        g_cond_broadcast(&w->cond);
    }
    /* a request still running from before answers this one */
    want = w->asked;
    while (w->answered != want) {
        if (!g_cond_wait_until(&w->cond, &w->lock, deadline)) {
            break;
        }
    }
    if (w->answered != want) {
        error_setg(errp, "libvirt has not listed its domains within the "
                   "timeout");
    } else if (!w->list) {
        error_setg(errp, "%s", w->error);
    } else {
        list = g_ptr_array_ref(w->list);
    }
    g_mutex_unlock(&w->lock);
    return list;
}

uint64_t lvwatch_lists(LvWatch *w)
{
    return w ? qatomic_read(&w->lists) : 0;
}

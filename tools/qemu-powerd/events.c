/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: POWER_SAMPLE events through libvirt.  libvirt hands every
 * QMP event of its domains to virConnectDomainQemuMonitorEventRegister's
 * callback, in the thread that runs its event loop; the callback keeps
 * the newest sample of each domain for the poller to take.
 */

#include "qemu/osdep.h"
#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include "qapi/error.h"
#include "events.h"

struct SampleInbox {
    GMutex *lock;
    GCond *cond;
    GHashTable *lines;          /* UUID -> POWER_SAMPLE event line */
    virConnectPtr conn;         /* where the callback is registered */
    int callback;
};

static gpointer event_loop(gpointer opaque)
{
    for (;;) {
        if (virEventRunDefaultImpl() < 0) {
            g_usleep(100 * 1000);       /* do not spin on a broken loop */
        }
    }
    return NULL;
}

bool events_start(Error **errp)
{
    if (virEventRegisterDefaultImpl() < 0) {
        const char *msg = virGetLastErrorMessage();

        error_setg(errp, "Could not start libvirt's event loop: %s",
                   msg ? msg : "unknown libvirt error");
        return false;
    }
    g_thread_unref(g_thread_new("libvirt-events", event_loop, NULL));
    return true;
}

SampleInbox *inbox_new(GMutex *lock, GCond *cond)
{
    SampleInbox *in = g_new0(SampleInbox, 1);

    in->lock = lock;
    in->cond = cond;
    in->lines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                      g_free);
    in->callback = -1;
    return in;
}

static void on_event(virConnectPtr conn, virDomainPtr dom, const char *event,
                     long long seconds, unsigned int micros,
                     const char *details, void *opaque)
{
    SampleInbox *in = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN];

    if (!details || virDomainGetUUIDString(dom, uuid) < 0) {
        return;
    }
    g_mutex_lock(in->lock);
    g_hash_table_replace(in->lines, g_strdup(uuid),
                         g_strdup_printf("{\"event\": \"POWER_SAMPLE\", "
                                         "\"data\": %s}", details));
    g_cond_broadcast(in->cond);
    g_mutex_unlock(in->lock);
}

bool inbox_watch(SampleInbox *in, virConnectPtr conn, Error **errp)
{
    int id;

    if (in->conn == conn) {
        return true;
    }
    if (in->conn) {
        /* the old connection is gone, and its callback with it */
        virConnectDomainQemuMonitorEventDeregister(in->conn, in->callback);
        virConnectClose(in->conn);
        in->conn = NULL;
    }
    id = virConnectDomainQemuMonitorEventRegister(conn, NULL, "POWER_SAMPLE",
                                                  on_event, in, NULL, 0);
    if (id < 0) {
        const char *msg = virGetLastErrorMessage();

        error_setg(errp, "Could not receive POWER_SAMPLE events: %s",
                   msg ? msg : "unknown libvirt error");
        return false;
    }
    virConnectRef(conn);
    in->conn = conn;
    in->callback = id;
    return true;
}

char *inbox_take(SampleInbox *in, const char *uuid)
{
    gpointer key, line;

    if (!g_hash_table_steal_extended(in->lines, uuid, &key, &line)) {
        return NULL;
    }
    g_free(key);
    return line;
}

void inbox_clear(SampleInbox *in)
{
    g_hash_table_remove_all(in->lines);
}

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * libFuzzer target for qemu-power-helper's request handling,
 * helper_handle_line(): the helper runs as root and reads these lines
 * from any local user who can connect.  A peer allowed everything sends
 * one line per input against a fake host tree, then leaves, so that the
 * arbiter records and restores too.  Besides crashes and leaks it checks
 * the protocol's promises: every line gets exactly one reply, a JSON
 * object on one line with either "return" or an "error" that has a known
 * class and a message, and the id of a request that had one.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qstring.h"
#include "arbiter.h"
#include "energy.h"
#include "helper.h"
#include "fake-sysfs.h"
#include "fuzz.h"

static Helper helper;

void helper_log(const char *fmt, ...)
{
    /* the helper logs every change; a fuzzer's changes are noise */
}

static void setup(void)
{
    if (helper.sysfs_root) {
        return;
    }
    helper.sysfs_root = fake_sysfs_new();
    fake_sysfs_host(helper.sysfs_root, 4, 2, true);
    helper.arbiter = arbiter_new(helper.sysfs_root, NULL, &error_abort);
    helper.energy = helper_energy_new(helper.sysfs_root, HOST_ENERGY__MAX);
}

static void check_reply(const char *r, QObject *req_id)
{
    size_t len = strlen(r);
    QObject *obj;
    QDict *d, *err;
    static const char *const classes[] = {
        "GenericError", "NotAllowed", "NotAvailable", "BadRequest",
    };
    bool known = false;

    g_assert(len > 1 && r[len - 1] == '\n');
    g_assert(!memchr(r, '\n', len - 1));
    obj = qobject_from_json(r, &error_abort);
    d = qobject_to(QDict, obj);
    g_assert(d);
    g_assert(qdict_haskey(d, "return") != qdict_haskey(d, "error"));
    if (req_id) {
        g_assert(qobject_is_equal(qdict_get(d, "id"), req_id));
    }
    err = qdict_get_qdict(d, "error");
    if (err) {
        g_assert_cmpstr(qdict_get_try_str(err, "desc"), !=, "");
        for (int i = 0; i < ARRAY_SIZE(classes); i++) {
            known |= !g_strcmp0(qdict_get_try_str(err, "class"), classes[i]);
        }
        g_assert(known);
    }
    qobject_unref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Peer peer = {
        .pid = 1, .uid = 0, .gid = 0, .may_energy = true,
        .may_policy = true,
    };
    g_autofree char *text = g_strndup((const char *)data, size);
    QObject *req, *id = NULL;
    g_autofree char *r = NULL;

    setup();
    peer.id = ++helper.next_client_id;
    if (size >= HELPER_LINE_MAX || memchr(data, '\n', size)) {
        return 0;               /* the socket loop never passes these */
    }
    /* the id a well-formed request carries comes back as it was */
    req = qobject_from_json(text, NULL);
    if (qobject_to(QDict, req) && strlen(text) == size) {
        id = qdict_get(qobject_to(QDict, req), "id");
    }
    r = helper_handle_line(&helper, &peer, (const char *)data, size);
    check_reply(r, id);
    qobject_unref(req);
    arbiter_release(helper.arbiter, &peer);
    g_free(peer.name);
    return 0;
}

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The client side of qemu-power-helper's socket (docs/power-helper.rst):
 * QEMU asks the privileged helper for host energy and host policy
 * changes instead of opening the host's files itself.  The connection is
 * made on first need and made again on the call after one that failed.
 *
 * Calls run in the main loop with the BQL held, so each has a deadline:
 * a hung helper costs the QMP command (or the sample) that asks it at
 * most POWER_HELPER_TIMEOUT_MS, and later calls fail at once until the
 * late reply comes, rather than stalling the main loop again and again.
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sys/un.h>
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qnum.h"
#include "qobject/qobject.h"
#include "qobject/qstring.h"
#include "system/system.h"
#include "power-internal.h"

#define PROTOCOL_VERSION 1
#define MAX_LINE 65536          /* the protocol's bound on a message */
#define MAX_NAME 256            /* the protocol's bound on hello's name */

struct PowerHelper {
    char *path;
    bool keep;
    int fd;                     /* -1: not connected */
    GString *in;                /* bytes received, not yet a whole line */
    uint64_t sent;              /* id of the last request sent */
    uint64_t answered;          /* id of the last reply received */
};

PowerHelper *power_helper_new(const char *path, bool keep)
{
    PowerHelper *h = g_new0(PowerHelper, 1);

    h->path = g_strdup(path);
    h->keep = keep;
    h->fd = -1;
    h->in = g_string_new("");
    return h;
}

static void helper_disconnect(PowerHelper *h)
{
    if (h->fd >= 0) {
        close(h->fd);
        h->fd = -1;
    }
    g_string_truncate(h->in, 0);
    h->sent = h->answered = 0;
}

void power_helper_free(PowerHelper *h)
{
    if (h) {
        /* the helper restores this instance's changes unless @keep */
        helper_disconnect(h);
        g_string_free(h->in, true);
        g_free(h->path);
        g_free(h);
    }
}

const char *power_helper_path(PowerHelper *h)
{
    return h->path;
}

bool power_helper_check_path(const char *path, Error **errp)
{
    struct sockaddr_un sa;

    if (path[0] != '/') {
        error_setg(errp, "helper must be an absolute path");
        return false;
    }
    if (strlen(path) >= sizeof(sa.sun_path)) {
        error_setg(errp, "helper path is longer than a UNIX socket path "
                   "can be (%zu bytes)", sizeof(sa.sun_path) - 1);
        return false;
    }
    return true;
}

/* Milliseconds left until @deadline (g_get_monotonic_time() units). */
static int ms_left(int64_t deadline)
{
    int64_t left = deadline - g_get_monotonic_time();

    return left <= 0 ? 0 : (left + 999) / 1000;
}

/*
 * Take one whole line from the helper into @line.  Returns 1 with a line,
 * 0 when none came before @deadline (at once when @deadline is 0), and -1
 * with @errp set when the connection is unusable.
 */
static int helper_read_line(PowerHelper *h, int64_t deadline, char **line,
                            Error **errp)
{
    for (;;) {
        char *nl = memchr(h->in->str, '\n', h->in->len);
        struct pollfd pfd = { .fd = h->fd, .events = POLLIN };
        char buf[4096];
        ssize_t n;
        int ret;

        if (nl) {
            *line = g_strndup(h->in->str, nl - h->in->str);
            g_string_erase(h->in, 0, nl - h->in->str + 1);
            return 1;
        }
        if (h->in->len > MAX_LINE) {
            error_setg(errp, "qemu-power-helper at '%s' sent a message "
                       "longer than %d bytes", h->path, MAX_LINE);
            return -1;
        }
        ret = poll(&pfd, 1, deadline ? ms_left(deadline) : 0);
        if (ret < 0 && errno == EINTR) {
            continue;
        }
        if (ret < 0) {
            error_setg_errno(errp, errno, "Could not wait for "
                             "qemu-power-helper at '%s'", h->path);
            return -1;
        }
        if (ret == 0) {
            return 0;
        }
        n = read(h->fd, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n < 0) {
            error_setg_errno(errp, errno, "Could not read from "
                             "qemu-power-helper at '%s'", h->path);
            return -1;
        }
        if (n == 0) {
            error_setg(errp, "qemu-power-helper at '%s' closed the "
                       "connection", h->path);
            return -1;
        }
        g_string_append_len(h->in, buf, n);
    }
}

static bool helper_write(PowerHelper *h, const char *buf, size_t len,
                         int64_t deadline, Error **errp)
{
    while (len) {
        struct pollfd pfd = { .fd = h->fd, .events = POLLOUT };
        ssize_t n = send(h->fd, buf, len, MSG_NOSIGNAL);

        if (n >= 0) {
            buf += n;
            len -= n;
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN) {
            error_setg_errno(errp, errno, "Could not write to "
                             "qemu-power-helper at '%s'", h->path);
            return false;
        }
        if (poll(&pfd, 1, ms_left(deadline)) == 0) {
            error_setg(errp, "qemu-power-helper at '%s' did not take a "
                       "request within %d ms", h->path,
                       POWER_HELPER_TIMEOUT_MS);
            return false;
        }
    }
    return true;
}

/* A line from the helper as a JSON object, or NULL with @errp set. */
static QDict *helper_parse(PowerHelper *h, const char *line, Error **errp)
{
    Error *err = NULL;
    QObject *obj = qobject_from_json(line, &err);
    QDict *dict = qobject_to(QDict, obj);

    if (!dict) {
        error_setg(errp, "qemu-power-helper at '%s' sent %s: %s", h->path,
                   obj ? "a message that is not an object" : "bad JSON",
                   err ? error_get_pretty(err) : line);
        error_free(err);
        qobject_unref(obj);
    }
    return dict;
}

/*
 * The reply's id; a reply without one is a protocol error, since QEMU
 * always sends one and stale replies are told apart by it.
 */
static bool reply_id(PowerHelper *h, QDict *reply, uint64_t *id,
                     Error **errp)
{
    QNum *n = qobject_to(QNum, qdict_get(reply, "id"));

    if (!n || !qnum_get_try_uint(n, id) || *id == 0 || *id > h->sent) {
        error_setg(errp, "qemu-power-helper at '%s' sent a reply to no "
                   "request", h->path);
        return false;
    }
    return true;
}

/*
 * Discard the replies to requests whose callers gave up waiting, without
 * waiting for them.  Returns 1 when none is missing, 0 when one still is,
 * -1 when the connection is unusable; @errp is set unless 1.
 */
static int helper_drain(PowerHelper *h, Error **errp)
{
    while (h->answered < h->sent) {
        g_autofree char *line = NULL;
        g_autoptr(QDict) reply = NULL;
        uint64_t id;
        int ret = helper_read_line(h, 0, &line, errp);

        if (ret < 0) {
            return -1;
        }
        if (ret == 0) {
            error_setg(errp, "qemu-power-helper at '%s' has not answered "
                       "an earlier request yet", h->path);
            return 0;
        }
        reply = helper_parse(h, line, errp);
        if (!reply || !reply_id(h, reply, &id, errp)) {
            return -1;
        }
        h->answered = id;
    }
    return 1;
}

/*
 * Send @cmd with @args (may be NULL) and wait until @deadline for its
 * reply.  On failure *@broken says whether the connection is unusable;
 * it stays after a late reply (told apart by its id when it comes) and
 * after an error reply.
 */
static QObject *helper_request(PowerHelper *h, const char *cmd,
                               QDict *args, int64_t deadline,
                               bool *broken, Error **errp)
{
    g_autoptr(QDict) req = qdict_new();
    g_autoptr(GString) json = NULL;
    uint64_t id = ++h->sent;

    *broken = true;
    qdict_put_str(req, "execute", cmd);
    if (args) {
        qdict_put(req, "arguments", qobject_ref(args));
    }
    qdict_put_int(req, "id", id);
    json = qobject_to_json(QOBJECT(req));
    g_string_append_c(json, '\n');
    if (!helper_write(h, json->str, json->len, deadline, errp)) {
        return NULL;
    }

    for (;;) {
        g_autofree char *line = NULL;
        g_autoptr(QDict) reply = NULL;
        QDict *error;
        uint64_t got;
        int ret = helper_read_line(h, deadline, &line, errp);

        if (ret < 0) {
            return NULL;
        }
        if (ret == 0) {
            *broken = false;
            error_setg(errp, "qemu-power-helper at '%s' did not answer "
                       "'%s' within %d ms", h->path, cmd,
                       POWER_HELPER_TIMEOUT_MS);
            return NULL;
        }
        reply = helper_parse(h, line, errp);
        if (!reply || !reply_id(h, reply, &got, errp)) {
            return NULL;
        }
        h->answered = got;
        if (got < id) {
            continue;           /* a late reply to an abandoned request */
        }
        if (qdict_haskey(reply, "return")) {
            *broken = false;
            return qobject_ref(qdict_get(reply, "return"));
        }
        error = qdict_get_qdict(reply, "error");
        if (!error || !qdict_get_try_str(error, "class") ||
            !qdict_get_try_str(error, "desc")) {
            error_setg(errp, "qemu-power-helper at '%s' sent a reply "
                       "without 'return' or 'error'", h->path);
            return NULL;
        }
        *broken = false;        /* the helper said no */
        if (!strcmp(qdict_get_str(error, "class"), "GenericError")) {
            /* the host refused or failed: the helper's words are for users */
            error_setg(errp, "%s", qdict_get_str(error, "desc"));
        } else if (!strcmp(qdict_get_str(error, "class"), "NotAllowed")) {
            error_setg(errp, "qemu-power-helper at '%s' does not allow this "
                       "QEMU to %s: %s", h->path, cmd,
                       qdict_get_str(error, "desc"));
        } else if (!strcmp(qdict_get_str(error, "class"), "NotAvailable")) {
            error_setg(errp, "qemu-power-helper at '%s' cannot %s on this "
                       "host: %s", h->path, cmd,
                       qdict_get_str(error, "desc"));
        } else {
            error_setg(errp, "qemu-power-helper at '%s' refused '%s' (%s): "
                       "%s", h->path, cmd, qdict_get_str(error, "class"),
                       qdict_get_str(error, "desc"));
        }
        return NULL;
    }
}

/* Connect, check the greeting's version and say hello. */
static bool helper_connect(PowerHelper *h, int64_t deadline, Error **errp)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_autofree char *line = NULL;
    g_autoptr(QDict) greeting = NULL;
    g_autoptr(QDict) hello = qdict_new();
    QObject *ret;
    QDict *what;
    bool broken;
    int64_t version;

    /* checked by power_helper_check_path() when the path was set */
    pstrcpy(sa.sun_path, sizeof(sa.sun_path), h->path);
    h->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (h->fd < 0) {
        error_setg_errno(errp, errno, "Could not create a socket for "
                         "qemu-power-helper");
        return false;
    }
    if (connect(h->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        error_setg_errno(errp, errno, "Could not connect to "
                         "qemu-power-helper at '%s'", h->path);
        return false;
    }

    switch (helper_read_line(h, deadline, &line, errp)) {
    case -1:
        return false;
    case 0:
        error_setg(errp, "qemu-power-helper at '%s' sent no greeting "
                   "within %d ms", h->path, POWER_HELPER_TIMEOUT_MS);
        return false;
    }
    greeting = helper_parse(h, line, errp);
    if (!greeting) {
        return false;
    }
    what = qdict_get_qdict(greeting, "qemu-power-helper");
    if (!what || !qdict_haskey(what, "version") ||
        qobject_type(qdict_get(what, "version")) != QTYPE_QNUM) {
        error_setg(errp, "'%s' is not a qemu-power-helper socket", h->path);
        return false;
    }
    version = qdict_get_int(what, "version");
    if (version != PROTOCOL_VERSION) {
        error_setg(errp, "qemu-power-helper at '%s' speaks protocol version "
                   "%" PRId64 ", this QEMU speaks version %d", h->path,
                   version, PROTOCOL_VERSION);
        return false;
    }

    if (qemu_name) {
        /* the protocol's bound, cut where no UTF-8 sequence is split */
        size_t len = strlen(qemu_name);

        if (len > MAX_NAME) {
            len = MAX_NAME;
            while (len && (qemu_name[len] & 0xc0) == 0x80) {
                len--;
            }
        }
        qdict_put(hello, "name", qstring_from_substr(qemu_name, 0, len));
    }
    qdict_put_bool(hello, "keep", h->keep);
    /* a late or refused hello leaves a connection not worth keeping */
    ret = helper_request(h, "hello", hello, deadline, &broken, errp);
    qobject_unref(ret);
    return ret != NULL;
}

QObject *power_helper_call(PowerHelper *h, const char *cmd, QDict *args,
                           Error **errp)
{
    int64_t deadline = g_get_monotonic_time() +
                       POWER_HELPER_TIMEOUT_MS * (int64_t)1000;
    bool broken;
    QObject *ret;

    if (h->fd >= 0) {
        Error *err = NULL;

        switch (helper_drain(h, &err)) {
        case 0:
            error_propagate(errp, err);
            return NULL;
        case -1:
            /* e.g. the helper was restarted: a new connection may work */
            error_free(err);
            helper_disconnect(h);
            break;
        }
    }
    if (h->fd < 0 && !helper_connect(h, deadline, errp)) {
        helper_disconnect(h);
        return NULL;
    }
    ret = helper_request(h, cmd, args, deadline, &broken, errp);
    if (!ret && broken) {
        helper_disconnect(h);
    }
    return ret;
}

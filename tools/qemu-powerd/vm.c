/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: reaching VMs.  Plain QMP over UNIX sockets, with each
 * read bounded by the poll's deadline, and libvirt's QMP passthrough.
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "lines.h"
#include "vm.h"

void vm_qmp_disconnect(Vm *vm)
{
    if (vm->fd >= 0) {
        close(vm->fd);
        vm->fd = -1;
    }
    g_string_truncate(vm->inbuf, 0);
}

Vm *vm_new(const char *key, size_t nzones)
{
    Vm *vm = g_new0(Vm, 1);

    vm->key = g_strdup(key);
    vm->uuid = g_strdup("");
    vm->fd = -1;
    vm->chan_fd = -1;
    vm->inbuf = g_string_new("");
    vm->stock_tids = g_array_new(false, false, sizeof(int));
    vm->watts = g_new0(double, nzones);
    vm->energy_j = g_new0(double, nzones);
    return vm;
}

void vm_free(Vm *vm)
{
    vm_qmp_disconnect(vm);
    vm_channel_close(vm);
    lvpool_unbind(&vm->lv);
    vm_sample_clear(&vm->prev);
    vm_sample_clear(&vm->ev);
    g_string_free(vm->inbuf, true);
    g_array_free(vm->stock_tids, true);
    g_free(vm->key);
    g_free(vm->name);
    g_free(vm->uuid);
    g_free(vm->socket_path);
    g_free(vm->reply);
    g_free(vm->error);
    g_free(vm->qmp_name);
    g_free(vm->qmp_uuid);
    g_free(vm->answer_name);
    g_free(vm->answer_uuid);
    g_free(vm->event);
    g_free(vm->status_error);
    g_free(vm->watts);
    g_free(vm->energy_j);
    g_free(vm);
}

/* QMP replies can be long (query-power of a VM with many vCPUs). */
#define QMP_LINE_MAX (16 * 1024 * 1024)

/* One line from the socket, waiting no later than @deadline. */
static char *read_line(Vm *vm, int64_t deadline, Error **errp)
{
    return lines_read(vm->fd, vm->inbuf, QMP_LINE_MAX, deadline, errp);
}

/* Keep @line if it is a POWER_SAMPLE event: the newest one wins. */
static bool keep_sample(Vm *vm, char **line)
{
    if (!strstr(*line, "\"POWER_SAMPLE\"")) {
        return false;
    }
    g_free(vm->event);
    vm->event = g_steal_pointer(line);
    return true;
}

/*
 * Send @cmd with @args (a JSON object, or NULL) and return the reply
 * line with its id.  Samples that come meanwhile are kept; other events
 * are skipped.
 */
/* @line on @sock with @fd attached (SCM_RIGHTS), as getfd wants it. */
static bool send_with_fd(int sock, const char *line, int fd, Error **errp)
{
    struct iovec iov = { .iov_base = (void *)line, .iov_len = strlen(line) };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = u.buf,
                          .msg_controllen = sizeof(u.buf) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    ssize_t n;

    memset(u.buf, 0, sizeof(u.buf));
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    do {
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)iov.iov_len) {
        /* the line is short: the kernel takes it whole or not at all */
        error_setg_errno(errp, n < 0 ? errno : EIO, "Could not send");
        return false;
    }
    return true;
}

static char *command_fd(Vm *vm, const char *cmd, const char *args, int fd,
                        int64_t deadline, Error **errp)
{
    uint64_t id = ++vm->next_id;
    g_autofree char *line = g_strdup_printf("{\"execute\": \"%s\", "
                                            "%s%s%s\"id\": %" PRIu64 "}\n",
                                            cmd, args ? "\"arguments\": " : "",
                                            args ? args : "", args ? ", " : "",
                                            id);

    if (fd >= 0 ? !send_with_fd(vm->fd, line, fd, errp) :
        !lines_send(vm->fd, line, errp)) {
        error_prepend(errp, "%s: ", cmd);
        return NULL;
    }
    for (;;) {
        g_autofree char *reply = read_line(vm, deadline, errp);
        QObject *obj;
        QDict *d;
        bool skip;

        if (!reply) {
            return NULL;
        }
        if (keep_sample(vm, &reply)) {
            continue;
        }
        obj = qobject_from_json(reply, NULL);
        d = qobject_to(QDict, obj);
        /* events, and stale answers of an earlier command */
        skip = d && (qdict_haskey(d, "event") ||
                     (qdict_haskey(d, "id") &&
                      qdict_get_try_int(d, "id", -1) != (int64_t)id));
        qobject_unref(obj);
        if (!skip) {
            return g_steal_pointer(&reply);
        }
    }
}

static char *command(Vm *vm, const char *cmd, const char *args,
                     int64_t deadline, Error **errp)
{
    return command_fd(vm, cmd, args, -1, deadline, errp);
}

/* The "return" member of @reply's object, or NULL; unref @*obj after. */
static QDict *reply_return(const char *reply, QObject **obj)
{
    QDict *d;

    *obj = qobject_from_json(reply, NULL);
    d = qobject_to(QDict, *obj);
    return d ? qdict_get_qdict(d, "return") : NULL;
}

/*
 * How long to wait for @vm's greeting: the round's deadline, or
 * VM_STALLED_WAIT_US if its last call went unanswered.
 */
static int64_t call_deadline(Vm *vm, int64_t deadline)
{
    if (vm->stalled_since) {
        return MIN(deadline, g_get_monotonic_time() + VM_STALLED_WAIT_US);
    }
    return deadline;
}

/* The process at the other end of @fd, 0 if the kernel does not say. */
static int peer_pid(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        return 0;
    }
    return cred.pid;
}

static bool connect_vm(Vm *vm, int64_t deadline, Error **errp)
{
    g_autofree char *greeting = NULL, *caps = NULL, *name = NULL;
    g_autofree char *uuid = NULL;
    const char *s;
    QObject *obj;
    QDict *ret;

    vm->fd = lines_connect(vm->socket_path, errp);
    if (vm->fd < 0) {
        return false;
    }
    qatomic_set(&vm->pid, peer_pid(vm->fd));
    /* a QEMU that is alive greets at once */
    greeting = read_line(vm, call_deadline(vm, deadline), errp);
    caps = greeting ?
        command(vm, "qmp_capabilities", NULL, deadline, errp) : NULL;
    name = caps ? command(vm, "query-name", NULL, deadline, errp) : NULL;
    uuid = name ? command(vm, "query-uuid", NULL, deadline, errp) : NULL;
    if (!uuid) {
        error_prepend(errp, "QMP handshake with '%s': ", vm->socket_path);
        vm_qmp_disconnect(vm);
        return false;
    }
    ret = reply_return(name, &obj);
    s = ret ? qdict_get_try_str(ret, "name") : NULL;
    g_free(vm->qmp_name);
    vm->qmp_name = g_strdup(s ? s : vm->socket_path);
    qobject_unref(obj);

    /* without -uuid QEMU has the nil UUID: that tells no VM apart */
    ret = reply_return(uuid, &obj);
    s = ret ? qdict_get_try_str(ret, "UUID") : NULL;
    g_free(vm->qmp_uuid);
    vm->qmp_uuid = g_strdup(s && strspn(s, "0-") != strlen(s) ? s : "");
    qobject_unref(obj);
    return true;
}

/* After a call: note whether @vm answered, for call_deadline(). */
static void note_answer(Vm *vm, bool answered, Error **errp)
{
    if (answered) {
        vm->stalled_since = 0;
        return;
    }
    /* a late answer would come out of step: start afresh next time */
    vm_qmp_disconnect(vm);
    if (!vm->stalled_since) {
        vm->stalled_since = g_get_monotonic_time();
    } else if (errp && *errp) {
        error_prepend(errp, "Unanswered for %.0f s: ",
                      (g_get_monotonic_time() - vm->stalled_since) / 1e6);
    }
}

char *vm_qmp_call(Vm *vm, const char *cmd, int64_t deadline, Error **errp)
{
    char *reply = NULL;

    if (vm->fd >= 0 || connect_vm(vm, deadline, errp)) {
        reply = command(vm, cmd, NULL, deadline, errp);
    }
    note_answer(vm, reply != NULL, errp);
    return reply;
}

static char *sampling_args(unsigned interval_ms, unsigned lease_ms)
{
    if (!interval_ms) {
        return g_strdup("{\"enable\": false}");
    }
    return g_strdup_printf("{\"enable\": true, \"interval-ms\": %u, "
                           "\"lease-ms\": %u}", interval_ms, lease_ms);
}

/*
 * set-power-sampling's answer: on, not there (or a QEMU whose sampling
 * another consumer holds on a channel, which events cannot share),
 * or failed
 */
static VmSampling sampling_result(const char *reply, Error **errp)
{
    QObject *obj = qobject_from_json(reply, NULL);
    QDict *d = qobject_to(QDict, obj);
    QDict *err = d ? qdict_get_qdict(d, "error") : NULL;
    VmSampling r = VM_SAMPLING_ON;

    if (!d || (!err && !qdict_haskey(d, "return"))) {
        error_setg(errp, "Malformed reply to set-power-sampling");
        r = VM_SAMPLING_FAILED;
    } else if (err && (!g_strcmp0(qdict_get_try_str(err, "class"),
                                  "CommandNotFound") ||
                       g_str_has_prefix(qdict_get_try_str(err, "desc") ?: "",
                                        "Sampling writes to a channel"))) {
        r = VM_SAMPLING_UNSUPPORTED;
    } else if (err) {
        error_setg(errp, "set-power-sampling: %s",
                   qdict_get_try_str(err, "desc") ?: "error");
        r = VM_SAMPLING_FAILED;
    }
    qobject_unref(obj);
    return r;
}

VmSampling vm_qmp_sampling(Vm *vm, unsigned interval_ms, unsigned lease_ms,
                           int64_t deadline, Error **errp)
{
    g_autofree char *args = sampling_args(interval_ms, lease_ms);
    g_autofree char *reply = NULL;

    if (vm->fd >= 0 || connect_vm(vm, deadline, errp)) {
        reply = command(vm, "set-power-sampling", args, deadline, errp);
    }
    note_answer(vm, reply != NULL, errp);
    return reply ? sampling_result(reply, errp) : VM_SAMPLING_FAILED;
}

/* The name our channel has in the monitor between getfd and its use. */
#define CHANNEL_FDNAME "qemu-powerd-channel"

static char *channel_args(unsigned interval_ms)
{
    return g_strdup_printf("{\"enable\": true, \"interval-ms\": %u, "
                           "\"channel\": \"" CHANNEL_FDNAME "\"}",
                           interval_ms);
}

/*
 * set-power-sampling's answer to a channel: on; not supported, or
 * refused for a reason that events may not share (sampling already
 * active); or failed.
 */
static VmSampling channel_result(const char *reply, Error **errp)
{
    QObject *obj = qobject_from_json(reply, NULL);
    QDict *d = qobject_to(QDict, obj);
    QDict *err = d ? qdict_get_qdict(d, "error") : NULL;
    const char *desc = err ? qdict_get_try_str(err, "desc") : NULL;
    VmSampling r = VM_SAMPLING_ON;

    if (!d || (!err && !qdict_haskey(d, "return"))) {
        error_setg(errp, "Malformed reply to set-power-sampling");
        r = VM_SAMPLING_FAILED;
    } else if (err) {
        /* an older patch set, a QEMU without counters, or one in use */
        error_setg(errp, "set-power-sampling with a channel: %s",
                   desc ?: "error");
        r = VM_SAMPLING_UNSUPPORTED;
    }
    qobject_unref(obj);
    return r;
}

/* A socket pair for a channel: ours non-blocking, theirs to pass. */
static bool channel_pair(int pair[2], Error **errp)
{
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
        error_setg_errno(errp, errno, "socketpair");
        return false;
    }
    g_unix_set_fd_nonblocking(pair[0], true, NULL);
    return true;
}

VmSampling vm_qmp_channel(Vm *vm, unsigned interval_ms, int64_t deadline,
                          int *chan, Error **errp)
{
    g_autofree char *args = channel_args(interval_ms);
    g_autofree char *got = NULL, *reply = NULL;
    VmSampling r = VM_SAMPLING_FAILED;
    int pair[2];

    if (!(vm->fd >= 0 || connect_vm(vm, deadline, errp)) ||
        !channel_pair(pair, errp)) {
        note_answer(vm, false, errp);
        return VM_SAMPLING_FAILED;
    }
    got = command_fd(vm, "getfd", "{\"fdname\": \"" CHANNEL_FDNAME "\"}",
                     pair[1], deadline, errp);
    close(pair[1]);
    if (got && strstr(got, "\"error\"")) {
        error_setg(errp, "getfd: %s", got);
        r = VM_SAMPLING_UNSUPPORTED;
    } else if (got) {
        reply = command(vm, "set-power-sampling", args, deadline, errp);
        r = reply ? channel_result(reply, errp) : VM_SAMPLING_FAILED;
        if (r == VM_SAMPLING_UNSUPPORTED) {
            /* it may have left the descriptor with the monitor */
            g_free(command(vm, "closefd", "{\"fdname\": \""
                           CHANNEL_FDNAME "\"}", deadline, NULL));
        }
    }
    note_answer(vm, got != NULL && (r != VM_SAMPLING_FAILED || reply), errp);
    if (r == VM_SAMPLING_ON) {
        *chan = pair[0];
    } else {
        close(pair[0]);
    }
    return r;
}

void vm_channel_close(Vm *vm)
{
    if (vm->chan_fd >= 0) {
        close(vm->chan_fd);
        vm->chan_fd = -1;
    }
}

bool vm_channel_drain(Vm *vm, Error **errp)
{
    char buf[4096];

    for (;;) {
        ssize_t n = recv(vm->chan_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return true;
        }
        if (n <= 0) {
            error_setg_errno(errp, n < 0 ? errno : ECONNRESET,
                             "Sampling channel closed");
            vm_channel_close(vm);
            return false;
        }
        buf[n] = 0;
        g_free(vm->event);
        vm->event = g_strdup(buf);     /* the newest record wins */
    }
}

bool vm_qmp_drain(Vm *vm, Error **errp)
{
    char buf[16384];

    if (vm->fd < 0) {
        error_setg(errp, "QMP connection lost");
        return false;
    }
    for (;;) {
        ssize_t n = recv(vm->fd, buf, sizeof(buf), MSG_DONTWAIT);
        char *nl;

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return true;
        }
        if (n <= 0) {
            error_setg_errno(errp, n < 0 ? errno : ECONNRESET,
                             "QMP connection lost");
            vm_qmp_disconnect(vm);
            return false;
        }
        g_string_append_len(vm->inbuf, buf, n);
        while ((nl = memchr(vm->inbuf->str, '\n', vm->inbuf->len))) {
            char *line = g_strndup(vm->inbuf->str, nl - vm->inbuf->str);

            g_string_erase(vm->inbuf, 0, nl - vm->inbuf->str + 1);
            if (!keep_sample(vm, &line)) {
                g_free(line);   /* another event, or a late reply */
            }
        }
        if (vm->inbuf->len > QMP_LINE_MAX) {
            error_setg(errp, "QMP line longer than 16 MiB");
            vm_qmp_disconnect(vm);
            return false;
        }
    }
}

static void libvirt_error(Error **errp, const char *what)
{
    const char *msg = virGetLastErrorMessage();

    error_setg(errp, "%s: %s", what, msg ? msg : "unknown libvirt error");
}

/*
 * Send @cmd to @vm's QEMU through libvirt; the reply, or NULL.  libvirt
 * hands QEMU's error replies back as they are.
 */
static char *libvirt_command(Vm *vm, LvPool *pool, const char *cmd,
                             Error **errp)
{
    virDomainPtr dom = lvpool_begin(pool, &vm->lv, vm->uuid, errp);
    char *result = NULL;
    bool ok;

    if (!dom) {
        return NULL;
    }
    ok = virDomainQemuMonitorCommand(dom, cmd, &result, 0) == 0;
    if (!ok) {
        libvirt_error(errp, "libvirt");
    }
    lvpool_end(&vm->lv, !ok);
    return result;
}

VmSampling vm_libvirt_sampling(Vm *vm, LvPool *pool, unsigned interval_ms,
                               unsigned lease_ms, Error **errp)
{
    g_autofree char *args = sampling_args(interval_ms, lease_ms);
    g_autofree char *cmd = g_strdup_printf("{\"execute\": "
                                           "\"set-power-sampling\", "
                                           "\"arguments\": %s}", args);
    g_autofree char *result = libvirt_command(vm, pool, cmd, errp);

    return result ? sampling_result(result, errp) : VM_SAMPLING_FAILED;
}

VmSampling vm_libvirt_channel(Vm *vm, LvPool *pool, unsigned interval_ms,
                              int *chan, Error **errp)
{
    g_autofree char *args = channel_args(interval_ms);
    g_autofree char *cmd = g_strdup_printf("{\"execute\": "
                                           "\"set-power-sampling\", "
                                           "\"arguments\": %s}", args);
    g_autofree char *got = NULL, *result = NULL;
    virDomainPtr dom;
    VmSampling r = VM_SAMPLING_FAILED;
    int pair[2];
    bool ok;

    if (!channel_pair(pair, errp)) {
        return VM_SAMPLING_FAILED;
    }
    dom = lvpool_begin(pool, &vm->lv, vm->uuid, errp);
    if (!dom) {
        close(pair[0]);
        close(pair[1]);
        return VM_SAMPLING_FAILED;
    }
    /* as virsh qemu-monitor-command --pass-fds does */
    ok = virDomainQemuMonitorCommandWithFiles(
        dom, "{\"execute\": \"getfd\", \"arguments\": "
        "{\"fdname\": \"" CHANNEL_FDNAME "\"}}", 1, &pair[1], NULL, NULL,
        &got, 0) == 0;
    close(pair[1]);
    if (!ok) {
        libvirt_error(errp, "libvirt: getfd");
    } else if (strstr(got, "\"error\"")) {
        error_setg(errp, "getfd: %s", got);
        r = VM_SAMPLING_UNSUPPORTED;
    } else {
        ok = virDomainQemuMonitorCommand(dom, cmd, &result, 0) == 0;
        if (!ok) {
            libvirt_error(errp, "libvirt");
        } else {
            r = channel_result(result, errp);
        }
        if (r == VM_SAMPLING_UNSUPPORTED) {
            char *closed = NULL;

            if (virDomainQemuMonitorCommand(dom, "{\"execute\": "
                                            "\"closefd\", \"arguments\": "
                                            "{\"fdname\": \""
                                            CHANNEL_FDNAME "\"}}", &closed,
                                            0) == 0) {
                free(closed);
            }
        }
    }
    lvpool_end(&vm->lv, !ok);
    if (r == VM_SAMPLING_ON) {
        *chan = pair[0];
    } else {
        close(pair[0]);
    }
    return r;
}

char *vm_libvirt_call(Vm *vm, LvPool *pool, const char *cmd, Error **errp)
{
    g_autofree char *json = g_strdup_printf("{\"execute\": \"%s\"}", cmd);

    return libvirt_command(vm, pool, json, errp);
}

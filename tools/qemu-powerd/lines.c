/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: JSON lines over UNIX sockets, every wait bounded.
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sys/un.h>
#include "qapi/error.h"
#include "lines.h"

int lines_connect(const char *path, Error **errp)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        error_setg(errp, "Socket path too long: '%s'", path);
        return -1;
    }
    strcpy(addr.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not create a socket");
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        if (errno == EAGAIN) {
            error_setg(errp, "Nothing accepts connections on '%s' now",
                       path);
        } else {
            error_setg_errno(errp, errno, "Could not connect to '%s'", path);
        }
        close(fd);
        return -1;
    }
    return fd;
}

char *lines_read(int fd, GString *buf, size_t max, int64_t deadline,
                 Error **errp)
{
    for (;;) {
        char *nl = memchr(buf->str, '\n', buf->len);
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int64_t left = deadline - g_get_monotonic_time();
        char chunk[4096];
        ssize_t n;

        if (nl) {
            char *line = g_strndup(buf->str, nl - buf->str);

            g_string_erase(buf, 0, nl - buf->str + 1);
            return line;
        }
        if (buf->len > max) {
            error_setg(errp, "Line longer than %zu bytes", max);
            return NULL;
        }
        if (left <= 0 || poll(&pfd, 1, (left + 999) / 1000) == 0) {
            error_setg(errp, "No answer in time");
            return NULL;
        }
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n <= 0) {
            error_setg_errno(errp, n < 0 ? errno : ECONNRESET,
                             "Connection lost");
            return NULL;
        }
        g_string_append_len(buf, chunk, n);
    }
}

bool lines_send(int fd, const char *line, Error **errp)
{
    size_t len = strlen(line);

    if (send(fd, line, len, MSG_NOSIGNAL) != len) {
        error_setg_errno(errp, errno == EAGAIN ? ETIMEDOUT : errno,
                         "Could not send a request");
        return false;
    }
    return true;
}

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: JSON lines over UNIX sockets (QMP, qemu-power-helper),
 * every wait bounded by a deadline.
 */

#ifndef QEMU_POWERD_LINES_H
#define QEMU_POWERD_LINES_H

/*
 * Connect to the UNIX socket @path without blocking: a peer that does
 * not accept (stopped, or hung) fills its listen backlog, and a blocking
 * connect() would wait as long as the peer does.  Returns the socket
 * (non-blocking, close-on-exec) or -1.
 */
int lines_connect(const char *path, Error **errp);

/*
 * The next line of @fd, buffered in @buf, without its newline; waits
 * until @deadline (g_get_monotonic_time() microseconds) at most.  NULL
 * with @errp set on a timeout, the end of the stream, or a line longer
 * than @max bytes.
 */
char *lines_read(int fd, GString *buf, size_t max, int64_t deadline,
                 Error **errp);

/* Send @line (a few bytes: a socket that cannot take them is not read). */
bool lines_send(int fd, const char *line, Error **errp);

#endif

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: the read-only /metrics endpoint (libmicrohttpd).
 */

#ifndef QEMU_POWERD_HTTPD_H
#define QEMU_POWERD_HTTPD_H

typedef struct Httpd Httpd;

/* Listen on "ADDR:PORT" (IPv4, or [IPv6]:PORT). */
Httpd *httpd_start(const char *listen, Error **errp);
void httpd_stop(Httpd *h);

/* The text served from now on (taken over). */
void httpd_set_metrics(Httpd *h, char *text);

#endif

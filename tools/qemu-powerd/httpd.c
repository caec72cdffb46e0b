/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: serve the latest metrics at GET /metrics, nothing else.
 * libmicrohttpd does the HTTP; its thread reads the text under a lock.
 */

#include "qemu/osdep.h"
#include <microhttpd.h>
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "httpd.h"

struct Httpd {
    struct MHD_Daemon *mhd;
    GMutex lock;
    char *text;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code,
                             const char *type, char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body,
                                        MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;

    MHD_add_response_header(r, "Content-Type", type);
    ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *opaque, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *data,
                              size_t *data_size, void **state)
{
    Httpd *h = opaque;
    char *body;

    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
                     g_strdup("only GET\n"));
    }
    if (strcmp(url, "/metrics")) {
        return reply(c, MHD_HTTP_NOT_FOUND, "text/plain",
                     g_strdup("qemu-powerd serves /metrics\n"));
    }
    g_mutex_lock(&h->lock);
    body = g_strdup(h->text ? h->text : "");
    g_mutex_unlock(&h->lock);
    return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                 body);
}

Httpd *httpd_start(const char *listen, Error **errp)
{
    g_autofree char *host = NULL;
    const char *colon = strrchr(listen, ':');
    struct addrinfo hints = {
        .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
        .ai_socktype = SOCK_STREAM,
    };
    struct addrinfo *ai = NULL;
    uint64_t port;
    Httpd *h;

    if (!colon || parse_uint_full(colon + 1, 10, &port) < 0 || !port ||
        port > 65535 || !g_ascii_isdigit(colon[1])) {
        error_setg(errp, "--listen wants ADDR:PORT, not '%s'", listen);
        return NULL;
    }
    host = g_strndup(listen, colon - listen);
    if (host[0] == '[' && g_str_has_suffix(host, "]")) {
        memmove(host, host + 1, strlen(host) - 2);
        host[strlen(host) - 2] = '\0';
    }
    if (getaddrinfo(host, colon + 1, &hints, &ai) || !ai) {
        error_setg(errp, "--listen: '%s' is not a numeric address", host);
        return NULL;
    }
    h = g_new0(Httpd, 1);
    g_mutex_init(&h->lock);
    h->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
                              MHD_USE_ERROR_LOG |
                              (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                              port, NULL, NULL, handle, h,
                              MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                              MHD_OPTION_CONNECTION_LIMIT, 64,
                              MHD_OPTION_CONNECTION_TIMEOUT, 10,
                              MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->mhd) {
        error_setg(errp, "Could not listen on %s", listen);
        g_mutex_clear(&h->lock);
        g_free(h);
        return NULL;
    }
    return h;
}

void httpd_set_metrics(Httpd *h, char *text)
{
    g_mutex_lock(&h->lock);
    g_free(h->text);
    h->text = text;
    g_mutex_unlock(&h->lock);
}

void httpd_stop(Httpd *h)
{
    if (h) {
        MHD_stop_daemon(h->mhd);
        g_mutex_clear(&h->lock);
        g_free(h->text);
        g_free(h);
    }
}

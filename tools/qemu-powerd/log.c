/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: logging with syslog priorities and rate-limited repeats,
 * and the sd_notify(3) messages of a Type=notify service (readiness,
 * status, watchdog).  Without libsystemd the notifications do nothing.
 */

#include "qemu/osdep.h"
#ifdef CONFIG_POWERD_SYSTEMD
#include <systemd/sd-daemon.h>
#endif
#include "log.h"

/* Repeats kept per key; older keys are dropped above this many. */
#define LIMIT_KEYS 1024

typedef struct LimitEntry {
    int64_t since_us;           /* when it was last logged */
    unsigned suppressed;        /* lines not logged since then */
} LimitEntry;

static bool to_journal;
static int64_t watchdog_step_us;
static int64_t watchdog_last_us;
static GMutex log_lock;
static GHashTable *limits;      /* key -> LimitEntry, under log_lock */

/* JOURNAL_STREAM is "DEVICE:INODE" in decimal. */
static bool stderr_is_journal(void)
{
    const char *js = g_getenv("JOURNAL_STREAM");
    g_auto(GStrv) f = NULL;
    guint64 dev, ino;
    struct stat st;

    if (!js) {
        return false;
    }
    f = g_strsplit(js, ":", -1);
    return g_strv_length(f) == 2 &&
        g_ascii_string_to_unsigned(f[0], 10, 0, G_MAXUINT64, &dev, NULL) &&
        g_ascii_string_to_unsigned(f[1], 10, 0, G_MAXUINT64, &ino, NULL) &&
        fstat(STDERR_FILENO, &st) == 0 &&
        st.st_dev == dev && st.st_ino == ino;
}

void powerd_log_init(void)
{
    to_journal = stderr_is_journal();
#ifdef CONFIG_POWERD_SYSTEMD
    {
        uint64_t usec;

        /* 0: no WATCHDOG_USEC, or one meant for another process */
        if (sd_watchdog_enabled(0, &usec) > 0 && usec >= 4) {
            watchdog_step_us = usec / 4;
        }
    }
#endif
}

/*
 * @text with every control character escaped: a message may hold a VM's
 * name, and a tenant must not be able to forge a log line (or a journal
 * field, or a notification) with a newline in it.
 */
static void append_escaped(GString *out, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '\\') {
            g_string_append(out, "\\\\");
        } else if (*p < 0x20 || *p == 0x7f) {
            g_string_append_printf(out, "\\x%02x", *p);
        } else {
            g_string_append_c(out, *p);
        }
    }
}

static const char *label(int priority)
{
    switch (priority) {
    case LOG_EMERG:
    case LOG_ALERT:
    case LOG_CRIT:
    case LOG_ERR:
        return "error: ";
    case LOG_WARNING:
        return "warning: ";
    case LOG_NOTICE:
        return "notice: ";
    default:
        return "";
    }
}

static void write_line(int priority, const char *msg, unsigned suppressed)
{
    GString *line = g_string_new("");

    if (to_journal) {
        g_string_append_printf(line, "<%d>", priority & LOG_PRIMASK);
    } else {
        g_string_append_printf(line, "qemu-powerd: %s", label(priority));
    }
    append_escaped(line, msg);
    if (suppressed) {
        g_string_append_printf(line, " (%u similar message%s suppressed)",
                               suppressed, suppressed == 1 ? "" : "s");
    }
    g_string_append_c(line, '\n');
    /* one write: lines of different threads never interleave */
    if (qemu_write_full(STDERR_FILENO, line->str, line->len) != line->len) {
        /* nowhere left to say it */
    }
    g_string_free(line, true);
}

void powerd_log(int priority, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    write_line(priority, msg, 0);
}

/*
 * Whether @key may be logged now, and how many lines for it were held
 * back since it last was.  Caller holds log_lock.
 */
static bool limit_pass(const char *key, int64_t now, unsigned *suppressed)
{
    const int64_t window = POWERD_LOG_LIMIT_S * G_USEC_PER_SEC;
    LimitEntry *e;

    if (!limits) {
        limits = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                       g_free);
    }
    e = g_hash_table_lookup(limits, key);
    if (e && now - e->since_us < window) {
        e->suppressed++;
        return false;
    }
    if (!e) {
        if (g_hash_table_size(limits) >= LIMIT_KEYS) {
            GHashTableIter it;
            LimitEntry *old;

            /* keys whose minute is over lose only their summary */
            g_hash_table_iter_init(&it, limits);
            while (g_hash_table_iter_next(&it, NULL, (gpointer *)&old)) {
                if (now - old->since_us >= window) {
                    g_hash_table_iter_remove(&it);
                }
            }
        }
        e = g_new0(LimitEntry, 1);
        g_hash_table_insert(limits, g_strdup(key), e);
    }
    *suppressed = e->suppressed;
    e->suppressed = 0;
    e->since_us = now;
    return true;
}

static void G_GNUC_PRINTF(4, 0)
log_limited(int64_t now, int priority, const char *key, const char *fmt,
            va_list ap)
{
    g_autofree char *msg = NULL;
    unsigned suppressed = 0;
    bool pass;

    g_mutex_lock(&log_lock);
    pass = limit_pass(key, now, &suppressed);
    g_mutex_unlock(&log_lock);
    if (pass) {
        msg = g_strdup_vprintf(fmt, ap);
        write_line(priority, msg, suppressed);
    }
}

void powerd_log_limited(int priority, const char *key, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_limited(g_get_monotonic_time(), priority, key, fmt, ap);
    va_end(ap);
}

void powerd_log_limited_at(int64_t now_us, int priority, const char *key,
                           const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_limited(now_us, priority, key, fmt, ap);
    va_end(ap);
}

bool powerd_notify_available(void)
{
#ifdef CONFIG_POWERD_SYSTEMD
    return true;
#else
    return false;
#endif
}

static void notify(const char *state)
{
#ifdef CONFIG_POWERD_SYSTEMD
    /* < 0: the socket is gone; the service manager will notice */
    sd_notify(0, state);
#endif
}

void powerd_notify_ready(void)
{
    notify("READY=1");
}

void powerd_notify_stopping(void)
{
    notify("STOPPING=1");
}

void powerd_notify_status(const char *fmt, ...)
{
    GString *state = g_string_new("STATUS=");
    g_autofree char *text = NULL;
    va_list ap;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* a newline would start another assignment */
    append_escaped(state, text);
    notify(state->str);
    g_string_free(state, true);
}

int64_t powerd_watchdog_step_us(void)
{
    return watchdog_step_us;
}

void powerd_watchdog(void)
{
    int64_t now = g_get_monotonic_time();

    /*
     * Half a step apart at least: callers may ping often, and one that
     * sleeps a whole step between calls still pings every step.
     */
    if (watchdog_step_us && now - watchdog_last_us >= watchdog_step_us / 2) {
        watchdog_last_us = now;
        notify("WATCHDOG=1");
    }
}

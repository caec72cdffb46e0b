/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: what the daemon tells the operator (stderr, or the
 * journal with priorities) and the service manager (sd_notify).
 */

#ifndef QEMU_POWERD_LOG_H
#define QEMU_POWERD_LOG_H

#include <syslog.h>

/*
 * Read what the service manager says about us: whether stderr is the
 * journal (systemd's JOURNAL_STREAM names its device and inode), then
 * lines are "<N>message" so that journald records priority N, else
 * "qemu-powerd: warning: message"; and whether there is a watchdog.
 * Call once, before any thread starts; powerd_log() works without it
 * (plain lines).
 */
void powerd_log_init(void);

/*
 * One line at syslog @priority (LOG_ERR, LOG_WARNING, LOG_NOTICE,
 * LOG_INFO).  Control characters (a VM name may hold a newline) are
 * escaped, so one call is one line.  Any thread.
 */
void powerd_log(int priority, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/*
 * As powerd_log(), but at most once per POWERD_LOG_LIMIT_S seconds for the
 * same @key (e.g. "vm-failed:" and the VM's key): a VM that fails every
 * interval costs one line a minute.  The next line logged for @key says
 * how many were suppressed meanwhile.
 */
#define POWERD_LOG_LIMIT_S 60
void powerd_log_limited(int priority, const char *key, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/* powerd_log_limited() as at @now_us (g_get_monotonic_time()): tests */
void powerd_log_limited_at(int64_t now_us, int priority, const char *key,
                           const char *fmt, ...) G_GNUC_PRINTF(4, 5);

/*
 * sd_notify(3), when built with libsystemd and run by systemd
 * (NOTIFY_SOCKET); otherwise nothing happens.
 */
bool powerd_notify_available(void);
void powerd_notify_ready(void);
void powerd_notify_stopping(void);
void powerd_notify_status(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/*
 * The watchdog (WatchdogSec=): the longest the main loop may go without
 * calling powerd_watchdog(), in microseconds; 0 when there is no watchdog.
 * A quarter of WATCHDOG_USEC, so that two pings fall in every period even
 * when one is late.
 */
int64_t powerd_watchdog_step_us(void);

/* Ping the watchdog (WATCHDOG=1) if a step has passed since the last. */
void powerd_watchdog(void);

#endif

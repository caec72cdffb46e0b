/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Periodic power sampling: while a consumer holds a lease, emit a
 * POWER_SAMPLE event every interval, so that the consumer does not have
 * to ask each instance with query-power.  Samples are taken when
 * CLOCK_MONOTONIC crosses a multiple of the interval, so that instances
 * sampling at the same interval sample together and a consumer can pair
 * them with its own reading of the host's energy.
 *
 * Or, cheaper, into a channel the consumer passed in with getfd (a
 * SOCK_SEQPACKET socket): one record per sample, formatted here without
 * the QAPI visitor and sent to that socket alone, no monitor woken.  A
 * channel needs no lease: sampling ends when its other end closes.  The
 * record is documented in docs/qmp.rst ("The sampling channel").
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-power.h"
#include "qapi/qapi-events-power.h"
#include "monitor/monitor.h"
#include "qemu/main-loop.h"
#include "qemu/sockets.h"
#include "qemu/timer.h"
#include "power-internal.h"

#define INTERVAL_MIN_MS 100
#define INTERVAL_MAX_MS 3600000
#define INTERVAL_DEFAULT_MS 1000
#define LEASE_MIN_MS 1000
#define LEASE_MAX_MS 86400000
#define LEASE_DEFAULT_MS 60000
/* The channel record's version: docs/qmp.rst. */
#define CHANNEL_RECORD_VERSION 2

typedef struct PowerSampler {
    QEMUTimer *timer;
    bool active;
    uint32_t interval_ms;
    uint32_t lease_ms;
    int64_t lease_end_ns;       /* QEMU_CLOCK_REALTIME */
    bool host_energy;
    uint64_t samples;
    int channel;                /* the consumer's socket, -1: events */
    uint64_t dropped;           /* records the channel had no room for */
    PowerSamplingStop stop_reason;
} PowerSampler;

static PowerSampler sampler = {
    .channel = -1,
    .stop_reason = POWER_SAMPLING_STOP_NOT_STARTED,
};

/*
 * QEMU_CLOCK_REALTIME is CLOCK_MONOTONIC on Linux, the clock of
 * query-power's timestamp-ns and of every other process on the host.
 */
static int64_t now_ns(void)
{
    return qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
}

static void channel_close(void)
{
    if (sampler.channel >= 0) {
        qemu_set_fd_handler(sampler.channel, NULL, NULL, NULL);
        close(sampler.channel);
        sampler.channel = -1;
    }
}

static void sampler_stop(PowerSamplingStop why)
{
    sampler.active = false;
    sampler.stop_reason = why;
    timer_del(sampler.timer);
    channel_close();
}

/*
 * The consumer writes nothing to its channel: readable means its end
 * closed (or it broke the protocol, which ends sampling as well).
 */
static void channel_readable(void *opaque)
{
    char c;
    ssize_t n = recv(sampler.channel, &c, 1, MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
                  errno == EINTR)) {
        return;
    }
    sampler_stop(POWER_SAMPLING_STOP_CHANNEL_CLOSED);
}

/* The lease may have run out between two samples (events only). */
static void sampler_check_lease(void)
{
    if (sampler.active && sampler.channel < 0 &&
        now_ns() >= sampler.lease_end_ns) {
        sampler_stop(POWER_SAMPLING_STOP_LEASE_EXPIRED);
    }
}

/* Wake at the next multiple of the interval, or when the lease ends. */
static void sampler_schedule(void)
{
    int64_t step = (int64_t)sampler.interval_ms * SCALE_MS;
    int64_t next = (now_ns() / step + 1) * step;

    timer_mod_ns(sampler.timer, sampler.channel >= 0 ? next :
                 MIN(next, sampler.lease_end_ns));
}

/*
 * One record on the channel: a flat JSON object, on the stack, in one
 * message.  A full channel loses this record (seq tells the consumer);
 * a closed one ends sampling.
 */
static void channel_send(void)
{
    PowerTotals t;
    char rec[512];
    int len;
    ssize_t n;

    if (!power_counters_totals(&t)) {
        /* counters cannot go away; be safe all the same */
        sampler_stop(POWER_SAMPLING_STOP_CHANNEL_CLOSED);
        return;
    }
    len = snprintf(rec, sizeof(rec), "{\"version\": %d, \"seq\": %" PRIu64
                   ", \"timestamp-ns\": %" PRIu64 ", \"counter-source\": "
                   "\"%s\", \"counter-kernel-excluded\": %s, "
                   "\"instance-count\": %" PRIu64 ", \"vcpu-count\": %"
                   PRIu64 ", \"vcpus\": %u, \"dropped\": %" PRIu64 "}\n",
                   CHANNEL_RECORD_VERSION, sampler.samples, t.timestamp_ns,
                   t.source, t.kernel_excluded ? "true" : "false",
                   t.instance_count, t.vcpu_count, t.vcpus, sampler.dropped);
    assert(len > 0 && len < sizeof(rec));
    do {
        n = send(sampler.channel, rec, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
                  errno == ENOBUFS)) {
        sampler.dropped++;
    } else if (n != len) {
        sampler_stop(POWER_SAMPLING_STOP_CHANNEL_CLOSED);
    }
}

static void sampler_tick(void *opaque)
{
    g_autoptr(PowerSample) s = NULL;

    sampler_check_lease();
    if (!sampler.active) {
        return;
    }
    if (sampler.channel >= 0) {
        sampler.samples++;
        channel_send();
        if (sampler.active) {
            sampler_schedule();
        }
        return;
    }
    s = g_new0(PowerSample, 1);
    power_counters_snapshot(qapi_PowerSample_base(s));
    s->seq = ++sampler.samples;
    s->interval_ms = sampler.interval_ms;
    if (sampler.host_energy) {
        s->host_energy = power_host_energy_snapshot();
    }
    qapi_event_send_power_sample(s);
    sampler_schedule();
}

PowerSampling *power_sampling_state(void)
{
    PowerSampling *st = g_new0(PowerSampling, 1);

    sampler_check_lease();
    st->active = sampler.active;
    st->samples = sampler.samples;
    if (sampler.active && sampler.channel >= 0) {
        st->has_interval_ms = true;
        st->interval_ms = sampler.interval_ms;
        st->has_channel = true;
        st->channel = true;
        st->has_dropped = true;
        st->dropped = sampler.dropped;
    } else if (sampler.active) {
        st->has_interval_ms = true;
        st->interval_ms = sampler.interval_ms;
        st->has_channel = true;
        st->channel = false;
        st->has_lease_ms = true;
        st->lease_ms = sampler.lease_ms;
        st->has_lease_left_ms = true;
        st->lease_left_ms = DIV_ROUND_UP(sampler.lease_end_ns - now_ns(),
                                         SCALE_MS);
        st->has_host_energy = true;
        st->host_energy = sampler.host_energy;
    } else {
        st->has_stop_reason = true;
        st->stop_reason = sampler.stop_reason;
    }
    return st;
}

/*
 * Take the socket the monitor holds as @name (getfd): a connected
 * SOCK_SEQPACKET socket, made non-blocking, watched for its peer's
 * close.  Anything else is refused and closed.
 */
static int channel_open(const char *name, Error **errp)
{
    int fd, type;
    socklen_t len = sizeof(type);
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    const char *why;

    fd = monitor_get_fd(monitor_cur(), name, errp);
    if (fd < 0) {
        return -1;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
        why = "is not a socket";
    } else if (type != SOCK_SEQPACKET) {
        why = "is not a SOCK_SEQPACKET socket";
    } else if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0) {
        why = "is not connected";
    } else {
        qemu_socket_set_nonblock(fd);
        return fd;
    }
    error_setg(errp, "'channel' '%s' %s (it is closed): pass one end of "
               "a socketpair(AF_UNIX, SOCK_SEQPACKET)", name, why);
    close(fd);
    return -1;
}

PowerSampling *qmp_set_power_sampling(bool enable,
                                      bool has_interval_ms,
                                      uint32_t interval_ms,
                                      bool has_lease_ms, uint32_t lease_ms,
                                      bool has_host_energy,
                                      bool host_energy,
                                      const char *channel, Error **errp)
{
    const char *no_counters;
    int fd = -1;

    if (!enable) {
        if (has_interval_ms || has_lease_ms || has_host_energy || channel) {
            error_setg(errp, "With 'enable' false, set-power-sampling "
                       "takes no other argument");
            return NULL;
        }
        sampler_check_lease();
        if (sampler.active) {
            sampler_stop(POWER_SAMPLING_STOP_STOPPED);
        }
        return power_sampling_state();
    }

    if (!has_interval_ms) {
        interval_ms = INTERVAL_DEFAULT_MS;
    }
    if (interval_ms < INTERVAL_MIN_MS || interval_ms > INTERVAL_MAX_MS) {
        error_setg(errp, "'interval-ms' must be between %d and %d, not %"
                   PRIu32, INTERVAL_MIN_MS, INTERVAL_MAX_MS, interval_ms);
        return NULL;
    }
    if (!has_lease_ms) {
        lease_ms = MAX(LEASE_DEFAULT_MS, interval_ms);
    }
    if (lease_ms < MAX(LEASE_MIN_MS, interval_ms)) {
        error_setg(errp, "'lease-ms' must be at least %d and at least "
                   "'interval-ms' (%" PRIu32 "), not %" PRIu32,
                   LEASE_MIN_MS, interval_ms, lease_ms);
        return NULL;
    }
    if (lease_ms > LEASE_MAX_MS) {
        error_setg(errp, "'lease-ms' must be at most %d (24 hours), not %"
                   PRIu32, LEASE_MAX_MS, lease_ms);
        return NULL;
    }

    sampler_check_lease();
    if (channel) {
        if (has_lease_ms || has_host_energy) {
            error_setg(errp, "A 'channel' takes no 'lease-ms' (sampling "
                       "ends when the channel closes) and no 'host-energy'");
            return NULL;
        }
        if (sampler.active) {
            error_setg(errp, "Sampling is already active%s: stop it first "
                       "(enable false); '%s' stays with the monitor",
                       sampler.channel >= 0 ? " on a channel" :
                       " with events", channel);
            return NULL;
        }
        no_counters = power_counters_unavailable();
        if (no_counters) {
            error_setg(errp, "No counters to sample on a channel: %s; "
                       "'%s' stays with the monitor", no_counters, channel);
            return NULL;
        }
        fd = channel_open(channel, errp);
        if (fd < 0) {
            return NULL;
        }
    } else if (sampler.active && sampler.channel >= 0) {
        error_setg(errp, "Sampling writes to a channel: stop it first "
                   "(enable false) to sample with events");
        return NULL;
    }
    if (!sampler.timer) {
        sampler.timer = timer_new_ns(QEMU_CLOCK_REALTIME, sampler_tick, NULL);
    }
    if (!sampler.active) {
        sampler.samples = 0;
    }
    sampler.active = true;
    sampler.interval_ms = interval_ms;
    sampler.lease_ms = lease_ms;
    sampler.lease_end_ns = now_ns() + (int64_t)lease_ms * SCALE_MS;
    sampler.host_energy = has_host_energy && host_energy;
    if (fd >= 0) {
        sampler.channel = fd;
        sampler.dropped = 0;
        qemu_set_fd_handler(fd, channel_readable, NULL, NULL);
    }
    /* the same boundaries as before if the interval is unchanged */
    sampler_schedule();
    return power_sampling_state();
}

PowerSampling *qmp_query_power_sampling(Error **errp)
{
    return power_sampling_state();
}

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Periodic power sampling: while a consumer holds a lease, emit a
 * POWER_SAMPLE event every interval, so that the consumer does not have
 * to ask each instance with query-power.  Samples are taken when
 * CLOCK_MONOTONIC crosses a multiple of the interval, so that instances
 * sampling at the same interval sample together and a consumer can pair
 * them with its own reading of the host's energy.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-power.h"
#include "qapi/qapi-events-power.h"
#include "qemu/timer.h"
#include "power-internal.h"

#define INTERVAL_MIN_MS 100
#define INTERVAL_MAX_MS 3600000
#define INTERVAL_DEFAULT_MS 1000
#define LEASE_MIN_MS 1000
#define LEASE_MAX_MS 86400000
#define LEASE_DEFAULT_MS 60000

typedef struct PowerSampler {
    QEMUTimer *timer;
    bool active;
    uint32_t interval_ms;
    uint32_t lease_ms;
    int64_t lease_end_ns;       /* QEMU_CLOCK_REALTIME */
    bool host_energy;
    uint64_t samples;
    PowerSamplingStop stop_reason;
} PowerSampler;

static PowerSampler sampler = {
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

static void sampler_stop(PowerSamplingStop why)
{
    sampler.active = false;
    sampler.stop_reason = why;
    timer_del(sampler.timer);
}

/* The lease may have run out between two samples. */
static void sampler_check_lease(void)
{
    if (sampler.active && now_ns() >= sampler.lease_end_ns) {
        sampler_stop(POWER_SAMPLING_STOP_LEASE_EXPIRED);
    }
}

/* Wake at the next multiple of the interval, or when the lease ends. */
static void sampler_schedule(void)
{
    int64_t step = (int64_t)sampler.interval_ms * SCALE_MS;
    int64_t next = (now_ns() / step + 1) * step;

    timer_mod_ns(sampler.timer, MIN(next, sampler.lease_end_ns));
}

static void sampler_tick(void *opaque)
{
    g_autoptr(PowerSample) s = NULL;

    sampler_check_lease();
    if (!sampler.active) {
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
    if (sampler.active) {
        st->has_interval_ms = true;
        st->interval_ms = sampler.interval_ms;
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

PowerSampling *qmp_set_power_sampling(bool enable,
                                      bool has_interval_ms,
                                      uint32_t interval_ms,
                                      bool has_lease_ms, uint32_t lease_ms,
                                      bool has_host_energy,
                                      bool host_energy, Error **errp)
{
    if (!enable) {
        if (has_interval_ms || has_lease_ms || has_host_energy) {
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
    /* the same boundaries as before if the interval is unchanged */
    sampler_schedule();
    return power_sampling_state();
}

PowerSampling *qmp_query_power_sampling(Error **errp)
{
    return power_sampling_state();
}

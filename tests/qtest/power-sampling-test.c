/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qtests for periodic power sampling: set-power-sampling,
 * query-power-sampling and the POWER_SAMPLE event, their validation,
 * the alignment of samples on the interval, and the lease that stops
 * sampling when nobody renews it.
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qapi/error.h"
#include "qobject/qjson.h"
#include "qemu/timer.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"

static uint64_t now_ns(void)
{
    return g_get_monotonic_time() * SCALE_US;
}

static uint64_t get_u64(QDict *d, const char *key)
{
    g_assert(qdict_haskey(d, key));
    return qnum_get_uint(qobject_to(QNum, qdict_get(d, key)));
}

/* set-power-sampling with @args, the members of a JSON object */
static QDict *sampling_request(QTestState *qts, const char *args)
{
    g_autofree char *json = g_strdup_printf("{ %s }", args);

    return qtest_qmp(qts, "{ 'execute': 'set-power-sampling', "
                     "'arguments': %p }",
                     qobject_from_json(json, &error_abort));
}

/* The same, for a request that must succeed: its return value */
static QDict *sampling_set(QTestState *qts, const char *args)
{
    QDict *rsp = sampling_request(qts, args);
    QDict *ret;

    g_assert(qdict_haskey(rsp, "return"));
    ret = qdict_get_qdict(rsp, "return");
    qobject_ref(ret);
    qobject_unref(rsp);
    return ret;
}

static QDict *sampling_query(QTestState *qts)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-power-sampling' }");
    QDict *ret = qdict_get_qdict(rsp, "return");

    qobject_ref(ret);
    qobject_unref(rsp);
    return ret;
}

static void assert_stopped(QTestState *qts, const char *reason)
{
    g_autoptr(QDict) st = sampling_query(qts);

    g_assert_false(qdict_get_bool(st, "active"));
    g_assert_cmpstr(qdict_get_str(st, "stop-reason"), ==, reason);
    g_assert_false(qdict_haskey(st, "interval-ms"));
}

/* Each bad request fails with its message and changes nothing. */
static void test_bad_arguments(void)
{
    static const struct {
        const char *args;
        const char *error;
    } cases[] = {
        { "'enable': true, 'interval-ms': 99", "between 100 and 3600000" },
        { "'enable': true, 'interval-ms': 0", "between 100 and 3600000" },
        { "'enable': true, 'interval-ms': 3600001",
          "between 100 and 3600000" },
        { "'enable': true, 'interval-ms': -1", "expects uint32_t" },
        { "'enable': true, 'interval-ms': 4294967296", "expects uint32_t" },
        { "'enable': true, 'interval-ms': 1.5", "expects uint64" },
        { "'enable': true, 'interval-ms': '100'", "expects uint64" },
        { "'enable': true, 'lease-ms': 0", "'lease-ms' must be at least" },
        { "'enable': true, 'lease-ms': 999", "'lease-ms' must be at least" },
        { "'enable': true, 'interval-ms': 5000, 'lease-ms': 4000",
          "at least 'interval-ms' (5000)" },
        { "'enable': true, 'lease-ms': 86400001", "at most 86400000" },
        { "'enable': true, 'lease-ms': 4294967295", "at most 86400000" },
        { "'enable': false, 'interval-ms': 100", "takes no other argument" },
        { "'enable': false, 'lease-ms': 1000", "takes no other argument" },
        { "'enable': false, 'host-energy': false",
          "takes no other argument" },
        { "'enable': 'yes'", "expected: boolean" },
        { "'enable': true, 'host-energy': 1", "expected: boolean" },
        { "'enable': true, 'consumer': 'x'", "Parameter 'consumer' is "
          "unexpected" },
        { "'interval-ms': 100", "'enable' is missing" },
    };
    QTestState *qts = qtest_init("-M none");

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        QDict *rsp = sampling_request(qts, cases[i].args);
        QDict *err = qdict_get_qdict(rsp, "error");

        g_assert_nonnull(err);
        if (!strstr(qdict_get_str(err, "desc"), cases[i].error)) {
            g_error("%s: got '%s', expected '%s'", cases[i].args,
                    qdict_get_str(err, "desc"), cases[i].error);
        }
        qobject_unref(rsp);
    }
    assert_stopped(qts, "not-started");
    g_assert_null(qtest_qmp_event_ref(qts, "POWER_SAMPLE"));
    qtest_quit(qts);
}

/*
 * Samples come every interval, on multiples of it, numbered from 1,
 * with the same counters as query-power.
 */
static void test_events(void)
{
    const uint64_t step = 100 * SCALE_MS;
    QTestState *qts = qtest_init("-M pc -accel tcg -smp 2 -display none");
    g_autoptr(QDict) st = sampling_set(qts, "'enable': true, "
                                       "'interval-ms': 100, "
                                       "'lease-ms': 10000");
    uint64_t prev_ts = 0, prev_count = 0;

    g_assert_true(qdict_get_bool(st, "active"));
    g_assert_cmpuint(get_u64(st, "interval-ms"), ==, 100);
    g_assert_cmpuint(get_u64(st, "lease-ms"), ==, 10000);
    g_assert_cmpuint(get_u64(st, "lease-left-ms"), <=, 10000);
    g_assert_cmpuint(get_u64(st, "lease-left-ms"), >, 9000);
    g_assert_false(qdict_get_bool(st, "host-energy"));
    for (uint64_t seq = 1; seq <= 5; seq++) {
        g_autoptr(QDict) ev = qtest_qmp_eventwait_ref(qts, "POWER_SAMPLE");
        QDict *d = qdict_get_qdict(ev, "data");
        uint64_t ts = get_u64(d, "timestamp-ns");
        QList *vcpus = qdict_get_qlist(d, "vcpus");

        g_assert_cmpuint(get_u64(d, "seq"), ==, seq);
        g_assert_cmpuint(get_u64(d, "interval-ms"), ==, 100);
        g_assert_false(qdict_haskey(d, "host-energy"));
        g_assert_cmpuint(qlist_size(vcpus), ==, 2);
        g_assert_cmpstr(qdict_get_str(d, "counter-source"), !=, "");
        g_assert_cmpuint(get_u64(d, "instance-count"), >=, prev_count);
        g_assert_cmpuint(get_u64(d, "instance-count"), >=,
                         get_u64(d, "vcpu-count"));
        /* each sample in its own interval, after its boundary */
        g_assert_cmpuint(ts / step, >, prev_ts / step);
        g_assert_cmpuint(ts, <=, now_ns());
        prev_ts = ts;
        prev_count = get_u64(d, "instance-count");
    }
    qtest_quit(qts);
}

static void test_host_energy(void)
{
    QTestState *qts = qtest_init("-M none");
    g_autoptr(QDict) st = sampling_set(qts, "'enable': true, "
                                       "'interval-ms': 100, "
                                       "'host-energy': true");
    g_autoptr(QDict) ev = qtest_qmp_eventwait_ref(qts, "POWER_SAMPLE");
    QDict *he = qdict_get_qdict(qdict_get_qdict(ev, "data"), "host-energy");

    g_assert_true(qdict_get_bool(st, "host-energy"));
    g_assert_nonnull(he);
    g_assert_true(qdict_haskey(he, "available"));
    g_assert_true(qdict_haskey(he, "zones"));
    qtest_quit(qts);
}

/*
 * Drain the samples received so far; returns how many, and the newest
 * timestamp in @last_ts.
 */
static uint64_t drain(QTestState *qts, uint64_t *last_ts)
{
    uint64_t n = 0;
    QDict *ev;

    while ((ev = qtest_qmp_event_ref(qts, "POWER_SAMPLE"))) {
        *last_ts = MAX(*last_ts, get_u64(qdict_get_qdict(ev, "data"),
                                         "timestamp-ns"));
        n++;
        qobject_unref(ev);
    }
    return n;
}

/* Nobody renews: sampling stops within the lease, and stays stopped. */
static void test_lease_expires(void)
{
    QTestState *qts = qtest_init("-M none");
    uint64_t start = now_ns(), last_ts = 0, n;
    g_autoptr(QDict) st = sampling_set(qts, "'enable': true, "
                                       "'interval-ms': 100, "
                                       "'lease-ms': 1000");
    g_autoptr(QDict) after = NULL;

    g_usleep(1500 * 1000);
    after = sampling_query(qts);
    g_assert_false(qdict_get_bool(after, "active"));
    g_assert_cmpstr(qdict_get_str(after, "stop-reason"), ==,
                    "lease-expired");
    n = drain(qts, &last_ts);
    g_assert_cmpuint(n, ==, get_u64(after, "samples"));
    g_assert_cmpuint(n, >=, 3);
    g_assert_cmpuint(n, <=, 10);
    g_assert_cmpuint(last_ts, <, now_ns());
    /* the lease began after start, so it ended before start + lease */
    g_assert_cmpuint(last_ts, <, start + 1100 * SCALE_MS);

    g_usleep(500 * 1000);
    assert_stopped(qts, "lease-expired");
    g_assert_cmpuint(drain(qts, &last_ts), ==, 0);
    qtest_quit(qts);
}

/* A renewal extends the lease and keeps the numbering. */
static void test_lease_renewed(void)
{
    QTestState *qts = qtest_init("-M none");
    g_autoptr(QDict) st = sampling_set(qts, "'enable': true, "
                                       "'interval-ms': 100, "
                                       "'lease-ms': 1000");
    g_autoptr(QDict) renewed = NULL, after = NULL;
    uint64_t last_ts = 0;

    g_usleep(700 * 1000);
    renewed = sampling_set(qts, "'enable': true, 'interval-ms': 100, "
                           "'lease-ms': 1000");
    g_assert_cmpuint(get_u64(renewed, "samples"), >=, 1);
    g_assert_cmpuint(get_u64(renewed, "lease-left-ms"), >, 900);
    g_usleep(700 * 1000);
    after = sampling_query(qts);
    g_assert_true(qdict_get_bool(after, "active"));
    g_assert_cmpuint(get_u64(after, "samples"), >,
                     get_u64(renewed, "samples"));
    g_assert_cmpuint(drain(qts, &last_ts), ==, get_u64(after, "samples"));
    qtest_quit(qts);
}

/*
 * Stopping is immediate.  A second request with another interval
 * replaces the first (the documented rule for two consumers), and so
 * does its host-energy choice.
 */
static void test_change_and_stop(void)
{
    QTestState *qts = qtest_init("-M none");
    g_autoptr(QDict) a = sampling_set(qts, "'enable': true, "
                                      "'interval-ms': 100, "
                                      "'host-energy': true");
    g_autoptr(QDict) b = sampling_set(qts, "'enable': true, "
                                      "'interval-ms': 200");
    g_autoptr(QDict) ev = NULL, stopped = NULL;
    g_autofree char *hmp = NULL;
    uint64_t last_ts = 0;

    g_assert_cmpuint(get_u64(b, "interval-ms"), ==, 200);
    g_assert_cmpuint(get_u64(b, "lease-ms"), ==, 60000);
    g_assert_false(qdict_get_bool(b, "host-energy"));
    drain(qts, &last_ts);
    ev = qtest_qmp_eventwait_ref(qts, "POWER_SAMPLE");
    g_assert_cmpuint(get_u64(qdict_get_qdict(ev, "data"), "interval-ms"), ==,
                     200);
    g_assert_false(qdict_haskey(qdict_get_qdict(ev, "data"), "host-energy"));

    hmp = qtest_hmp(qts, "info power");
    g_assert_nonnull(strstr(hmp, "sampling: every 200 ms, lease 60000 ms"));

    stopped = sampling_set(qts, "'enable': false");
    g_assert_false(qdict_get_bool(stopped, "active"));
    g_assert_cmpstr(qdict_get_str(stopped, "stop-reason"), ==, "stopped");
    drain(qts, &last_ts);
    g_usleep(500 * 1000);
    assert_stopped(qts, "stopped");
    g_assert_cmpuint(drain(qts, &last_ts), ==, 0);
    g_free(hmp);
    hmp = qtest_hmp(qts, "info power");
    g_assert_nonnull(strstr(hmp, "sampling: off (stopped)"));
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("power-sampling/bad-arguments", test_bad_arguments);
    qtest_add_func("power-sampling/events", test_events);
    qtest_add_func("power-sampling/host-energy", test_host_energy);
    qtest_add_func("power-sampling/lease-expires", test_lease_expires);
    qtest_add_func("power-sampling/lease-renewed", test_lease_renewed);
    qtest_add_func("power-sampling/change-and-stop", test_change_and_stop);
    return g_test_run();
}

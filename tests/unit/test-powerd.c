/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Tests for qemu-powerd's pure parts: the attribution maths, query-power
 * reply parsing (golden replies, good and malformed), /proc/stat parsing
 * and the state file.
 */

#include "qemu/osdep.h"
#include <math.h>
#include "qapi/error.h"
#include "qemu/timer.h"
#include "../../tools/qemu-powerd/attribution.h"
#include "../../tools/qemu-powerd/host.h"
#include "../../tools/qemu-powerd/log.h"
#include "../../tools/qemu-powerd/sample.h"
#include "../../tools/qemu-powerd/state.h"

#define EPS (1.0 / 1000000000)

#define G (1000.0 * 1000 * 1000)

/*
 * One zone, three VMs, hand-computed: per case the interval and the
 * host's work (ns), the zone's power and idle, the VMs, and what each
 * part must come to.  Every case's parts add up to the measured power.
 */
static void test_interval(void)
{
    static const struct {
        const char *what;
        double dt, host_work, watts, idle;
        AttrIdleMethod method;
        AttrVmIn vms[3];
        /* expected */
        double shares[3], vm_watts[3], idle_used, unattributed, other;
        double ratio;
    } cases[] = {
        { "a VM's share of the active power; a new VM's work is other",
          2, 8 * G, 60, 20, ATTR_IDLE_GIVEN,
          { { ATTR_VM_OK, 1 * G }, { ATTR_VM_OK, 2 * G },
            { ATTR_VM_NEW, 0, 3 * G } },
          { 0.25, 0.5, 0 }, { 10, 20, 0 }, 20, 0, 10, 0.75 },
        { "a failed VM's part is unattributed, not other",
          2, 8 * G, 60, 20, ATTR_IDLE_GIVEN,
          { { ATTR_VM_OK, 1 * G }, { ATTR_VM_OK, 2 * G },
            { ATTR_VM_FAILED, 0, 0.5 * G } },
          { 0.25, 0.5, 0 }, { 10, 20, 0 }, 20, 5, 5, 0.75 },
        { "capped: the unattributed part takes only what is left",
          1, 4 * G, 60, 20, ATTR_IDLE_GIVEN,
          { { ATTR_VM_OK, 1 * G }, { ATTR_VM_OK, 2 * G },
            { ATTR_VM_FAILED, 0, 3 * G } },
          { 0.25, 0.5, 0 }, { 10, 20, 0 }, 20, 10, 0, 0.75 },
        { "a failed VM never measured: nothing to go by, other",
          1, 4 * G, 60, 20, ATTR_IDLE_GIVEN,
          { { ATTR_VM_OK, 1 * G }, { ATTR_VM_FAILED, 0, 0 },
            { ATTR_VM_FAILED, 7 * G, 0 } },
          { 0.25, 0, 0 }, { 10, 0, 0 }, 20, 0, 30, 0.25 },
        { "the VMs did more than the host: all of it, ratio visible",
          1, 2 * G, 60, 20, ATTR_IDLE_GIVEN,
          { { ATTR_VM_OK, 1.5 * G }, { ATTR_VM_OK, 1.5 * G },
            { ATTR_VM_NEW } },
          { 0.5, 0.5, 0 }, { 20, 20, 0 }, 20, 0, 0, 1.5 },
        { "no idle power known yet: every watt is split by work",
          2, 8 * G, 60, 20, ATTR_IDLE_NONE_YET,
          { { ATTR_VM_OK, 1 * G }, { ATTR_VM_OK, 2 * G }, { ATTR_VM_NEW } },
          { 0.25, 0.5, 0 }, { 15, 30, 0 }, 0, 0, 15, 0.75 },
        { "the regression's idle power is used as given",
          2, 8 * G, 60, 30, ATTR_IDLE_REGRESSION,
          { { ATTR_VM_OK, 1 * G }, { ATTR_VM_OK, 2 * G }, { ATTR_VM_NEW } },
          { 0.25, 0.5, 0 }, { 7.5, 15, 0 }, 30, 0, 7.5, 0.75 },
        { "below the idle power: all idle",
          1, 4 * G, 15, 20, ATTR_IDLE_GIVEN,
          { { ATTR_VM_OK, 1 * G }, { ATTR_VM_OK, 2 * G },
            { ATTR_VM_FAILED, 0, 1 * G } },
          { 0.25, 0.5, 0 }, { 0, 0, 0 }, 15, 0, 0, 0.75 },
        { "nonsense rates count as no work",
          1, 4 * G, 60, 20, ATTR_IDLE_GIVEN,
          { { ATTR_VM_OK, -1 * G }, { ATTR_VM_OK, NAN },
            { ATTR_VM_OK, INFINITY } },
          { 0, 0, 0 }, { 0, 0, 0 }, 20, 0, 40, 0 },
        { "a negative idle power is none",
          1, 4 * G, 60, -20, ATTR_IDLE_GIVEN,
          { { ATTR_VM_OK, 1 * G }, { ATTR_VM_NEW }, { ATTR_VM_NEW } },
          { 0.25, 0, 0 }, { 15, 0, 0 }, 0, 0, 45, 0.25 },
        { "the host's work went backwards: the VMs' is all there is",
          1, NAN, 60, 20, ATTR_IDLE_GIVEN,
          { { ATTR_VM_OK, 1 * G }, { ATTR_VM_OK, 3 * G }, { ATTR_VM_NEW } },
          { 0.25, 0.75, 0 }, { 10, 30, 0 }, 20, 0, 0, NAN },
    };

    for (int c = 0; c < ARRAY_SIZE(cases); c++) {
        AttrZoneIn zin = {
            .watts = cases[c].watts, .idle_watts = cases[c].idle,
            .idle_method = cases[c].method,
        };
        AttrIn in = {
            .interval_s = cases[c].dt, .host_work = cases[c].host_work,
            .busy = 1, .total = 2,
            .nzones = 1, .zones = &zin, .nvms = 3, .vms = cases[c].vms,
        };
        AttrZoneOut zo;
        double shares[3], watts[3];
        AttrOut out = { .zones = &zo, .shares = shares, .vm_watts = watts };
        double vms = 0;

        g_test_message("case %d: %s", c, cases[c].what);
        g_assert_true(attr_interval(&in, &out));
        g_assert_true(zo.valid);
        for (int i = 0; i < 3; i++) {
            g_assert_cmpfloat_with_epsilon(shares[i], cases[c].shares[i], EPS);
            g_assert_cmpfloat_with_epsilon(watts[i], cases[c].vm_watts[i],
                                           EPS);
            vms += watts[i];
        }
        g_assert_cmpfloat_with_epsilon(zo.watts, cases[c].watts, EPS);
        g_assert_cmpfloat_with_epsilon(zo.idle_watts, cases[c].idle_used,
                                       EPS);
        g_assert_cmpfloat_with_epsilon(zo.active_watts,
                                       cases[c].watts - cases[c].idle_used,
                                       EPS);
        g_assert_cmpfloat_with_epsilon(zo.vms_watts, vms, EPS);
        g_assert_cmpfloat_with_epsilon(zo.unattributed_watts,
                                       cases[c].unattributed, EPS);
        g_assert_cmpfloat_with_epsilon(zo.other_watts, cases[c].other, EPS);
        g_assert_cmpfloat_with_epsilon(zo.idle_watts + zo.vms_watts +
                                       zo.unattributed_watts + zo.other_watts,
                                       cases[c].watts, EPS);
        if (isnan(cases[c].ratio)) {
            g_assert_true(isnan(out.work_ratio));
        } else {
            g_assert_cmpfloat_with_epsilon(out.work_ratio, cases[c].ratio,
                                           EPS);
        }
        g_assert_cmpfloat_with_epsilon(out.utilisation, 0.5, EPS);
    }
}

/* No interval: nothing attributed, nothing left over from before. */
static void test_interval_empty(void)
{
    static const double lengths[] = { 0, -1, NAN, INFINITY };
    AttrZoneIn zin = { .watts = 60, .idle_watts = 20 };
    AttrVmIn vm = { ATTR_VM_OK, 1 * G };

    for (int c = 0; c < ARRAY_SIZE(lengths); c++) {
        AttrIn in = {
            .interval_s = lengths[c], .host_work = 2 * G, .busy = 1,
            .total = 2, .nzones = 1, .zones = &zin, .nvms = 1, .vms = &vm,
        };
        AttrZoneOut zo = { .valid = true, .watts = 99, .other_watts = 99 };
        double share = 99, watts = 99;
        AttrOut out = { .zones = &zo, .shares = &share, .vm_watts = &watts };

        g_assert_false(attr_interval(&in, &out));
        g_assert_false(zo.valid);
        g_assert_cmpfloat(zo.watts, ==, 0);
        g_assert_cmpfloat(zo.other_watts, ==, 0);
        g_assert_cmpfloat(share, ==, 0);
        g_assert_cmpfloat(watts, ==, 0);
        g_assert_true(isnan(out.work_ratio));
    }
}

/*
 * Two zones, one of them measured nonsense: that zone is invalid and
 * all 0 (no power known is not 0 W of anything), the other unharmed.
 */
static void test_interval_bad_zone(void)
{
    static const double bad[] = { NAN, -5, INFINITY };
    AttrVmIn vms[2] = { { ATTR_VM_OK, 1 * G }, { ATTR_VM_OK, 1 * G } };

    for (int c = 0; c < ARRAY_SIZE(bad); c++) {
        AttrZoneIn zin[2] = {
            { .watts = bad[c], .idle_watts = 5 },
            { .watts = 30, .idle_watts = 10 },
        };
        AttrIn in = {
            .interval_s = 1, .host_work = 4 * G, .busy = 1, .total = 4,
            .nzones = 2, .zones = zin, .nvms = 2, .vms = vms,
        };
        AttrZoneOut zo[2];
        double shares[2], watts[4];
        AttrOut out = { .zones = zo, .shares = shares, .vm_watts = watts };

        g_assert_true(attr_interval(&in, &out));
        g_assert_false(zo[0].valid);
        g_assert_cmpfloat(zo[0].watts, ==, 0);
        g_assert_cmpfloat(zo[0].other_watts, ==, 0);
        g_assert_cmpfloat(watts[0], ==, 0);
        g_assert_cmpfloat(watts[1], ==, 0);
        g_assert_true(zo[1].valid);
        /* 20 W active, each VM a quarter of the host's work */
        g_assert_cmpfloat_with_epsilon(watts[2], 5, EPS);
        g_assert_cmpfloat_with_epsilon(watts[3], 5, EPS);
        g_assert_cmpfloat_with_epsilon(zo[1].other_watts, 10, EPS);
        g_assert_cmpfloat_with_epsilon(out.utilisation, 0.25, EPS);
    }
}

/* Without RAPL: the model's power at the utilisation, split by work. */
static void test_interval_model(void)
{
    static const struct {
        double busy, total, watts;
    } cases[] = {
        { 1, 2, 125 },          /* 50 + 150 * 0.5 */
        { 3, 2, 200 },          /* busier than possible: full load */
        { 1, 0, 50 },           /* no time: idle */
        { -1, 2, 50 },
    };
    AttrZoneIn zin = { .watts = NAN };   /* ignored with a model */
    AttrVmIn vm = { ATTR_VM_OK, 1 * G };

    for (int c = 0; c < ARRAY_SIZE(cases); c++) {
        AttrIn in = {
            .interval_s = 1, .host_work = 2 * G, .busy = cases[c].busy,
            .total = cases[c].total, .model = true, .model_idle_watts = 50,
            .model_max_watts = 200, .nzones = 1, .zones = &zin, .nvms = 1,
            .vms = &vm,
        };
        AttrZoneOut zo;
        double share, watts;
        AttrOut out = { .zones = &zo, .shares = &share, .vm_watts = &watts };

        g_assert_true(attr_interval(&in, &out));
        g_assert_true(zo.valid);
        g_assert_cmpfloat_with_epsilon(zo.watts, cases[c].watts, EPS);
        g_assert_cmpfloat_with_epsilon(zo.idle_watts, 50, EPS);
        g_assert_cmpfloat_with_epsilon(watts, (cases[c].watts - 50) / 2, EPS);
        g_assert_cmpfloat_with_epsilon(zo.other_watts,
                                       (cases[c].watts - 50) / 2, EPS);
    }
}

/*
 * Jitter around 1 in single intervals averages out over the window; a
 * window that is over 1 on the whole says so, once, and a new one starts.
 */
static void test_work_ratio_window(void)
{
    WorkRatioWindow w = { 0 };
    int n = WORK_RATIO_WINDOW_S * 4, ratios = 0;
    double r;

    for (int i = 0; i < n; i++) {
        /* 1.08 and 0.92 in turn, a quarter of a second each */
        r = work_ratio_window_add(&w, i % 2 ? 0.92e9 : 1.08e9, 1e9, 0.25);
        if (i < n - 1) {
            g_assert_true(isnan(r));
        }
    }
    g_assert_cmpfloat_with_epsilon(r, 1.0, EPS);
    g_assert_cmpfloat(w.seconds, ==, 0);

    for (int i = 0; i < 2 * WORK_RATIO_WINDOW_S; i++) {
        r = work_ratio_window_add(&w, 1.2e9, 1e9, 1);
        if (!isnan(r)) {
            g_assert_cmpfloat_with_epsilon(r, 1.2, EPS);
            ratios++;
        }
    }
    g_assert_cmpint(ratios, ==, 2);

    /* nonsense is skipped; a window with no host work has no ratio */
    g_assert_true(isnan(work_ratio_window_add(&w, NAN, 1e9, 1)));
    g_assert_true(isnan(work_ratio_window_add(&w, 1e9, 1e9, 0)));
    g_assert_cmpfloat(w.seconds, ==, 0);
    g_assert_true(isnan(work_ratio_window_add(&w, 1e9, 0,
                                              WORK_RATIO_WINDOW_S)));
    g_assert_cmpfloat(w.seconds, ==, 0);
}

/* Given beats estimated; no estimate yet is said so, with no idle. */
static void test_idle_pick(void)
{
    IdleEstimate none = { .valid = false, .watts = 7 };
    IdleEstimate fit = { .valid = true, .watts = 12, .uncertainty = 0.3 };
    double given = 20, w, u;

    g_assert_cmpint(attr_idle_pick(&given, &fit, &w, &u), ==,
                    ATTR_IDLE_GIVEN);
    g_assert_cmpfloat(w, ==, 20);
    g_assert_cmpfloat(u, ==, 0);
    g_assert_cmpint(attr_idle_pick(NULL, &fit, &w, &u), ==,
                    ATTR_IDLE_REGRESSION);
    g_assert_cmpfloat(w, ==, 12);
    g_assert_cmpfloat(u, ==, 0.3);
    g_assert_cmpint(attr_idle_pick(NULL, &none, &w, &u), ==,
                    ATTR_IDLE_NONE_YET);
    g_assert_cmpfloat(w, ==, 0);
    g_assert_cmpstr(attr_idle_method_name(ATTR_IDLE_NONE_YET), ==,
                    "none-yet");
    g_assert_cmpstr(attr_idle_method_name(ATTR_IDLE_MODEL), ==, "model");
}

static void test_estimate(void)
{
    g_assert_cmpfloat_with_epsilon(attr_estimate_watts(50, 200, 0), 50, EPS);
    g_assert_cmpfloat_with_epsilon(attr_estimate_watts(50, 200, 0.5), 125,
                                   EPS);
    g_assert_cmpfloat_with_epsilon(attr_estimate_watts(50, 200, 1), 200, EPS);
    g_assert_cmpfloat_with_epsilon(attr_estimate_watts(50, 200, 7), 200, EPS);
    g_assert_cmpfloat_with_epsilon(attr_estimate_watts(50, 200, -1), 50, EPS);
}

/* A reply recorded from power-test's spinning guest. */
#define GOOD "{\"return\": {\"vcpus\": [{\"thread-id\": 31545, " \
    "\"cpu-index\": 0, \"count\": 1996421590, \"shared-thread\": false, " \
    "\"qom-path\": \"/machine/unattached/device[0]\"}], " \
    "\"instance-count\": 2062316842, \"counter-source\": \"task-clock\", " \
    "\"timestamp-ns\": 1824409633291, \"vcpu-count\": 1996421590, " \
    "\"host-energy\": {\"zones\": [], \"available\": false, " \
    "\"reason\": \"no RAPL\"}, " \
    "\"counter-kernel-excluded\": false}}"

static void test_sample(void)
{
    static const struct {
        const char *reply;
        const char *error;      /* NULL: valid */
    } cases[] = {
        { GOOD, NULL },
        { "{\"return\": {\"timestamp-ns\": 1, \"counter-source\": \"cycles\", "
          "\"instance-count\": 18446744073709551615, \"vcpu-count\": 0}}",
          NULL },
        { "{\"return\": {\"timestamp-ns\": 1, \"counter-sour", "Malformed" },
        { "", "Malformed" },
        { "[1, 2]", "not a JSON object" },
        { "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": "
          "\"The command query-power has not been found\"}}",
          "has not been found" },
        { "{\"error\": {}}", "without description" },
        { "{\"result\": {}}", "no 'return'" },
        { "{\"return\": {\"timestamp-ns\": 1, \"counter-unavailable\": "
          "\"counters are off\", \"vcpus\": []}}",
          "no counters: counters are off" },
        { "{\"return\": {\"timestamp-ns\": 1, \"counter-source\": "
          "\"task-clock\", "
          "\"vcpu-count\": 5}}", "lacks 'instance-count'" },
        { "{\"return\": {\"timestamp-ns\": 1, \"counter-source\": "
          "\"task-clock\", "
          "\"instance-count\": -5, \"vcpu-count\": 5}}", "'instance-count'" },
        { "{\"return\": {\"timestamp-ns\": 1, \"counter-source\": "
          "\"task-clock\", "
          "\"instance-count\": 99999999999999999999999, \"vcpu-count\": 5}}",
          "'instance-count'" },
        { "{\"return\": {\"timestamp-ns\": \"1\", \"counter-source\": "
          "\"task-clock\", "
          "\"instance-count\": 1, \"vcpu-count\": 5}}", "'timestamp-ns'" },
        { "{\"return\": {\"timestamp-ns\": 1.5, \"counter-source\": "
          "\"task-clock\", "
          "\"instance-count\": 1, \"vcpu-count\": 5}}", "'timestamp-ns'" },
        { "{\"return\": {\"timestamp-ns\": 1, \"counter-source\": "
          "\"joules\", \"instance-count\": 1, \"vcpu-count\": 5}}",
          "not cycles, task-clock or schedstat" },
        { "{\"return\": {\"timestamp-ns\": 1, \"counter-source\": 7, "
          "\"instance-count\": 1, \"vcpu-count\": 5}}", "no counters" },
        { "{\"return\": []}", "no 'return'" },
    };

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        VmSample s = { 0 };
        Error *err = NULL;
        bool ok = vm_sample_parse(cases[i].reply, &s, &err);

        if (ok != !cases[i].error) {
            g_test_message("case %d: %s", i,
                           err ? error_get_pretty(err) : "accepted");
        }
        g_assert_cmpint(ok, ==, !cases[i].error);
        if (ok) {
            g_assert_nonnull(s.source);
        } else {
            g_assert_nonnull(strstr(error_get_pretty(err), cases[i].error));
            error_free(err);
            g_assert_null(s.source);        /* nothing half-filled */
        }
        vm_sample_clear(&s);
    }
}

static void test_sample_values(void)
{
    VmSample s = { 0 };

    g_assert_true(vm_sample_parse(GOOD, &s, &error_abort));
    g_assert_cmpuint(s.timestamp_ns, ==, 1824409633291ULL);
    g_assert_cmpuint(s.instance_count, ==, 2062316842ULL);
    g_assert_cmpuint(s.vcpu_count, ==, 1996421590ULL);
    g_assert_false(s.cycles);
    g_assert_false(s.kernel_excluded);
    g_assert_cmpstr(s.source, ==, "task-clock");
    vm_sample_clear(&s);
    g_assert_true(vm_sample_parse("{\"return\": {\"vcpus\": [], "
                                  "\"instance-count\": 5, \"vcpu-count\": 4, "
                                  "\"counter-source\": \"task-clock\", "
                                  "\"counter-kernel-excluded\": true, "
                                  "\"timestamp-ns\": 1}}", &s, &error_abort));
    g_assert_true(s.kernel_excluded);
    vm_sample_clear(&s);
    /* the unit follows from the source */
    g_assert_true(vm_sample_parse("{\"return\": {\"instance-count\": 5, "
                                  "\"vcpu-count\": 4, \"counter-source\": "
                                  "\"cycles\", \"timestamp-ns\": 1}}", &s,
                                  &error_abort));
    g_assert_true(s.cycles);
    vm_sample_clear(&s);
}

static void test_sample_event(void)
{
    static const struct {
        const char *line;
        const char *error;      /* NULL: valid */
    } cases[] = {
        { "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, "
          "\"event\": \"POWER_SAMPLE\", \"data\": {\"timestamp-ns\": 7, "
          "\"counter-source\": \"task-clock\", \"instance-count\": 9, "
          "\"vcpu-count\": 8, \"vcpus\": [], \"seq\": 3, "
          "\"interval-ms\": 1000}}", NULL },
        { "{\"event\": \"POWER_SAMPLE\", \"data\": {\"timestamp-ns\": 7, "
          "\"counter-unavailable\": \"counters are off\", \"vcpus\": [], "
          "\"seq\": 3, \"interval-ms\": 1000}}",
          "no counters: counters are off" },
        { "{\"event\": \"STOP\", \"data\": {}}", "Not a POWER_SAMPLE" },
        { "{\"event\": 5}", "Not a POWER_SAMPLE" },
        { "{\"return\": {}}", "Not a POWER_SAMPLE" },
        { "{\"event\": \"POWER_SAMPLE\"}", "no 'data'" },
        { "{\"event\": \"POWER_SAMPLE\", \"data\": []}", "no 'data'" },
        { "{\"event\": \"POWER_SAMPLE\", \"data\": {\"timestamp-ns\": -7, "
          "\"counter-source\": \"cycles\", "
          "\"instance-count\": 9, \"vcpu-count\": 8}}", "'timestamp-ns'" },
        { "{\"event\": \"POWER_SAMPLE\", \"data\": {", "Malformed" },
        { "[]", "Not a POWER_SAMPLE" },
    };

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        VmSample s = { 0 };
        Error *err = NULL;
        bool ok = vm_sample_parse_event(cases[i].line, &s, &err);

        if (ok != !cases[i].error) {
            g_test_message("case %d: %s", i,
                           err ? error_get_pretty(err) : "accepted");
        }
        g_assert_cmpint(ok, ==, !cases[i].error);
        if (ok) {
            g_assert_cmpuint(s.timestamp_ns, ==, 7);
            g_assert_cmpuint(s.instance_count, ==, 9);
            g_assert_cmpuint(s.vcpu_count, ==, 8);
            g_assert_cmpstr(s.source, ==, "task-clock");
        } else {
            g_assert_nonnull(strstr(error_get_pretty(err), cases[i].error));
            error_free(err);
            g_assert_null(s.source);
        }
        vm_sample_clear(&s);
    }
}

/* A channel record: query-power's totals, "vcpus" a number, a version. */
static void test_sample_record(void)
{
    VmSample s = { 0 };
    Error *err = NULL;

    g_assert_true(vm_sample_parse_record(
        "{\"version\": 2, \"seq\": 4, \"timestamp-ns\": 9, "
        "\"counter-source\": \"schedstat\", \"counter-kernel-excluded\": "
        "false, \"instance-count\": 7, \"vcpu-count\": 6, \"vcpus\": 3, "
        "\"dropped\": 0}", &s, &error_abort));
    g_assert_cmpuint(s.nvcpus, ==, 3);
    g_assert_cmpuint(s.instance_count, ==, 7);
    g_assert_false(s.cycles);
    vm_sample_clear(&s);
    /* version 1 had a counter-unit; a consumer says what it expected */
    g_assert_false(vm_sample_parse_record(
        "{\"version\": 1, \"seq\": 4, \"timestamp-ns\": 9, "
        "\"counter-source\": \"schedstat\", \"counter-unit\": "
        "\"nanoseconds\", \"instance-count\": 7, \"vcpu-count\": 6, "
        "\"vcpus\": 3}", &s, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Channel record of version 1, not 2");
    error_free(err);
    g_assert_null(s.source);
}

static void test_proc_stat(void)
{
    uint64_t busy, total;
    Error *err = NULL;
    uint64_t tick = NANOSECONDS_PER_SECOND / sysconf(_SC_CLK_TCK);

    g_assert_true(host_parse_proc_stat("cpu  10 1 5 100 4 2 3 7 9 0\n"
                                       "cpu0 1 2 3 4 5 6 7 8 9 0\n",
                                       &busy, &total, &error_abort));
    g_assert_cmpuint(busy, ==, (10 + 1 + 5 + 2 + 3 + 7) * tick);
    g_assert_cmpuint(total, ==, busy + (100 + 4) * tick);
    g_assert_false(host_parse_proc_stat("cpu0 1 2 3\n", &busy, &total,
                                        &err));
    error_free_or_abort(&err);
}

static void test_cgroup_usage(void)
{
    static const struct {
        const char *text;
        bool v2;
        uint64_t ns;            /* 0: must fail */
    } cases[] = {
        { "123456789", false, 123456789 },
        { "usage_usec 1500\nuser_usec 1000\nsystem_usec 500", true,
          1500000 },
        { "nr_periods 0\nusage_usec 7\n", true, 7000 },
        { "-1", false, 0 },
        { "12 34", false, 0 },
        { "", false, 0 },
        { "user_usec 5\n", true, 0 },
        { "usage_usec -5\n", true, 0 },
        { "usage_usec 5x\n", true, 0 },
        { "xusage_usec 5\n", true, 0 },
    };

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        uint64_t ns = 0;
        Error *err = NULL;
        bool ok = host_parse_cgroup_usage(cases[i].text, cases[i].v2, &ns,
                                          &err);

        g_assert_cmpint(ok, ==, cases[i].ns != 0);
        if (ok) {
            g_assert_cmpuint(ns, ==, cases[i].ns);
        } else {
            error_free_or_abort(&err);
        }
    }
}

/* @path holds exactly @text. */
static void assert_file(const char *path, const char *text)
{
    g_autofree char *got = NULL;

    g_assert_true(g_file_get_contents(path, &got, NULL, NULL));
    g_assert_cmpstr(got, ==, text);
}

static double energy_of(PowerdState *st, char *key)
{
    double j = -1;

    g_assert_true(state_get_energy(st, key, &j));
    g_free(key);
    return j;
}

/* An idle window from P = 12 W + 40 W x u, wrapped round once. */
static IdleModel *known_idle_window(void)
{
    IdleModel *m = g_new0(IdleModel, 1);

    for (int i = 0; i < IDLE_WINDOW + 123; i++) {
        double u = (i % 17) / 16.0;

        idle_model_add(m, u, 12 + 40 * u + (i % 3 - 1) * 0.25 * u);
    }
    return m;
}

/* Point @i of @m, oldest first. */
static void idle_point(const IdleModel *m, size_t i, double *u, double *p)
{
    size_t k = (m->next + IDLE_WINDOW - m->n + i) % IDLE_WINDOW;

    *u = m->u[k];
    *p = m->p[k];
}

static void test_state(void)
{
    g_autofree char *dir = g_dir_make_tmp("powerd-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "state", NULL);
    g_autofree char *tmp = g_strdup_printf("%s.tmp", path);
    g_autofree char *aside = g_strdup_printf("%s.corrupt", path);
    g_autofree IdleModel *window = known_idle_window();
    g_autofree IdleModel *back = g_new0(IdleModel, 1);
    g_autofree char *text = NULL;
    g_autoptr(GString) many = g_string_new("");
    /* what tenants may call their VMs, and one VM named like the host */
    static const char *const names[] = {
        "busy", "tab\there", "quote\"back\\slash", "new\nline",
        "caf\xc3\xa9", "", "host",
    };
    static const char *const bad[] = {
        "garbage\n",
        "busy\t\tpackage-0\t-3\n",
        "{\"qemu-powerd-state\": 3, \"energy\": [], \"idle\": []}",
        "{\"qemu-powerd-state\": 1, \"energy\": [[\"vm\", \"a\", \"\", "
        "\"package-0\"]]}",
        "{\"qemu-powerd-state\": 1, \"energy\": [[\"vm\", \"a\", \"\", "
        "\"package-0\", -1]]}",
        "{\"qemu-powerd-state\": 1, \"energy\": [[\"guest\", \"a\", "
        "\"\", \"package-0\", 1]]}",
        "{\"qemu-powerd-state\": 1, \"energy\": [",
        /* version 2: a last-seen time on every row, and the idle windows */
        "{\"qemu-powerd-state\": 2, \"energy\": [[\"vm\", \"a\", \"\", "
        "\"package-0\", 1]], \"idle\": []}",
        "{\"qemu-powerd-state\": 2, \"energy\": [[\"vm\", \"a\", \"\", "
        "\"package-0\", 1, 1.5]], \"idle\": []}",
        "{\"qemu-powerd-state\": 2, \"energy\": [[\"vm\", \"a\", \"\", "
        "\"package-0\", 1, -7]], \"idle\": []}",
        "{\"qemu-powerd-state\": 2, \"energy\": []}",
        "{\"qemu-powerd-state\": 2, \"energy\": [], \"idle\": "
        "[[\"package-0\", [[0.5, 30], [1.5, 60]]]]}",
        "{\"qemu-powerd-state\": 2, \"energy\": [], \"idle\": "
        "[[\"package-0\", [[0.5, -30]]]]}",
        "{\"qemu-powerd-state\": 2, \"energy\": [], \"idle\": "
        "[[\"package-0\", [[0.5]]]]}",
        "{\"qemu-powerd-state\": 2, \"energy\": [], \"idle\": "
        "[[\"package-0\"]]}",
        NULL,                   /* a window longer than IDLE_WINDOW */
    };
    PowerdState *st;
    IdleEstimate e0, e1;
    struct stat sb;
    double u0, p0, u1, p1;

    /* no file: empty state */
    st = state_load(path, 1000, &error_abort);
    g_assert_cmpuint(state_count(st), ==, 0);
    g_assert_false(state_get_idle(st, "package-0", back));
    for (int i = 0; i < ARRAY_SIZE(names); i++) {
        g_autofree char *key = state_vm_key(names[i], "", "package-0");

        state_set_energy(st, key, 1000.0 + i + 0.5678901234, 5000 + i);
    }
    {
        g_autofree char *key = state_host_key("package-0");

        state_set_energy(st, key, 2, 5000);
    }
    state_set_idle(st, "package-0", window);
    g_assert_true(state_save(path, st, &error_abort));
    g_assert_false(g_file_test(tmp, G_FILE_TEST_EXISTS));
    state_free(st);

    /* the tenants' names are for the owner's eyes only */
    g_assert_cmpint(stat(path, &sb), ==, 0);
    g_assert_cmpint(sb.st_mode & 0777, ==, 0600);
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_true(g_str_has_prefix(text, "{\"qemu-powerd-state\": 2,"));

    /*
     * Every name comes back with its own energy; the host keeps its own;
     * the idle window comes back point for point, oldest first, and
     * gives the estimate it gave (12 W, the model it was made from).
     */
    st = state_load(path, 9999, &error_abort);
    g_assert_cmpuint(state_count(st), ==, ARRAY_SIZE(names) + 1);
    for (int i = 0; i < ARRAY_SIZE(names); i++) {
        g_assert_cmpfloat(energy_of(st, state_vm_key(names[i], "",
                                                     "package-0")),
                          ==, 1000.0 + i + 0.5678901234);
    }
    g_assert_cmpfloat(energy_of(st, state_host_key("package-0")), ==, 2);
    g_assert_true(state_get_idle(st, "package-0", back));
    g_assert_false(state_get_idle(st, "dram-0", back));
    g_assert_cmpuint(back->n, ==, IDLE_WINDOW);
    for (size_t i = 0; i < IDLE_WINDOW; i++) {
        idle_point(window, i, &u0, &p0);
        idle_point(back, i, &u1, &p1);
        g_assert_cmpfloat_with_epsilon(u0, u1, EPS);
        g_assert_cmpfloat_with_epsilon(p0, p1, EPS);
    }
    e0 = idle_model_estimate(window);
    e1 = idle_model_estimate(back);
    g_assert_true(e1.valid);
    g_assert_cmpfloat_with_epsilon(e1.watts, 12, 0.2);
    g_assert_cmpfloat_with_epsilon(e1.watts, e0.watts, EPS);

    /*
     * Pruning forgets the VMs last seen before the time given (names[0]
     * at 5000, names[1] at 5001, ...), never the host's totals.
     */
    g_assert_cmpuint(state_prune(st, 5000), ==, 0);
    g_assert_cmpuint(state_prune(st, 5003), ==, 3);
    g_assert_cmpuint(state_count(st), ==, ARRAY_SIZE(names) - 3 + 1);
    {
        g_autofree char *key = state_vm_key(names[2], "", "package-0");

        g_assert_false(state_get_energy(st, key, &u0));
    }
    g_assert_cmpfloat(energy_of(st, state_vm_key(names[3], "", "package-0")),
                      ==, 1003.5678901234);
    g_assert_cmpuint(state_prune(st, G_MAXINT64), ==, ARRAY_SIZE(names) - 3);
    g_assert_cmpfloat(energy_of(st, state_host_key("package-0")), ==, 2);
    state_free(st);

    /* version 1: no last-seen, which counts as seen at the load's time */
    g_assert_true(g_file_set_contents(path, "{\"qemu-powerd-state\": 1, "
                                      "\"energy\": [[\"vm\", \"busy\", "
                                      "\"u-1\", \"package-0\", 12.5], "
                                      "[\"host\", \"\", \"\", \"package-0\", "
                                      "99]]}", -1, NULL));
    st = state_load(path, 7000, &error_abort);
    g_assert_cmpfloat(energy_of(st, state_vm_key("busy", "u-1", "package-0")),
                      ==, 12.5);
    g_assert_cmpfloat(energy_of(st, state_host_key("package-0")), ==, 99);
    g_assert_false(state_get_idle(st, "package-0", back));
    g_assert_cmpuint(state_prune(st, 7000), ==, 0);
    g_assert_cmpuint(state_prune(st, 7001), ==, 1);
    state_free(st);

    /* the tab-separated files of earlier versions are still read */
    g_assert_true(g_file_set_contents(path, "busy\t\tpackage-0\t12.5\n"
                                      "host\t\tpackage-0\t99\n", -1, NULL));
    st = state_load(path, 7000, &error_abort);
    g_assert_cmpfloat(energy_of(st, state_vm_key("busy", "", "package-0")),
                      ==, 12.5);
    g_assert_cmpfloat(energy_of(st, state_host_key("package-0")), ==, 99);
    g_assert_cmpuint(state_prune(st, 7001), ==, 1);
    state_free(st);

    /* damaged files are moved aside whole, never half-read */
    g_string_append(many, "{\"qemu-powerd-state\": 2, \"energy\": [], "
                    "\"idle\": [[\"package-0\", [[0, 10]");
    for (int i = 0; i < IDLE_WINDOW; i++) {
        g_string_append(many, ", [0.5, 30]");
    }
    g_string_append(many, "]]]}");
    for (int i = 0; i < ARRAY_SIZE(bad); i++) {
        const char *b = bad[i] ? bad[i] : many->str;

        g_assert_true(g_file_set_contents(path, b, -1, NULL));
        st = state_load(path, 7000, &error_abort);
        g_assert_cmpuint(state_count(st), ==, 0);
        g_assert_false(state_get_idle(st, "package-0", back));
        g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
        assert_file(aside, b);
        state_free(st);
    }
    unlink(aside);

    /* a state file that cannot be read is an error, and left alone */
    g_assert_cmpint(mkdir(path, 0700), ==, 0);
    {
        Error *err = NULL;

        g_assert_null(state_load(path, 7000, &err));
        g_assert_nonnull(err);
        error_free(err);
    }
    g_assert_true(g_file_test(path, G_FILE_TEST_IS_DIR));
    rmdir(path);
    rmdir(dir);
}

/*
 * The same key once a minute at most, then with how many were held back;
 * another key is not held back by it; a newline stays inside its line.
 * In a subprocess, whose stderr is checked whole.
 */
static void test_log_limited(void)
{
    const int64_t s = G_USEC_PER_SEC;

    if (g_test_subprocess()) {
        powerd_log_limited_at(1000 * s, LOG_WARNING, "vm-failed:a",
                              "VM %s failed", "a");
        powerd_log_limited_at(1001 * s, LOG_WARNING, "vm-failed:a",
                              "VM %s failed", "a");
        powerd_log_limited_at(1002 * s, LOG_WARNING, "vm-failed:b",
                              "VM %s failed", "b\nfake line");
        powerd_log_limited_at(1059 * s, LOG_WARNING, "vm-failed:a",
                              "VM %s failed", "a");
        powerd_log_limited_at(1060 * s, LOG_ERR, "vm-failed:a",
                              "VM %s failed", "a");
        powerd_log_limited_at(1061 * s, LOG_ERR, "vm-failed:a",
                              "VM %s failed", "a");
        powerd_log_limited_at(1200 * s, LOG_ERR, "vm-failed:a",
                              "VM %s failed", "a");
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr(
        "qemu-powerd: warning: VM a failed\n"
        "qemu-powerd: warning: VM b\\x0afake line failed\n"
        "qemu-powerd: error: VM a failed (2 similar messages suppressed)\n"
        "qemu-powerd: error: VM a failed (1 similar message suppressed)\n");
}

/*
 * The idle estimate against data made from a known model,
 * P = 12 W + 40 W x utilisation, with noise and odd intervals.
 */
static void test_idle_model(void)
{
    g_autofree IdleModel *m = g_new0(IdleModel, 1);
    IdleEstimate e;
    GRand *rand = g_rand_new_with_seed(42);

    /* too few points, then a steady load: no estimate */
    e = idle_model_estimate(m);
    g_assert_false(e.valid);
    for (int i = 0; i < 100; i++) {
        idle_model_add(m, 0.6 + g_rand_double_range(rand, -0.02, 0.02),
                       12 + 40 * 0.6 + g_rand_double_range(rand, -0.5, 0.5));
    }
    e = idle_model_estimate(m);
    g_assert_false(e.valid);
    g_assert_cmpfloat(e.spread, <, IDLE_MIN_SPREAD);

    /* the load varies (a VM stopped and continued): the intercept */
    for (int i = 0; i < 100; i++) {
        double u = i % 20 < 10 ? 0.1 : 0.6;

        u += g_rand_double_range(rand, -0.02, 0.02);
        idle_model_add(m, u, 12 + 40 * u +
                       g_rand_double_range(rand, -0.5, 0.5));
    }
    e = idle_model_estimate(m);
    g_assert_true(e.valid);
    g_assert_cmpfloat(fabs(e.watts - 12), <, 0.5);
    g_assert_cmpfloat(fabs(e.slope - 40), <, 2);
    g_assert_cmpfloat(e.uncertainty, >, 0);
    g_assert_cmpfloat(e.uncertainty, <, 0.5);

    /* a few wild intervals (a late reading doubles one, halves another) */
    for (int i = 0; i < 6; i++) {
        idle_model_add(m, 0.6, i % 2 ? 2 * (12 + 24) : (12 + 24) / 2);
    }
    e = idle_model_estimate(m);
    g_assert_true(e.valid);
    g_assert_cmpfloat(fabs(e.watts - 12), <, 0.5);

    /* junk is ignored; the window forgets: a new steady load, no estimate */
    idle_model_add(m, NAN, 10);
    idle_model_add(m, 0.5, -1);
    for (int i = 0; i < IDLE_WINDOW; i++) {
        idle_model_add(m, 0.3, 12 + 40 * 0.3);
    }
    g_assert_false(idle_model_estimate(m).valid);

    /* a fit below zero is clamped */
    memset(m, 0, sizeof(*m));
    for (int i = 0; i < 40; i++) {
        double u = i % 2 ? 0.2 : 0.8;

        idle_model_add(m, u, -5 + 50 * u);
    }
    e = idle_model_estimate(m);
    g_assert_true(e.valid);
    g_assert_cmpfloat(e.watts, ==, 0);
    g_rand_free(rand);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/powerd/interval", test_interval);
    g_test_add_func("/powerd/interval-empty", test_interval_empty);
    g_test_add_func("/powerd/interval-bad-zone", test_interval_bad_zone);
    g_test_add_func("/powerd/interval-model", test_interval_model);
    g_test_add_func("/powerd/work-ratio-window", test_work_ratio_window);
    g_test_add_func("/powerd/idle-pick", test_idle_pick);
    g_test_add_func("/powerd/estimate", test_estimate);
    g_test_add_func("/powerd/sample", test_sample);
    g_test_add_func("/powerd/sample-values", test_sample_values);
    g_test_add_func("/powerd/sample-event", test_sample_event);
    g_test_add_func("/powerd/sample-record", test_sample_record);
    g_test_add_func("/powerd/proc-stat", test_proc_stat);
    g_test_add_func("/powerd/cgroup-usage", test_cgroup_usage);
    g_test_add_func("/powerd/state", test_state);
    g_test_add_func("/powerd/log-limited", test_log_limited);
    g_test_add_func("/powerd/idle-model", test_idle_model);
    return g_test_run();
}

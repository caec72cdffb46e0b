/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Tests for host cpufreq and intel_pstate policy (util/host-cpufreq.c) on
 * fake sysfs trees.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/host-cpufreq.h"
#include "fake-sysfs.h"

#define CPU1 "devices/system/cpu/cpu1/cpufreq/"

static void test_read(void)
{
    char *root = fake_sysfs_new();
    g_autoptr(HostCpufreq) f = NULL;
    Error *err = NULL;

    fake_sysfs_host(root, 2, 1, true);
    g_assert_cmpint(host_cpufreq_read(root, 1, &f, &error_abort), ==, 0);
    g_assert_cmpstr(f->driver, ==, "acpi-cpufreq");
    g_assert_cmpstr(f->governor, ==, "ondemand");
    g_assert_cmpint(g_strv_length(f->governors), ==, 6);
    g_assert_cmpuint(f->min_khz, ==, 1200000);
    g_assert_cmpuint(f->cpuinfo_max_khz, ==, 3000000);
    g_assert_true(f->has_cur);
    g_assert_true(f->has_setspeed_file);
    g_assert_false(f->has_setspeed);        /* "<unsupported>" */
    g_assert_cmpuint(f->frequencies->len, ==, 4);
    g_clear_pointer(&f, host_cpufreq_free);

    /* scaling_available_frequencies absent (e.g. intel_pstate) */
    fake_sysfs_write(root, CPU1 "scaling_setspeed", "2400000\n");
    g_assert_cmpint(unlink(g_strdup_printf("%s/" CPU1
                                           "scaling_available_frequencies",
                                           root)), ==, 0);
    g_assert_cmpint(host_cpufreq_read(root, 1, &f, &error_abort), ==, 0);
    g_assert_null(f->frequencies);
    g_assert_true(f->has_setspeed);
    g_assert_cmpuint(f->setspeed_khz, ==, 2400000);
    g_clear_pointer(&f, host_cpufreq_free);

    /* junk in a value is an error naming the file */
    fake_sysfs_write(root, CPU1 "scaling_max_freq", "3000000 kHz\n");
    g_assert_cmpint(host_cpufreq_read(root, 1, &f, &err), ==, -EINVAL);
    g_assert_nonnull(strstr(error_get_pretty(err), "scaling_max_freq"));
    error_free_or_abort(&err);

    /* no cpufreq for that CPU */
    g_assert_cmpint(host_cpufreq_read(root, 7, &f, &err), ==, -ENOENT);
    error_free_or_abort(&err);
    fake_sysfs_free(root);
}

static void test_parse_frequencies(void)
{
    static const struct {
        const char *text;
        const char *expect;         /* NULL: invalid */
    } cases[] = {
        { "3000000 2400000 1200000 ", "3000000 2400000 1200000" },
        { "1200000", "1200000" },
        { "", "" },
        { " ", "" },
        { "1  2", "1 2" },
        { "1200000 fast", NULL },
        { "1200000\t2400000", NULL },   /* spaces only */
        { "1200000\n", NULL },          /* the reader strips it */
        { "-1", NULL },
        { "18446744073709551616", NULL },
    };

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autoptr(GArray) freqs = NULL;
        g_autoptr(GString) got = g_string_new("");
        Error *err = NULL;
        bool ok = host_cpufreq_parse_frequencies(cases[i].text, &freqs, &err);

        g_assert_cmpint(ok, ==, cases[i].expect != NULL);
        if (!ok) {
            g_assert_null(freqs);
            error_free_or_abort(&err);
            continue;
        }
        for (guint j = 0; j < freqs->len; j++) {
            g_string_append_printf(got, "%s%" PRIu64, j ? " " : "",
                                   g_array_index(freqs, uint64_t, j));
        }
        g_assert_cmpstr(got->str, ==, cases[i].expect);
    }
}

static void test_validate(void)
{
    static const struct {
        const char *governor;
        int64_t frequency, min, max;    /* -1: not set */
        bool ok;
        const char *error;
    } cases[] = {
        { "performance", -1, -1, -1, true },
        { "userspace", 2400000, -1, -1, true },
        { "userspace", 2400000, 2400000, 2400000, true },
        { NULL, -1, 1800000, -1, true },
        { NULL, -1, -1, 1800000, true },
        { NULL, -1, 3000000, 3000000, true },
        { NULL, -1, -1, -1, false, "Nothing to change" },
        { "turbo", -1, -1, -1, false, "no governor called 'turbo'" },
        { "perf", -1, -1, -1, false, "no governor" },       /* exact */
        { "../../../etc/passwd", -1, -1, -1, false, "no governor" },
        { "performance/", -1, -1, -1, false, "no governor" },
        { "performance\n", -1, -1, -1, false, "no governor" },
        { "", -1, -1, -1, false, "no governor" },
        { NULL, 2400000, -1, -1, false, "needs the 'userspace' governor" },
        { "performance", 2400000, -1, -1, false, "needs the 'userspace'" },
        { "userspace", 2500000, -1, -1, false, "not one of the available" },
        { "userspace", 3100000, -1, -1, false, "outside the hardware" },
        { "userspace", 1200000, 1800000, -1, false, "outside the policy" },
        { NULL, -1, 1100000, -1, false, "outside the hardware" },
        { NULL, -1, -1, 3500000, false, "outside the hardware" },
        { NULL, -1, 2400000, 1800000, false, "would be above" },
        { NULL, -1, -1, 1000000, false, "outside the hardware" },
        { NULL, -1, 3000000, 2400000, false, "would be above" },
    };
    char *root = fake_sysfs_new();
    g_autoptr(HostCpufreq) f = NULL;

    fake_sysfs_host(root, 1, 1, false);
    g_assert_cmpint(host_cpufreq_read(root, 0, &f, &error_abort), ==, 0);
    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        HostCpufreqRequest req = {
            .governor = cases[i].governor,
            .has_frequency = cases[i].frequency >= 0,
            .frequency_khz = cases[i].frequency,
            .has_min = cases[i].min >= 0,
            .min_khz = cases[i].min,
            .has_max = cases[i].max >= 0,
            .max_khz = cases[i].max,
        };
        Error *err = NULL;
        bool ok = host_cpufreq_validate(f, &req, &err);

        if (ok != cases[i].ok) {
            g_test_message("case %d: %s", i, err ? error_get_pretty(err) :
                           "accepted");
        }
        g_assert_cmpint(ok, ==, cases[i].ok);
        if (!ok) {
            g_assert_nonnull(strstr(error_get_pretty(err), cases[i].error));
            error_free_or_abort(&err);
        }
    }
    fake_sysfs_free(root);
}

/* Only the files asked for change, in an order the kernel accepts. */
static void test_apply(void)
{
    char *root = fake_sysfs_new();
    g_autoptr(HostCpufreq) f = NULL;
    g_autoptr(HostSysfsUndo) undo = host_sysfs_undo_new();
    g_autofree char *before = NULL, *after = NULL, *restored = NULL;
    HostCpufreqRequest req = {
        .governor = "userspace",
        .has_frequency = true, .frequency_khz = 1800000,
        .has_max = true, .max_khz = 2400000,
    };
    g_autofree char *gov = NULL, *speed = NULL, *max = NULL, *min = NULL;

    fake_sysfs_host(root, 2, 1, false);
    before = fake_sysfs_snapshot(root);
    g_assert_cmpint(host_cpufreq_read(root, 1, &f, &error_abort), ==, 0);
    g_assert_true(host_cpufreq_validate(f, &req, &error_abort));
    g_assert_true(host_cpufreq_apply(root, f, &req, undo, &error_abort));
    gov = fake_sysfs_read(root, CPU1 "scaling_governor");
    speed = fake_sysfs_read(root, CPU1 "scaling_setspeed");
    max = fake_sysfs_read(root, CPU1 "scaling_max_freq");
    min = fake_sysfs_read(root, CPU1 "scaling_min_freq");
    g_assert_cmpstr(gov, ==, "userspace");
    g_assert_cmpstr(speed, ==, "1800000");
    g_assert_cmpstr(max, ==, "2400000");
    g_assert_cmpstr(min, ==, "1200000\n");  /* untouched */

    /* exactly three files of CPU 1 differ */
    after = fake_sysfs_snapshot(root);
    {
        g_auto(GStrv) a = g_strsplit(before, "\n", -1);
        g_auto(GStrv) b = g_strsplit(after, "\n", -1);
        int changed = 0;

        g_assert_cmpint(g_strv_length(a), ==, g_strv_length(b));
        for (int i = 0; a[i]; i++) {
            if (strcmp(a[i], b[i])) {
                g_assert_nonnull(strstr(b[i], "/cpu1/cpufreq/"));
                changed++;
            }
        }
        g_assert_cmpint(changed, ==, 3);
    }

    /* put back: every value as it was (without sysfs' newline) */
    g_assert_cmpuint(host_sysfs_undo_restore(undo, NULL), ==, 0);
    restored = fake_sysfs_read(root, CPU1 "scaling_max_freq");
    g_assert_cmpstr(restored, ==, "3000000");
    g_free(restored);
    restored = fake_sysfs_read(root, CPU1 "scaling_governor");
    g_assert_cmpstr(restored, ==, "ondemand");
    fake_sysfs_free(root);
}

static void test_pstate(void)
{
    g_autofree char *bad = NULL;
    static const struct {
        int64_t max, min;
        bool ok;
    } cases[] = {
        { 80, -1, true },
        { -1, 50, true },
        { 50, 50, true },
        { 100, 0, true },
        { 10, -1, false },          /* below the current min (20) */
        { -1, 101, false },
        { 101, -1, false },
        { 40, 60, false },
        { -1, -1, false },
    };
    char *root = fake_sysfs_new();
    g_autoptr(HostPstate) p = NULL;
    g_autoptr(HostSysfsUndo) undo = host_sysfs_undo_new();
    g_autofree char *max = NULL, *min = NULL;
    Error *err = NULL;

    fake_sysfs_host(root, 1, 1, false);
    g_assert_cmpint(host_pstate_read(root, &p, &err), ==, -ENOENT);
    error_free_or_abort(&err);

    fake_sysfs_host(root, 1, 1, true);
    g_assert_cmpint(host_pstate_read(root, &p, &error_abort), ==, 0);
    g_assert_cmpstr(p->status, ==, "active");
    g_assert_cmpuint(p->max_perf_pct, ==, 100);
    g_assert_cmpuint(p->min_perf_pct, ==, 20);
    g_assert_true(p->has_no_turbo);
    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        bool ok = host_pstate_validate(p, cases[i].max >= 0, cases[i].max,
                                       cases[i].min >= 0, cases[i].min,
                                       &err);

        g_assert_cmpint(ok, ==, cases[i].ok);
        if (!ok) {
            error_free_or_abort(&err);
        }
    }
    /* raising min above the current max: max goes first */
    g_clear_pointer(&p, host_pstate_free);
    fake_sysfs_write(root, "devices/system/cpu/intel_pstate/max_perf_pct",
                     "40\n");
    g_assert_cmpint(host_pstate_read(root, &p, &error_abort), ==, 0);
    g_assert_true(host_pstate_apply(root, p, true, 90, true, 60, undo,
                                    &error_abort));
    max = fake_sysfs_read(root, "devices/system/cpu/intel_pstate/"
                          "max_perf_pct");
    min = fake_sysfs_read(root, "devices/system/cpu/intel_pstate/"
                          "min_perf_pct");
    g_assert_cmpstr(max, ==, "90");
    g_assert_cmpstr(min, ==, "60");

    /* a knob that cannot be written: the error says what was changed */
    g_clear_pointer(&p, host_pstate_free);
    g_assert_cmpint(host_pstate_read(root, &p, &error_abort), ==, 0);
    bad = g_build_filename(root, "devices/system/cpu/intel_pstate/"
                           "min_perf_pct", NULL);
    g_assert_cmpint(unlink(bad), ==, 0);
    fake_sysfs_mkdir(root, "devices/system/cpu/intel_pstate/min_perf_pct");
    g_assert_false(host_pstate_apply(root, p, true, 80, true, 30, undo,
                                     &err));
    g_assert_true(g_str_has_prefix(error_get_pretty(err),
                                   "Nothing was changed: "));
    error_free_or_abort(&err);
    g_assert_false(host_pstate_apply(root, p, true, 95, true, 92, undo,
                                     &err));
    g_assert_true(g_str_has_prefix(error_get_pretty(err),
                                   "max_perf_pct was changed, then: "));
    error_free_or_abort(&err);
    fake_sysfs_free(root);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/host-cpufreq/read", test_read);
    g_test_add_func("/host-cpufreq/parse-frequencies",
                    test_parse_frequencies);
    g_test_add_func("/host-cpufreq/validate", test_validate);
    g_test_add_func("/host-cpufreq/apply", test_apply);
    g_test_add_func("/host-cpufreq/pstate", test_pstate);
    return g_test_run();
}

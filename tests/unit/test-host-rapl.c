/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Tests for host RAPL zones, limits and energy (util/host-rapl.c) on
 * fake sysfs trees.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/host-rapl.h"
#include "fake-sysfs.h"

static void test_delta(void)
{
    static const struct {
        uint64_t prev, cur, max, delta;
    } cases[] = {
        { 100, 250, 1000, 150 },
        { 250, 250, 1000, 0 },
        { 900, 100, 1000, 200 },                /* wrapped once */
        { 1000, 0, 1000, 0 },                   /* at the top, then 0 */
        { 999, 0, 1000, 1 },
        { 262143328000, 500, 262143328850, 1350 },
        { UINT64_MAX - 5, 10, UINT64_MAX, 15 },
        { 2000, 100, 1000, 100 },               /* prev beyond range */
    };

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        g_assert_cmpuint(host_energy_delta(cases[i].prev, cases[i].cur,
                                           cases[i].max), ==,
                         cases[i].delta);
    }
}

static void test_perf_parsers(void)
{
    static const struct {
        const char *text;
        bool ok;
        uint64_t config;
    } events[] = {
        { "event=0x02", true, 2 },
        { "event=0x1f", true, 31 },
        { "event=0x", false },
        { "event=2", false },
        { "event=0x02,umask=0x1", false },
        { "event=0x-2", false },
        { "", false },
    };
    static const struct {
        const char *text;
        bool ok;
        double scale;
    } scales[] = {
        { "2.3283064365386962890625e-10", true, 1.0 / 4294967296.0 },
        { "1", true, 1 },
        { "0", false },
        { "-1e-10", false },
        { "nan", false },
        { "inf", false },
        { " 1", false },
        { "1x", false },
        { "", false },
    };

    for (int i = 0; i < ARRAY_SIZE(events); i++) {
        Error *err = NULL;
        uint64_t config = 0;

        g_assert_cmpint(host_energy_parse_perf_event(events[i].text, &config,
                                                     &err), ==, events[i].ok);
        if (events[i].ok) {
            g_assert_cmpuint(config, ==, events[i].config);
        } else {
            error_free_or_abort(&err);
        }
    }
    for (int i = 0; i < ARRAY_SIZE(scales); i++) {
        Error *err = NULL;
        double scale = 0;

        g_assert_cmpint(host_energy_parse_perf_scale(scales[i].text, &scale,
                                                     &err), ==, scales[i].ok);
        if (scales[i].ok) {
            g_assert_cmpfloat(scale, ==, scales[i].scale);
        } else {
            error_free_or_abort(&err);
        }
    }
}

static void test_parse_zone_dir(void)
{
    static const struct {
        const char *name;
        bool ok, is_sub;
        unsigned index, sub;
    } cases[] = {
        { "intel-rapl:0", true, false, 0 },
        { "intel-rapl:12", true, false, 12 },
        { "intel-rapl:1:0", true, true, 1, 0 },
        { "intel-rapl:4294967295:3", true, true, UINT_MAX, 3 },
        { "intel-rapl:4294967296", false },
        { "intel-rapl:01", false },         /* not how the kernel names it */
        { "intel-rapl:1:00", false },
        { "intel-rapl:", false },
        { "intel-rapl:1:", false },
        { "intel-rapl:1:2:3", false },
        { "intel-rapl:-1", false },
        { "intel-rapl:+1", false },
        { "intel-rapl: 1", false },
        { "intel-rapl:1 ", false },
        { "intel-rapl-mmio:0", false },
        { "dtpm", false },
    };

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        unsigned index = 0, sub = 0;
        bool is_sub = false;

        g_assert_cmpint(host_rapl_parse_zone_dir(cases[i].name, &index, &sub,
                                                 &is_sub), ==, cases[i].ok);
        if (cases[i].ok) {
            g_assert_cmpuint(index, ==, cases[i].index);
            g_assert_cmpint(is_sub, ==, cases[i].is_sub);
            g_assert_cmpuint(sub, ==, cases[i].sub);
        }
    }
}

static char *zone_names(GPtrArray *zones)
{
    GString *s = g_string_new("");

    for (guint i = 0; i < zones->len; i++) {
        HostRaplZone *z = g_ptr_array_index(zones, i);

        g_string_append_printf(s, "%s%s/%d", i ? " " : "", z->name,
                               z->package);
    }
    return g_string_free(s, false);
}

/* Two sockets with core and dram sub-zones. */
static void test_zones(void)
{
    char *root = fake_sysfs_new();
    g_autoptr(GPtrArray) zones = NULL;
    g_autoptr(GPtrArray) constraints = NULL;
    g_autofree char *names = NULL;
    HostRaplConstraint *c;

    fake_sysfs_host(root, 4, 2, true);
    g_assert_true(host_rapl_zones(root, &zones, &error_abort));
    names = zone_names(zones);
    g_assert_cmpstr(names, ==, "package-0/0 core-0/0 dram-0/0 "
                    "package-1/1 core-1/1 dram-1/1");
    g_assert_nonnull(host_rapl_find_zone(zones, "dram-1"));
    g_assert_null(host_rapl_find_zone(zones, "dram"));
    g_assert_null(host_rapl_find_zone(zones, "package-1/"));

    g_assert_true(host_rapl_constraints(host_rapl_find_zone(zones,
                                                            "package-1"),
                                        &constraints, &error_abort));
    g_assert_cmpuint(constraints->len, ==, 2);
    c = g_ptr_array_index(constraints, 0);
    g_assert_cmpstr(c->name, ==, "long_term");
    g_assert_cmpuint(c->power_limit_uw, ==, 150000000);
    g_assert_true(c->has_max_power);
    g_assert_cmpuint(c->max_power_uw, ==, 200000000);
    c = g_ptr_array_index(constraints, 1);
    g_assert_cmpstr(c->name, ==, "short_term");
    g_assert_false(c->has_max_power);
    g_assert_true(c->has_time_window);
    fake_sysfs_free(root);
}

/*
 * Zones are found by name, whatever order the directories come in and
 * whatever index the kernel gave them; other powercap trees are ignored.
 */
static void test_zone_order(void)
{
    char *root = fake_sysfs_new();
    g_autoptr(GPtrArray) zones = NULL;
    g_autofree char *names = NULL;

    fake_sysfs_write(root, "class/powercap/intel-rapl:10/name", "psys\n");
    fake_sysfs_write(root, "class/powercap/intel-rapl:2/name",
                     "package-1\n");
    fake_sysfs_write(root, "class/powercap/intel-rapl:2:0/name", "core\n");
    fake_sysfs_write(root, "class/powercap/intel-rapl:1/name",
                     "package-0\n");
    fake_sysfs_write(root, "class/powercap/intel-rapl-mmio:0/name",
                     "package-0\n");
    fake_sysfs_write(root, "class/powercap/dtpm/name", "dtpm\n");
    fake_sysfs_write(root, "class/powercap/intel-rapl:x/name", "bogus\n");
    g_assert_true(host_rapl_zones(root, &zones, &error_abort));
    names = zone_names(zones);
    g_assert_cmpstr(names, ==, "package-0/0 package-1/1 core-1/1 psys/-1");
    fake_sysfs_free(root);
}

static void test_zone_errors(void)
{
    char *root = fake_sysfs_new();
    g_autoptr(GPtrArray) zones = NULL;
    Error *err = NULL;

    /* no powercap at all: no zones, no error */
    g_assert_true(host_rapl_zones(root, &zones, &error_abort));
    g_assert_cmpuint(zones->len, ==, 0);
    g_clear_pointer(&zones, g_ptr_array_unref);

    fake_sysfs_write(root, "class/powercap/intel-rapl:0/name",
                     "../../etc\n");
    g_assert_false(host_rapl_zones(root, &zones, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "invalid zone name"));
    error_free_or_abort(&err);

    fake_sysfs_write(root, "class/powercap/intel-rapl:0/name", "");
    g_assert_false(host_rapl_zones(root, &zones, &err));
    error_free_or_abort(&err);
    fake_sysfs_free(root);
}

static HostEnergyZone *energy_zone(HostEnergy *he, const char *name)
{
    for (guint i = 0; i < he->zones->len; i++) {
        HostEnergyZone *z = g_ptr_array_index(he->zones, i);

        if (!strcmp(z->name, name)) {
            return z;
        }
    }
    return NULL;
}

/* powercap energy, with the counter wrapping between two readings */
static void test_powercap_energy(void)
{
    char *root = fake_sysfs_new();
    HostEnergyOptions opts = { .sysfs_root = root };
    g_autoptr(HostEnergy) he = NULL;
    HostEnergyZone *pkg;
    Error *err = NULL;

    fake_sysfs_host(root, 2, 1, false);
    fake_sysfs_write(root, "class/powercap/intel-rapl:0/energy_uj",
                     "262143000000\n");
    he = host_energy_open(&opts, HOST_ENERGY__MAX, &error_abort);
    g_assert_cmpint(he->source, ==, HOST_ENERGY_POWERCAP);
    g_assert_cmpuint(he->zones->len, ==, 3);
    pkg = energy_zone(he, "package-0");
    g_assert_nonnull(pkg);
    g_assert_cmpuint(pkg->max_range_uj, ==, 262143328850ULL);

    g_assert_true(host_energy_zone_update(pkg, &error_abort));
    g_assert_cmpuint(pkg->energy_uj, ==, 0);
    fake_sysfs_write(root, "class/powercap/intel-rapl:0/energy_uj",
                     "262143300000\n");
    g_assert_true(host_energy_zone_update(pkg, &error_abort));
    g_assert_cmpuint(pkg->energy_uj, ==, 300000);
    /* wraps: 28850 to the top of the range, then 1000000 */
    fake_sysfs_write(root, "class/powercap/intel-rapl:0/energy_uj",
                     "1000000\n");
    g_assert_true(host_energy_zone_update(pkg, &error_abort));
    g_assert_cmpuint(pkg->energy_uj, ==, 300000 + 28850 + 1000000);
    g_assert_cmpuint(pkg->raw_uj, ==, 1000000);

    /* a reading above the range is refused, and changes nothing */
    fake_sysfs_write(root, "class/powercap/intel-rapl:0/energy_uj",
                     "262143328851\n");
    g_assert_false(host_energy_zone_update(pkg, &err));
    error_free_or_abort(&err);
    g_assert_cmpuint(pkg->energy_uj, ==, 1328850);
    fake_sysfs_free(root);
}

/* AMD-style: one package zone, a core sub-zone, no limits at all */
static void test_amd_tree(void)
{
    char *root = fake_sysfs_new();
    HostEnergyOptions opts = { .sysfs_root = root };
    g_autoptr(HostEnergy) he = NULL;
    g_autoptr(GPtrArray) zones = NULL;
    g_autoptr(GPtrArray) constraints = NULL;

    fake_sysfs_write(root, "class/powercap/intel-rapl:0/name", "package-0\n");
    fake_sysfs_write(root, "class/powercap/intel-rapl:0/energy_uj", "5\n");
    fake_sysfs_write(root, "class/powercap/intel-rapl:0/max_energy_range_uj",
                     "65532610987\n");
    fake_sysfs_write(root, "class/powercap/intel-rapl:0:0/name", "core\n");
    fake_sysfs_write(root, "class/powercap/intel-rapl:0:0/energy_uj", "3\n");
    fake_sysfs_write(root,
                     "class/powercap/intel-rapl:0:0/max_energy_range_uj",
                     "65532610987\n");
    he = host_energy_open(&opts, HOST_ENERGY_POWERCAP, &error_abort);
    g_assert_cmpuint(he->zones->len, ==, 2);
    g_assert_nonnull(energy_zone(he, "core-0"));
    g_assert_true(host_rapl_zones(root, &zones, &error_abort));
    g_assert_true(host_rapl_constraints(g_ptr_array_index(zones, 0),
                                        &constraints, &error_abort));
    g_assert_cmpuint(constraints->len, ==, 0);
    fake_sysfs_free(root);
}

/* No source at all: one error that says why for each source. */
static void test_no_energy(void)
{
    char *root = fake_sysfs_new();
    HostEnergyOptions opts = { .sysfs_root = root, .dev_root = root,
                               .vendor = HOST_CPU_VENDOR_INTEL };
    Error *err = NULL;

    fake_sysfs_write(root, "devices/system/cpu/online", "0\n");
    g_assert_null(host_energy_open(&opts, HOST_ENERGY__MAX, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "perf:"));
    g_assert_nonnull(strstr(error_get_pretty(err), "powercap:"));
    g_assert_nonnull(strstr(error_get_pretty(err), "msr:"));
    error_free_or_abort(&err);

    /* a perf PMU tree that the kernel does not back cannot be opened */
    fake_sysfs_write(root, "bus/event_source/devices/power/type", "4242\n");
    fake_sysfs_write(root, "bus/event_source/devices/power/cpumask", "0\n");
    fake_sysfs_write(root,
                     "bus/event_source/devices/power/events/energy-pkg",
                     "event=0x02\n");
    fake_sysfs_write(root,
                     "bus/event_source/devices/power/events/energy-pkg.scale",
                     "2.3283064365386962890625e-10\n");
    g_assert_null(host_energy_open(&opts, HOST_ENERGY_PERF, &err));
    g_assert_nonnull(strstr(error_get_pretty(err),
                            "perf event energy-pkg on CPU 0"));
    error_free_or_abort(&err);
    fake_sysfs_free(root);
}

/* Writes @value at offset @msr of a fake MSR device file. */
static void put_msr(const char *path, uint32_t msr, uint64_t value)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0600);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, &value, sizeof(value), msr), ==,
                    sizeof(value));
    close(fd);
}

/* MSRs through a fake /dev/cpu/N/msr: two packages, 32-bit wrap. */
static void test_msr_energy(void)
{
    char *root = fake_sysfs_new();
    HostEnergyOptions opts = { .sysfs_root = root, .dev_root = root,
                               .vendor = HOST_CPU_VENDOR_AMD };
    g_autofree char *msr0 = g_strdup_printf("%s/cpu/0/msr", root);
    g_autofree char *msr2 = g_strdup_printf("%s/cpu/2/msr", root);
    g_autoptr(HostEnergy) he = NULL;
    HostEnergyZone *z;

    fake_sysfs_host(root, 4, 2, false);
    fake_sysfs_mkdir(root, "cpu/0");
    fake_sysfs_mkdir(root, "cpu/2");
    /* energy unit 2^-16 J = 15.2587890625 uJ */
    put_msr(msr0, 0xc0010299, 0x10 << 8);
    put_msr(msr2, 0xc0010299, 0x10 << 8);
    put_msr(msr0, 0xc001029b, 0xfffffff0);
    put_msr(msr2, 0xc001029b, 0x100000064);     /* high bits ignored */
    he = host_energy_open(&opts, HOST_ENERGY_MSR, &error_abort);
    g_assert_cmpuint(he->zones->len, ==, 2);
    z = energy_zone(he, "package-1");
    g_assert_nonnull(z);
    g_assert_true(host_energy_zone_update(z, &error_abort));
    g_assert_cmpuint(z->raw_uj, ==, (uint64_t)(100 * 15.2587890625));

    z = energy_zone(he, "package-0");
    g_assert_true(host_energy_zone_update(z, &error_abort));
    put_msr(msr0, 0xc001029b, 0x10);            /* wraps: 0x20 counts */
    g_assert_true(host_energy_zone_update(z, &error_abort));
    /* exact: 0x20 x 15.2587890625 = 488.28125 */
    g_assert_cmpuint(z->energy_uj, ==, 488);
    fake_sysfs_free(root);
}

/*
 * An MSR counter read every 7 counts for 700000 counts, across its
 * 32-bit wrap: the total is exact to the count.  Truncating each step to
 * whole microjoules (106 of 106.8 uJ) would lose 0.8 %.
 */
static void test_msr_wrap_exact(void)
{
    HostEnergyZone z = {
        .source = HOST_ENERGY_MSR, .uj_per_count = 15.2587890625,
        .fd = -1,
    };
    uint64_t count = 0xffff0000ULL;

    host_energy_zone_step(&z, count, 0);
    for (int i = 1; i <= 100000; i++) {
        count = (count + 7) & 0xffffffffULL;
        host_energy_zone_step(&z, count, i);
    }
    g_assert_cmpuint(count, <, 0xffff0000ULL);     /* it did wrap */
    /* 700000 x 15.2587890625 = 10681152.34375 */
    g_assert_cmpuint(z.energy_uj, ==, 10681152);
    g_assert_cmpuint(z.epochs, ==, 0);
}

/*
 * A perf count that goes back was reset (64 bits never wrap): a new
 * epoch, nothing added, and counting goes on from the new value.  Not
 * the 2^64 a subtraction would give.
 */
static void test_perf_goes_back(void)
{
    HostEnergyZone z = {
        .source = HOST_ENERGY_PERF, .uj_per_count = 0.5, .fd = -1,
    };

    host_energy_zone_step(&z, 1000000, 0);
    host_energy_zone_step(&z, 1000200, 1);
    g_assert_cmpuint(z.energy_uj, ==, 100);
    host_energy_zone_step(&z, 40, 2);
    g_assert_cmpuint(z.energy_uj, ==, 100);
    g_assert_cmpuint(z.epochs, ==, 1);
    host_energy_zone_step(&z, 240, 3);
    g_assert_cmpuint(z.energy_uj, ==, 200);
}

/*
 * powercap: a step back is a wrap when the zone could have drawn that
 * much in the time, a reset when it could not.
 */
static void test_powercap_wrap_or_reset(void)
{
    HostEnergyZone z = {
        .source = HOST_ENERGY_POWERCAP, .max_range_uj = 1000000000,
        .max_power_uw = 100000000, .fd = -1,
    };

    host_energy_zone_step(&z, 999000000, 0);
    /* 1 s later, 51 J further: under 2 x 100 W + 1 J, a wrap */
    host_energy_zone_step(&z, 50000000, G_USEC_PER_SEC);
    g_assert_cmpuint(z.energy_uj, ==, 1000000 + 50000000);
    g_assert_cmpuint(z.epochs, ==, 0);
    /* 1 ms later, back by a little: as a wrap, ~1000 J; a reset */
    host_energy_zone_step(&z, 49000000, G_USEC_PER_SEC + 1000);
    g_assert_cmpuint(z.energy_uj, ==, 1000000 + 50000000);
    g_assert_cmpuint(z.epochs, ==, 1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/host-rapl/delta", test_delta);
    g_test_add_func("/host-rapl/perf-parsers", test_perf_parsers);
    g_test_add_func("/host-rapl/parse-zone-dir", test_parse_zone_dir);
    g_test_add_func("/host-rapl/zones", test_zones);
    g_test_add_func("/host-rapl/zone-order", test_zone_order);
    g_test_add_func("/host-rapl/zone-errors", test_zone_errors);
    g_test_add_func("/host-rapl/powercap-energy", test_powercap_energy);
    g_test_add_func("/host-rapl/amd-tree", test_amd_tree);
    g_test_add_func("/host-rapl/no-energy", test_no_energy);
    g_test_add_func("/host-rapl/msr-energy", test_msr_energy);
    g_test_add_func("/host-rapl/msr-wrap-exact", test_msr_wrap_exact);
    g_test_add_func("/host-rapl/perf-goes-back", test_perf_goes_back);
    g_test_add_func("/host-rapl/powercap-wrap-or-reset",
                    test_powercap_wrap_or_reset);
    return g_test_run();
}

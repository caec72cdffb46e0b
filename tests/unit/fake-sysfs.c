/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Fake sysfs trees in temporary directories, for the host power tests.
 */

#include "qemu/osdep.h"
#include <ftw.h>
#include "fake-sysfs.h"

char *fake_sysfs_new(void)
{
    g_autoptr(GError) err = NULL;
    char *root = g_dir_make_tmp("fake-sysfs-XXXXXX", &err);

    g_assert_no_error(err);
    return root;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    return remove(path);
}

void fake_sysfs_free(char *root)
{
    if (root) {
        g_assert_cmpint(nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS), ==,
                        0);
        g_free(root);
    }
}

void fake_sysfs_mkdir(const char *root, const char *rel)
{
    g_autofree char *path = g_build_filename(root, rel, NULL);

    g_assert_cmpint(g_mkdir_with_parents(path, 0755), ==, 0);
}

void fake_sysfs_write(const char *root, const char *rel, const char *content)
{
    g_autofree char *path = g_build_filename(root, rel, NULL);
    g_autofree char *dir = g_path_get_dirname(path);
    g_autoptr(GError) err = NULL;

    g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
    g_file_set_contents(path, content, -1, &err);
    g_assert_no_error(err);
}

static void G_GNUC_PRINTF(3, 0) vwrite(const char *root, const char *rel,
                                        const char *fmt, va_list ap)
{
    g_autofree char *content = g_strdup_vprintf(fmt, ap);

    fake_sysfs_write(root, rel, content);
}

void fake_sysfs_printf(const char *root, const char *rel, const char *fmt,
                       ...)
{
    va_list ap;

    va_start(ap, fmt);
    vwrite(root, rel, fmt, ap);
    va_end(ap);
}

char *fake_sysfs_read(const char *root, const char *rel)
{
    g_autofree char *path = g_build_filename(root, rel, NULL);
    char *content = NULL;

    if (!g_file_get_contents(path, &content, NULL, NULL)) {
        return NULL;
    }
    return content;
}

static GString *snapshot;
static size_t snapshot_skip;

static int snap_entry(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw)
{
    if (flag == FTW_F) {
        g_autofree char *content = NULL;
        g_autofree char *escaped = NULL;

        g_assert_true(g_file_get_contents(path, &content, NULL, NULL));
        /* sysfs shows values with a newline; writes need none */
        if (g_str_has_suffix(content, "\n")) {
            content[strlen(content) - 1] = '\0';
        }
        /* one line per file: escape the newlines of its content */
        escaped = g_strescape(content, NULL);
        g_string_append_printf(snapshot, "%s=%s\n", path + snapshot_skip,
                               escaped);
    }
    return 0;
}

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *fake_sysfs_snapshot(const char *root)
{
    g_auto(GStrv) lines = NULL;

    snapshot = g_string_new("");
    snapshot_skip = strlen(root);
    g_assert_cmpint(nftw(root, snap_entry, 16, FTW_PHYS), ==, 0);
    lines = g_strsplit(snapshot->str, "\n", -1);
    g_string_free(snapshot, true);
    snapshot = NULL;
    qsort(lines, g_strv_length(lines), sizeof(char *), cmp_lines);
    return g_strjoinv("\n", lines);
}

/* Write @root/@dir/@name. */
static void G_GNUC_PRINTF(4, 5) put(const char *root, const char *dir,
                                    const char *name, const char *fmt, ...)
{
    g_autofree char *rel = g_strdup_printf("%s/%s", dir, name);
    va_list ap;

    va_start(ap, fmt);
    vwrite(root, rel, fmt, ap);
    va_end(ap);
}

void fake_sysfs_host(const char *root, int cpus, int packages, bool pstate)
{
    fake_sysfs_printf(root, "devices/system/cpu/online", "0-%d\n", cpus - 1);
    for (int c = 0; c < cpus; c++) {
        g_autofree char *d = g_strdup_printf("devices/system/cpu/cpu%d", c);

        put(root, d, "topology/physical_package_id", "%d\n",
            c * packages / cpus);
        put(root, d, "cpufreq/scaling_driver", "acpi-cpufreq\n");
        put(root, d, "cpufreq/scaling_governor", "ondemand\n");
        put(root, d, "cpufreq/scaling_available_governors",
            "conservative ondemand userspace powersave performance "
            "schedutil " "\n");
        put(root, d, "cpufreq/scaling_min_freq", "1200000\n");
        put(root, d, "cpufreq/scaling_max_freq", "3000000\n");
        put(root, d, "cpufreq/cpuinfo_min_freq", "1200000\n");
        put(root, d, "cpufreq/cpuinfo_max_freq", "3000000\n");
        put(root, d, "cpufreq/scaling_cur_freq", "2400000\n");
        put(root, d, "cpufreq/scaling_setspeed", "<unsupported>\n");
        put(root, d, "cpufreq/scaling_available_frequencies",
            "3000000 2400000 1800000 1200000 " "\n");
    }
    if (pstate) {
        fake_sysfs_write(root, "devices/system/cpu/intel_pstate/status",
                         "active\n");
        fake_sysfs_write(root,
                         "devices/system/cpu/intel_pstate/max_perf_pct",
                         "100\n");
        fake_sysfs_write(root,
                         "devices/system/cpu/intel_pstate/min_perf_pct",
                         "20\n");
        fake_sysfs_write(root, "devices/system/cpu/intel_pstate/no_turbo",
                         "0\n");
    }
    for (int p = 0; p < packages; p++) {
        static const char *const sub[] = { "core", "dram" };
        g_autofree char *z = g_strdup_printf("class/powercap/intel-rapl:%d",
                                             p);


        put(root, z, "name", "package-%d\n", p);
        put(root, z, "enabled", "1\n");
        put(root, z, "energy_uj", "%d\n", 1000000 * (p + 1));
        put(root, z, "max_energy_range_uj", "262143328850\n");
        put(root, z, "constraint_0_name", "long_term\n");
        put(root, z, "constraint_0_power_limit_uw", "150000000\n");
        put(root, z, "constraint_0_time_window_us", "999424\n");
        put(root, z, "constraint_0_max_power_uw", "200000000\n");
        put(root, z, "constraint_1_name", "short_term\n");
        put(root, z, "constraint_1_power_limit_uw", "180000000\n");
        put(root, z, "constraint_1_time_window_us", "2440\n");
        for (int s = 0; s < ARRAY_SIZE(sub); s++) {
            g_autofree char *sz = g_strdup_printf("%s:%d", z, s);

            put(root, sz, "name", "%s\n", sub[s]);
            put(root, sz, "enabled", "0\n");
            put(root, sz, "energy_uj", "%d\n", 1000 * (s + 1));
            put(root, sz, "max_energy_range_uj", "262143328850\n");
            put(root, sz, "constraint_0_name", "long_term\n");
            put(root, sz, "constraint_0_power_limit_uw", "0\n");
            put(root, sz, "constraint_0_time_window_us", "976\n");
        }
    }
}

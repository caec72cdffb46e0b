/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: host energy (through util/host-rapl.c) and host activity.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/host-sysfs.h"
#include "qemu/timer.h"
#include "helper.h"
#include "host.h"

/* The root cgroup's CPU usage file, if this host shows one. */
static void find_cgroup_usage(Host *h)
{
    g_autofree char *v1 = host_sysfs_path(h->opts.sysfs_root,
                                          "/fs/cgroup/cpuacct/cpuacct.usage");
    g_autofree char *v2 = host_sysfs_path(h->opts.sysfs_root,
                                          "/fs/cgroup/cpu.stat");
    g_autofree char *text = NULL;
    uint64_t ns;

    if (host_sysfs_read_str(v1, &text, NULL) == 0 &&
        host_parse_cgroup_usage(text, false, &ns, NULL)) {
        h->cgroup_usage = g_steal_pointer(&v1);
        return;
    }
    g_clear_pointer(&text, g_free);
    if (host_sysfs_read_str(v2, &text, NULL) == 0 &&
        host_parse_cgroup_usage(text, true, &ns, NULL)) {
        h->cgroup_usage = g_steal_pointer(&v2);
        h->cgroup_v2 = true;
    }
}

/* How long the helper may take to answer. */
#define HELPER_TIMEOUT_US (500 * 1000)

/* The zones are the helper's, as it lists them now. */
static bool open_helper(Host *h, const char *path, Error **errp)
{
    g_autoptr(GPtrArray) names = NULL;
    g_autoptr(GArray) uj = NULL;

    h->helper = power_helper_new(path);
    if (!power_helper_energy(h->helper, g_get_monotonic_time() +
                             HELPER_TIMEOUT_US, &names, &uj, errp)) {
        return false;
    }
    if (!names->len) {
        error_setg(errp, "qemu-power-helper at '%s' reads no RAPL zone",
                   path);
        return false;
    }
    h->nzones = names->len;
    h->zone_names = g_new0(char *, h->nzones + 1);
    for (size_t i = 0; i < h->nzones; i++) {
        h->zone_names[i] = g_strdup(g_ptr_array_index(names, i));
    }
    return true;
}

/* The helper's totals now, by the names of our zones. */
static bool sample_helper(Host *h, double *energy_uj, Error **errp)
{
    g_autoptr(GPtrArray) names = NULL;
    g_autoptr(GArray) uj = NULL;

    if (!power_helper_energy(h->helper, g_get_monotonic_time() +
                             HELPER_TIMEOUT_US, &names, &uj, errp)) {
        return false;
    }
    for (size_t z = 0; z < h->nzones; z++) {
        guint i;

        for (i = 0; i < names->len; i++) {
            if (!strcmp(g_ptr_array_index(names, i), h->zone_names[z])) {
                break;
            }
        }
        if (i == names->len) {
            error_setg(errp, "qemu-power-helper no longer reads zone '%s'",
                       h->zone_names[z]);
            return false;
        }
        energy_uj[z] = g_array_index(uj, uint64_t, i);
    }
    return true;
}

bool host_open(Host *h, const HostOptions *opts, Error **errp)
{
    memset(h, 0, sizeof(*h));
    h->opts = *opts;
    h->ncpus = MAX(1, sysconf(_SC_NPROCESSORS_ONLN));
    find_cgroup_usage(h);
    if (opts->helper) {
        return open_helper(h, opts->helper, errp);
    }
    if (opts->energy_source < 0) {
        h->nzones = 1;
        h->zone_names = g_new0(char *, 2);
        h->zone_names[0] = g_strdup("estimate");
        return true;
    }
    {
        HostEnergyOptions eo = { .sysfs_root = opts->sysfs_root };

        h->energy = host_energy_open(&eo, opts->energy_source, errp);
    }
    if (!h->energy) {
        return false;
    }
    h->nzones = h->energy->zones->len;
    h->zone_names = g_new0(char *, h->nzones + 1);
    for (size_t i = 0; i < h->nzones; i++) {
        HostEnergyZone *z = g_ptr_array_index(h->energy->zones, i);

        h->zone_names[i] = g_strdup(z->name);
    }
    return true;
}

const char *host_work_label(const Host *h)
{
    return h->cgroup_usage ? "cgroup" : "proc-stat";
}

bool host_parse_cgroup_usage(const char *text, bool v2, uint64_t *ns,
                             Error **errp)
{
    if (!v2) {
        return host_sysfs_parse_u64(text, ns, errp);
    }
    /* cpu.stat: "usage_usec N" among other "key value" lines */
    for (const char *l = text; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1
                                                    : NULL) {
        if (g_str_has_prefix(l, "usage_usec ")) {
            g_autofree char *v = g_strndup(l + 11, strcspn(l + 11, "\n"));
            uint64_t us;

            if (!host_sysfs_parse_u64(v, &us, errp)) {
                return false;
            }
            *ns = us * 1000;
            return true;
        }
    }
    error_setg(errp, "No usage_usec in cpu.stat");
    return false;
}

const char *host_energy_label(const Host *h)
{
    return h->helper ? "helper" :
        h->energy ? host_energy_source_name(h->energy->source) : "estimate";
}

bool host_parse_proc_stat(const char *text, uint64_t *busy_ns,
                          uint64_t *total_ns, Error **errp)
{
    /* user nice system idle iowait irq softirq steal (guest is in user) */
    unsigned long long v[8];
    long tck = sysconf(_SC_CLK_TCK);

    if (tck <= 0 ||
        sscanf(text, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
               &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8) {
        error_setg(errp, "Malformed /proc/stat");
        return false;
    }
    *busy_ns = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) *
               (NANOSECONDS_PER_SECOND / tck);
    *total_ns = *busy_ns + (v[3] + v[4]) * (NANOSECONDS_PER_SECOND / tck);
    return true;
}

static bool open_cycles(Host *h, Error **errp)
{
    h->cycles = g_array_new(false, false, sizeof(TaskCounter));
    for (long c = 0; c < h->ncpus; c++) {
        TaskCounter tc = TASK_COUNTER_INIT;

        if (!task_counter_open_cpu(&tc, TASK_COUNTER_CYCLES, c, errp)) {
            error_prepend(errp, "VMs count cycles, but the host's cannot be "
                          "counted: ");
            return false;
        }
        g_array_append_val(h->cycles, tc);
    }
    return true;
}

bool host_sample(Host *h, bool want_cycles, HostSample *s, Error **errp)
{
    g_autofree char *stat = NULL;
    g_autoptr(GError) gerr = NULL;

    host_sample_clear(s);
    s->time_us = g_get_monotonic_time();
    s->real_us = g_get_real_time();
    if (h->cgroup_usage) {
        g_autofree char *text = NULL;

        if (host_sysfs_read_str(h->cgroup_usage, &text, errp) < 0 ||
            !host_parse_cgroup_usage(text, h->cgroup_v2, &s->busy_ns,
                                     errp)) {
            return false;
        }
        /* the CPUs' time in the same clock: wall time on every CPU */
        s->total_ns = s->time_us * 1000 * h->ncpus;
    } else if (!g_file_get_contents("/proc/stat", &stat, NULL, &gerr)) {
        error_setg(errp, "Could not read /proc/stat: %s", gerr->message);
        return false;
    } else if (!host_parse_proc_stat(stat, &s->busy_ns, &s->total_ns,
                                     errp)) {
        return false;
    }
    if (want_cycles) {
        if (!h->cycles && !open_cycles(h, errp)) {
            return false;
        }
        for (guint i = 0; i < h->cycles->len; i++) {
            uint64_t v;

            if (!task_counter_read(&g_array_index(h->cycles, TaskCounter, i),
                                   &v, errp)) {
                return false;
            }
            s->cycles += v;
        }
        s->has_cycles = true;
    }
    s->energy_uj = g_new0(double, h->nzones);
    if (h->helper) {
        return sample_helper(h, s->energy_uj, errp);
    }
    for (size_t i = 0; h->energy && i < h->nzones; i++) {
        HostEnergyZone *z = g_ptr_array_index(h->energy->zones, i);

        if (!host_energy_zone_update(z, errp)) {
            return false;
        }
        s->energy_uj[i] = z->energy_uj;
    }
    return true;
}

bool host_energy_check(Host *h, const HostSample *s, int64_t window_us,
                       Error **errp)
{
    g_autofree char *zones = NULL;

    if (!host_measured(h) || h->energy_moved) {
        return true;
    }
    if (!h->first_uj) {
        h->first_uj = g_memdup2(s->energy_uj, h->nzones * sizeof(double));
        h->first_us = s->time_us;
        return true;
    }
    for (size_t z = 0; z < h->nzones; z++) {
        if (s->energy_uj[z] != h->first_uj[z]) {
            h->energy_moved = true;
            g_clear_pointer(&h->first_uj, g_free);
            return true;
        }
    }
    if (s->time_us - h->first_us < window_us) {
        return true;
    }
    zones = g_strjoinv(", ", h->zone_names);
    error_setg(errp, "the energy counters (%s: %s) have not moved in %.1f "
               "s: they do not measure this host's power (is it a VM?); "
               "--energy-source estimate models the power from the CPUs' "
               "utilisation", host_energy_label(h), zones,
               (s->time_us - h->first_us) / 1e6);
    return false;
}

void host_sample_clear(HostSample *s)
{
    g_free(s->energy_uj);
    memset(s, 0, sizeof(*s));
}

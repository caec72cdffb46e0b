/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Host RAPL zones, their power limits, and their energy counters through
 * the perf power PMU, powercap sysfs or the energy status MSRs.
 */

#include "qemu/osdep.h"
#include <math.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#ifdef __x86_64__
#include <cpuid.h>
#endif
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/host-sysfs.h"
#include "qemu/host-rapl.h"

/* Zone and constraint names are short identifiers. */
static bool valid_name(const char *s)
{
    if (!*s || strlen(s) > 32) {
        return false;
    }
    for (; *s; s++) {
        if (!g_ascii_isalnum(*s) && *s != '-' && *s != '_') {
            return false;
        }
    }
    return true;
}

void host_rapl_zone_free(HostRaplZone *zone)
{
    if (zone) {
        g_free(zone->name);
        g_free(zone->kernel_name);
        g_free(zone->dir);
        g_free(zone);
    }
}

void host_rapl_constraint_free(HostRaplConstraint *c)
{
    if (c) {
        g_free(c->name);
        g_free(c);
    }
}

/* A decimal index as the kernel prints it: no sign, no leading zero. */
static bool parse_index(const char **p, unsigned *v)
{
    const char *s = *p;
    uint64_t n = 0;

    if (!g_ascii_isdigit(s[0]) || (s[0] == '0' && g_ascii_isdigit(s[1]))) {
        return false;
    }
    for (; g_ascii_isdigit(*s); s++) {
        n = n * 10 + (*s - '0');
        if (n > UINT_MAX) {
            return false;
        }
    }
    *p = s;
    *v = n;
    return true;
}

bool host_rapl_parse_zone_dir(const char *d, unsigned *index, unsigned *sub,
                              bool *is_sub)
{
    const char *p;

    if (!g_str_has_prefix(d, "intel-rapl:")) {
        return false;
    }
    p = d + strlen("intel-rapl:");
    if (!parse_index(&p, index)) {
        return false;
    }
    *is_sub = *p == ':';
    if (*is_sub) {
        p++;
        if (!parse_index(&p, sub)) {
            return false;
        }
    }
    return *p == '\0';
}

static gint cmp_zone(gconstpointer a, gconstpointer b)
{
    const HostRaplZone *x = *(HostRaplZone *const *)a;
    const HostRaplZone *y = *(HostRaplZone *const *)b;

    if (x->index != y->index) {
        return x->index < y->index ? -1 : 1;
    }
    if (x->is_subzone != y->is_subzone) {
        return x->is_subzone ? 1 : -1;
    }
    return x->subindex < y->subindex ? -1 : x->subindex > y->subindex;
}

HostRaplZone *host_rapl_find_zone(GPtrArray *zones, const char *name)
{
    for (guint i = 0; i < zones->len; i++) {
        HostRaplZone *z = g_ptr_array_index(zones, i);

        if (!strcmp(z->name, name)) {
            return z;
        }
    }
    return NULL;
}

/* "package-N" gives N; other top-level zones (psys) have no package. */
static int package_of(const char *kernel_name)
{
    uint64_t n;

    if (g_str_has_prefix(kernel_name, "package-") &&
        host_sysfs_parse_u64(kernel_name + strlen("package-"), &n, NULL) &&
        n < INT_MAX) {
        return n;
    }
    return -1;
}

bool host_rapl_zones(const char *root, GPtrArray **zones, Error **errp)
{
    g_autofree char *base = host_sysfs_path(root, "/class/powercap");
    g_autoptr(GPtrArray) list =
        g_ptr_array_new_with_free_func((GDestroyNotify)host_rapl_zone_free);
    g_autoptr(GPtrArray) names = NULL;
    Error *err = NULL;
    int ret = host_sysfs_list_dir(base, &names, &err);

    if (ret == -ENOENT) {
        error_free(err);
        *zones = g_steal_pointer(&list);    /* no powercap: no zones */
        return true;
    }
    if (ret < 0) {
        error_propagate(errp, err);
        return false;
    }
    for (guint i = 0; i < names->len; i++) {
        const char *d = g_ptr_array_index(names, i);
        g_autoptr(HostRaplZone) z = g_new0(HostRaplZone, 1);
        g_autofree char *name_path = NULL;

        if (!host_rapl_parse_zone_dir(d, &z->index, &z->subindex,
                                      &z->is_subzone)) {
            continue;           /* intel-rapl-mmio, dtpm, ... */
        }
        z->dir = g_strdup_printf("%s/%s", base, d);
        name_path = g_strdup_printf("%s/name", z->dir);
        if (host_sysfs_read_str(name_path, &z->kernel_name, errp) < 0) {
            return false;
        }
        if (!valid_name(z->kernel_name)) {
            error_setg(errp, "'%s' holds an invalid zone name", name_path);
            return false;
        }
        g_ptr_array_add(list, g_steal_pointer(&z));
    }
    g_ptr_array_sort(list, cmp_zone);

    /* Names: top-level zones first, so that sub-zones find their parent. */
    for (guint i = 0; i < list->len; i++) {
        HostRaplZone *z = g_ptr_array_index(list, i), *parent = NULL;

        if (!z->is_subzone) {
            z->package = package_of(z->kernel_name);
            z->name = g_strdup(z->kernel_name);
        } else {
            for (guint j = 0; j < list->len; j++) {
                HostRaplZone *p = g_ptr_array_index(list, j);

                if (!p->is_subzone && p->index == z->index) {
                    parent = p;
                }
            }
            z->package = parent ? package_of(parent->kernel_name) : -1;
            z->name = z->package >= 0 ?
                g_strdup_printf("%s-%d", z->kernel_name, z->package) :
                g_strdup_printf("%s-%s", parent ? parent->kernel_name : "zone",
                                z->kernel_name);
        }
        if (host_rapl_find_zone(list, z->name) != z) {
            /* two zones with one name: tell them apart by index */
            g_autofree char *old = z->name;

            z->name = g_strdup_printf("%s-%u-%u", old, z->index,
                                      z->subindex);
        }
    }
    *zones = g_steal_pointer(&list);
    return true;
}

static int read_opt_u64(const char *dir, const char *file, bool *has,
                        uint64_t *v, Error **errp)
{
    g_autofree char *path = g_strdup_printf("%s/%s", dir, file);

    return host_sysfs_read_opt_u64(path, has, v, errp);
}

bool host_rapl_constraints(HostRaplZone *zone, GPtrArray **constraints,
                           Error **errp)
{
    g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(
        (GDestroyNotify)host_rapl_constraint_free);

    for (unsigned i = 0; i < 16; i++) {
        g_autofree char *name_file = g_strdup_printf("%s/constraint_%u_name",
                                                     zone->dir, i);
        g_autofree char *limit = g_strdup_printf("constraint_%u_power_limit_uw",
                                                 i);
        g_autofree char *window = g_strdup_printf("constraint_%u_time_window_us",
                                                  i);
        g_autofree char *max = g_strdup_printf("constraint_%u_max_power_uw",
                                               i);
        HostRaplConstraint *c;
        bool has;

        if (!host_sysfs_exists(name_file)) {
            break;
        }
        c = g_new0(HostRaplConstraint, 1);
        c->index = i;
        g_ptr_array_add(list, c);
        if (host_sysfs_read_str(name_file, &c->name, errp) < 0) {
            return false;
        }
        if (!valid_name(c->name)) {
            error_setg(errp, "'%s' holds an invalid constraint name",
                       name_file);
            return false;
        }
        if (read_opt_u64(zone->dir, limit, &has, &c->power_limit_uw,
                         errp) < 0) {
            return false;
        }
        if (!has) {
            error_setg(errp, "Zone '%s' has no %s", zone->name, limit);
            return false;
        }
        if (read_opt_u64(zone->dir, window, &c->has_time_window,
                         &c->time_window_us, errp) < 0 ||
            read_opt_u64(zone->dir, max, &c->has_max_power,
                         &c->max_power_uw, errp) < 0) {
            return false;
        }
    }
    *constraints = g_steal_pointer(&list);
    return true;
}

/* --- energy --- */

static const char *const energy_source_names[HOST_ENERGY__MAX] = {
    [HOST_ENERGY_PERF] = "perf",
    [HOST_ENERGY_POWERCAP] = "powercap",
    [HOST_ENERGY_MSR] = "msr",
};

const char *host_energy_source_name(HostEnergySource source)
{
    assert(source < HOST_ENERGY__MAX);
    return energy_source_names[source];
}

uint64_t host_energy_delta(uint64_t prev_uj, uint64_t cur_uj,
                           uint64_t max_range_uj)
{
    if (cur_uj >= prev_uj) {
        return cur_uj - prev_uj;
    }
    /* wrapped: up to the top of the range, then from 0 */
    return max_range_uj - MIN(prev_uj, max_range_uj) + cur_uj;
}

static void energy_zone_free(HostEnergyZone *z)
{
    if (z->fd >= 0) {
        close(z->fd);
    }
    g_free(z->name);
    g_free(z->path);
    g_free(z);
}

void host_energy_free(HostEnergy *he)
{
    if (he) {
        g_ptr_array_free(he->zones, true);
        g_free(he);
    }
}

static HostEnergyZone *energy_zone_new(HostEnergySource source,
                                       const char *name, int package)
{
    HostEnergyZone *z = g_new0(HostEnergyZone, 1);

    z->source = source;
    z->name = g_strdup(name);
    z->package = package;
    z->fd = -1;
    return z;
}

bool host_energy_zone_read_count(HostEnergyZone *z, uint64_t *count,
                                 Error **errp)
{
    uint64_t v;

    switch (z->source) {
    case HOST_ENERGY_POWERCAP:
        if (host_sysfs_read_u64(z->path, &v, errp) < 0) {
            return false;
        }
        if (v > z->max_range_uj) {
            error_setg(errp, "'%s' is %" PRIu64 ", above its range %" PRIu64,
                       z->path, v, z->max_range_uj);
            return false;
        }
        *count = v;
        return true;
    case HOST_ENERGY_PERF:
        if (read(z->fd, &v, sizeof(v)) != sizeof(v)) {
            error_setg_errno(errp, errno, "Could not read %s", z->path);
            return false;
        }
        *count = v;
        return true;
    case HOST_ENERGY_MSR:
        if (pread(z->fd, &v, sizeof(v), z->msr) != sizeof(v)) {
            error_setg_errno(errp, errno, "Could not read MSR 0x%x from '%s'",
                             z->msr, z->path);
            return false;
        }
        /* only the low 32 bits count energy */
        *count = v & 0xffffffffULL;
        return true;
    default:
        g_assert_not_reached();
    }
}

static uint64_t count_to_uj(HostEnergyZone *z, uint64_t count)
{
    return z->source == HOST_ENERGY_POWERCAP ? count :
           (uint64_t)(count * z->uj_per_count);
}

bool host_energy_zone_read(HostEnergyZone *z, uint64_t *raw_uj, Error **errp)
{
    uint64_t count;

    if (!host_energy_zone_read_count(z, &count, errp)) {
        return false;
    }
    *raw_uj = count_to_uj(z, count);
    return true;
}

void host_energy_zone_step(HostEnergyZone *z, uint64_t count, int64_t now_us)
{
    uint64_t prev = z->raw_count, d = 0;
    bool reset = false;

    if (!z->sampled) {
        goto out;
    }
    if (count >= prev) {
        d = count - prev;
    } else if (z->source == HOST_ENERGY_PERF) {
        reset = true;
    } else if (z->source == HOST_ENERGY_MSR) {
        d = (count - prev) & 0xffffffffULL;  /* modulo 2^32 */
    } else {
        d = host_energy_delta(prev, count, z->max_range_uj);
        if (z->max_power_uw) {
            /* twice what the zone can draw, and 1 J for timer slack */
            double secs = (now_us - z->read_us) / (double)G_USEC_PER_SEC;
            double most = 2.0 * z->max_power_uw * MAX(secs, 0) +
                          G_USEC_PER_SEC;

            reset = d > most;
        }
    }
    if (reset) {
        z->epochs++;
        d = 0;
    }
    if (z->source == HOST_ENERGY_POWERCAP) {
        z->energy_uj += d;
    } else {
        double uj = d * z->uj_per_count + z->frac_uj;
        double whole = floor(uj);

        z->energy_uj += (uint64_t)whole;
        z->frac_uj = uj - whole;
    }
out:
    z->sampled = true;
    z->raw_count = count;
    z->raw_uj = count_to_uj(z, count);
    z->read_us = now_us;
}

bool host_energy_zone_update(HostEnergyZone *z, Error **errp)
{
    uint64_t count;

    if (!host_energy_zone_read_count(z, &count, errp)) {
        return false;
    }
    host_energy_zone_step(z, count, g_get_monotonic_time());
    return true;
}

/* powercap: every zone with an energy counter. */
static bool open_powercap(const HostEnergyOptions *opts, GPtrArray *out,
                          Error **errp)
{
    g_autoptr(GPtrArray) zones = NULL;

    if (!host_rapl_zones(opts->sysfs_root, &zones, errp)) {
        return false;
    }
    for (guint i = 0; i < zones->len; i++) {
        HostRaplZone *rz = g_ptr_array_index(zones, i);
        g_autofree char *range = g_strdup_printf("%s/max_energy_range_uj",
                                                 rz->dir);
        HostEnergyZone *z = energy_zone_new(HOST_ENERGY_POWERCAP, rz->name,
                                            rz->package);
        uint64_t raw;

        g_autoptr(GPtrArray) constraints = NULL;

        g_ptr_array_add(out, z);
        z->path = g_strdup_printf("%s/energy_uj", rz->dir);
        z->uj_per_count = 1;
        if (host_sysfs_read_u64(range, &z->max_range_uj, errp) < 0 ||
            !host_energy_zone_read(z, &raw, errp)) {
            return false;
        }
        z->max_count = z->max_range_uj;
        /* the zone's own maximum power, when a constraint says it */
        if (host_rapl_constraints(rz, &constraints, NULL)) {
            for (guint c = 0; c < constraints->len; c++) {
                HostRaplConstraint *hc = g_ptr_array_index(constraints, c);

                if (hc->has_max_power) {
                    z->max_power_uw = MAX(z->max_power_uw, hc->max_power_uw);
                }
            }
        }
    }
    if (!out->len) {
        error_setg(errp, "no RAPL zone in '%s/class/powercap'",
                   opts->sysfs_root ? opts->sysfs_root :
                   HOST_SYSFS_DEFAULT_ROOT);
        return false;
    }
    return true;
}

bool host_energy_parse_perf_event(const char *text, uint64_t *config,
                                  Error **errp)
{
    const char *end;

    if (!g_str_has_prefix(text, "event=0x") ||
        !g_ascii_isxdigit(text[strlen("event=0x")]) ||
        qemu_strtou64(text + strlen("event="), &end, 16, config) < 0 ||
        *end) {
        error_setg(errp, "'%s' is not a perf event of the form event=0x..",
                   text);
        return false;
    }
    return true;
}

bool host_energy_parse_perf_scale(const char *text, double *scale,
                                  Error **errp)
{
    char *end;

    *scale = g_ascii_strtod(text, &end);
    if (end == text || *end || !isfinite(*scale) || *scale <= 0 ||
        g_ascii_isspace(text[0])) {
        error_setg(errp, "'%s' is not a positive perf scale", text);
        return false;
    }
    return true;
}

/* The perf power PMU's events and the zone names they stand for. */
static const struct {
    const char *event, *zone;
} perf_events[] = {
    { "energy-pkg", "package" },
    { "energy-cores", "core" },
    { "energy-ram", "dram" },
    { "energy-gpu", "uncore" },
    { "energy-psys", "psys" },
};

static int cpu_package(const char *root, unsigned cpu)
{
    g_autofree char *path = host_sysfs_path(root,
        "/devices/system/cpu/cpu%u/topology/physical_package_id", cpu);
    uint64_t pkg;

    if (host_sysfs_read_u64(path, &pkg, NULL) < 0 || pkg >= INT_MAX) {
        return -1;
    }
    return pkg;
}

static bool open_perf(const HostEnergyOptions *opts, GPtrArray *out,
                      Error **errp)
{
    const char *root = opts->sysfs_root;
    g_autofree char *pmu = host_sysfs_path(root,
                                           "/bus/event_source/devices/power");
    g_autofree char *type_path = g_strdup_printf("%s/type", pmu);
    g_autofree char *mask_path = g_strdup_printf("%s/cpumask", pmu);
    g_autofree char *mask = NULL;
    g_autoptr(GArray) cpus = NULL;
    uint64_t type;

    if (!host_sysfs_exists(pmu)) {
        error_setg(errp, "no perf power PMU ('%s' is absent)", pmu);
        return false;
    }
    if (host_sysfs_read_u64(type_path, &type, errp) < 0 ||
        host_sysfs_read_str(mask_path, &mask, errp) < 0) {
        return false;
    }
    if (type > UINT32_MAX ||
        !host_sysfs_parse_cpulist(mask, HOST_SYSFS_MAX_CPUS, &cpus, errp)) {
        error_prepend(errp, "In '%s': ", pmu);
        return false;
    }

    for (guint i = 0; i < cpus->len; i++) {
        unsigned cpu = g_array_index(cpus, unsigned, i);
        int pkg = cpu_package(root, cpu);

        for (int e = 0; e < ARRAY_SIZE(perf_events); e++) {
            g_autofree char *ev = g_strdup_printf("%s/events/%s", pmu,
                                                  perf_events[e].event);
            g_autofree char *scale_path = g_strdup_printf("%s.scale", ev);
            g_autofree char *text = NULL, *scale = NULL;
            struct perf_event_attr attr = { .size = sizeof(attr) };
            uint64_t config;
            HostEnergyZone *z;
            bool psys = !strcmp(perf_events[e].zone, "psys");
            g_autofree char *name = NULL;

            if (!host_sysfs_exists(ev) || (psys && i > 0)) {
                continue;
            }
            name = psys ? g_strdup("psys") :
                g_strdup_printf("%s-%d", perf_events[e].zone,
                                pkg >= 0 ? pkg : (int)i);
            z = energy_zone_new(HOST_ENERGY_PERF, name, psys ? -1 :
                                pkg >= 0 ? pkg : (int)i);
            g_ptr_array_add(out, z);
            z->path = g_strdup_printf("perf event %s on CPU %u",
                                      perf_events[e].event, cpu);
            z->max_range_uj = UINT64_MAX;   /* 64-bit count: no wrap */
            z->max_count = UINT64_MAX;
            if (host_sysfs_read_str(ev, &text, errp) < 0 ||
                host_sysfs_read_str(scale_path, &scale, errp) < 0 ||
                !host_energy_parse_perf_event(text, &config, errp) ||
                !host_energy_parse_perf_scale(scale, &z->uj_per_count,
                                              errp)) {
                return false;
            }
            z->uj_per_count *= 1e6;         /* the scale is in joules */
            attr.type = type;
            attr.config = config;
            z->fd = syscall(SYS_perf_event_open, &attr, -1, cpu, -1,
                            PERF_FLAG_FD_CLOEXEC);
            if (z->fd < 0) {
                error_setg_errno(errp, errno, "Could not open %s", z->path);
                return false;
            }
        }
    }
    if (!out->len) {
        error_setg(errp, "the perf power PMU has no energy event");
        return false;
    }
    return true;
}

static HostCpuVendor host_vendor(void)
{
#ifdef __x86_64__
    unsigned regs[4];
    char id[13];

    if (__get_cpuid(0, &regs[0], &regs[1], &regs[2], &regs[3])) {
        /* the vendor string is in EBX, EDX, ECX */
        memcpy(id, &regs[1], 4);
        memcpy(id + 4, &regs[3], 4);
        memcpy(id + 8, &regs[2], 4);
        id[12] = '\0';
        if (!strcmp(id, "GenuineIntel")) {
            return HOST_CPU_VENDOR_INTEL;
        }
        if (!strcmp(id, "AuthenticAMD") || !strcmp(id, "HygonGenuine")) {
            return HOST_CPU_VENDOR_AMD;
        }
    }
#endif
    return HOST_CPU_VENDOR_AUTO;
}

/* RAPL MSRs: the unit register, and the energy registers per zone. */
static const struct {
    HostCpuVendor vendor;
    uint32_t msr;
    const char *zone;
} msr_zones[] = {
    { HOST_CPU_VENDOR_INTEL, 0x611, "package" },    /* PKG_ENERGY_STATUS */
    { HOST_CPU_VENDOR_INTEL, 0x639, "core" },       /* PP0_ENERGY_STATUS */
    { HOST_CPU_VENDOR_INTEL, 0x619, "dram" },       /* DRAM_ENERGY_STATUS */
    { HOST_CPU_VENDOR_AMD, 0xc001029b, "package" },  /* PKG_ENERGY_STAT */
};

#define MSR_INTEL_RAPL_POWER_UNIT 0x606
#define MSR_AMD_RAPL_POWER_UNIT 0xc0010299

static bool open_msr(const HostEnergyOptions *opts, GPtrArray *out,
                     Error **errp)
{
    HostCpuVendor vendor = opts->vendor ? opts->vendor : host_vendor();
    g_autoptr(GArray) cpus = NULL;
    g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);

    if (vendor == HOST_CPU_VENDOR_AUTO) {
        error_setg(errp, "RAPL MSRs are known only on Intel and AMD CPUs");
        return false;
    }
    if (!host_sysfs_online_cpus(opts->sysfs_root, &cpus, errp)) {
        return false;
    }
    /* the first online CPU of each package reads that package */
    for (guint i = 0; i < cpus->len; i++) {
        unsigned cpu = g_array_index(cpus, unsigned, i);
        int pkg = cpu_package(opts->sysfs_root, cpu);
        g_autofree char *dev = NULL;
        uint64_t unit;
        double uj;
        int fd;

        if (pkg < 0 || g_hash_table_contains(seen, GINT_TO_POINTER(pkg))) {
            continue;
        }
        g_hash_table_add(seen, GINT_TO_POINTER(pkg));
        dev = g_strdup_printf("%s/cpu/%u/msr",
                              opts->dev_root ? opts->dev_root : "/dev", cpu);
        fd = open(dev, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            error_setg_errno(errp, errno, "Could not open '%s'", dev);
            return false;
        }
        if (pread(fd, &unit, sizeof(unit),
                  vendor == HOST_CPU_VENDOR_INTEL ? MSR_INTEL_RAPL_POWER_UNIT :
                  MSR_AMD_RAPL_POWER_UNIT) != sizeof(unit)) {
            error_setg_errno(errp, errno, "Could not read the RAPL unit "
                             "MSR from '%s'", dev);
            close(fd);
            return false;
        }
        /* energy status unit: 1 / 2^ESU joules, ESU in bits 12:8 */
        uj = 1e6 / (double)(1ULL << ((unit >> 8) & 0x1f));

        for (int m = 0; m < ARRAY_SIZE(msr_zones); m++) {
            HostEnergyZone *z;
            uint64_t raw;
            g_autofree char *name = NULL;

            if (msr_zones[m].vendor != vendor) {
                continue;
            }
            name = g_strdup_printf("%s-%d", msr_zones[m].zone, pkg);
            z = energy_zone_new(HOST_ENERGY_MSR, name, pkg);
            z->fd = dup(fd);
            z->msr = msr_zones[m].msr;
            z->uj_per_count = uj;
            z->max_count = 0xffffffffULL;
            z->max_range_uj = 0xffffffffULL * uj;
            z->path = g_strdup(dev);
            if (!host_energy_zone_read(z, &raw, NULL)) {
                energy_zone_free(z);    /* this CPU lacks that register */
                continue;
            }
            g_ptr_array_add(out, z);
        }
        close(fd);
    }
    if (!out->len) {
        error_setg(errp, "no readable RAPL energy MSR");
        return false;
    }
    return true;
}

HostEnergy *host_energy_open(const HostEnergyOptions *opts,
                             HostEnergySource source, Error **errp)
{
    static bool (*const open_fn[HOST_ENERGY__MAX])(const HostEnergyOptions *,
                                                   GPtrArray *, Error **) = {
        [HOST_ENERGY_PERF] = open_perf,
        [HOST_ENERGY_POWERCAP] = open_powercap,
        [HOST_ENERGY_MSR] = open_msr,
    };
    g_autoptr(GString) why = g_string_new("");

    for (int s = 0; s < HOST_ENERGY__MAX; s++) {
        g_autoptr(GPtrArray) zones = NULL;
        Error *err = NULL;
        HostEnergy *he;

        if (source != HOST_ENERGY__MAX && source != s) {
            continue;
        }
        zones = g_ptr_array_new_with_free_func(
            (GDestroyNotify)energy_zone_free);
        if (!open_fn[s](opts, zones, &err)) {
            if (source != HOST_ENERGY__MAX) {
                error_propagate(errp, err);
                return NULL;
            }
            g_string_append_printf(why, "%s%s: %s", why->len ? "; " : "",
                                   energy_source_names[s],
                                   error_get_pretty(err));
            error_free(err);
            continue;
        }
        he = g_new0(HostEnergy, 1);
        he->source = s;
        he->zones = g_steal_pointer(&zones);
        return he;
    }
    error_setg(errp, "No host energy counter (%s)", why->str);
    return NULL;
}

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Host RAPL: the energy counters of the CPU packages and their power
 * limits, found through the perf "power" PMU, powercap sysfs or the
 * energy MSRs.  Used by QEMU's query-power and power-limit commands and
 * by the qemu-powerd aggregator.
 */

#ifndef QEMU_HOST_RAPL_H
#define QEMU_HOST_RAPL_H

/*
 * A powercap RAPL zone (/sys/class/powercap/intel-rapl:N[:M]).  Zones
 * are found by their "name" file, never by index.  @name is unique on
 * the host: the kernel's name for top-level zones ("package-0", "psys"),
 * the kernel's name and the package for sub-zones ("core-0", "dram-1").
 */
typedef struct HostRaplZone {
    char *name;
    char *kernel_name;          /* the zone's "name" file */
    int package;                /* -1: not tied to one package (psys) */
    char *dir;                  /* the zone's directory */
    unsigned index, subindex;   /* intel-rapl:index[:subindex] */
    bool is_subzone;
} HostRaplZone;

/* A power limit of a zone (constraint_N_*). */
typedef struct HostRaplConstraint {
    unsigned index;
    char *name;                 /* "long_term", "short_term", "peak_power" */
    uint64_t power_limit_uw;
    bool has_time_window;
    uint64_t time_window_us;
    bool has_max_power;
    uint64_t max_power_uw;
} HostRaplConstraint;

void host_rapl_zone_free(HostRaplZone *zone);
void host_rapl_constraint_free(HostRaplConstraint *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HostRaplZone, host_rapl_zone_free)

/*
 * The powercap RAPL zones under @root (which stands for /sys), in
 * index order.  No zone at all is not an error: the array is empty.
 */
bool host_rapl_zones(const char *root, GPtrArray **zones, Error **errp);

/*
 * A powercap directory name: "intel-rapl:N" (@is_sub false) or
 * "intel-rapl:N:M" (@is_sub true, @sub set), in decimal as the kernel
 * prints it (no leading zero: "intel-rapl:01" is not zone 1), nothing else.
 */
bool host_rapl_parse_zone_dir(const char *d, unsigned *index, unsigned *sub,
                              bool *is_sub);

/* The zone called exactly @name, or NULL. */
HostRaplZone *host_rapl_find_zone(GPtrArray *zones, const char *name);

/* The constraints of @zone, in index order (GPtrArray of the above). */
bool host_rapl_constraints(HostRaplZone *zone, GPtrArray **constraints,
                           Error **errp);

/* --- energy --- */

typedef enum HostEnergySource {
    HOST_ENERGY_PERF,           /* perf "power" PMU events */
    HOST_ENERGY_POWERCAP,       /* powercap energy_uj */
    HOST_ENERGY_MSR,            /* RAPL energy status MSRs */
    HOST_ENERGY__MAX,
} HostEnergySource;

typedef enum HostCpuVendor {
    HOST_CPU_VENDOR_AUTO,       /* from CPUID */
    HOST_CPU_VENDOR_INTEL,
    HOST_CPU_VENDOR_AMD,
} HostCpuVendor;

typedef struct HostEnergyOptions {
    const char *sysfs_root;     /* stands for /sys; NULL: /sys */
    const char *dev_root;       /* stands for /dev; NULL: /dev */
    HostCpuVendor vendor;       /* for the MSR source */
} HostEnergyOptions;

/* One energy counter of the host. */
typedef struct HostEnergyZone {
    char *name;                 /* as HostRaplZone's; also for perf/MSR */
    int package;                /* -1: not tied to one package */
    HostEnergySource source;
    uint64_t max_range_uj;      /* the raw counter wraps after this */
    char *path;                 /* what is read, for error messages */
    int fd;                     /* perf event or msr device, else -1 */
    uint32_t msr;               /* MSR source: the energy register */
    double uj_per_count;        /* perf and MSR: counter scale */
    uint64_t max_count;         /* the raw counter's top, in counts */
    uint64_t max_power_uw;      /* 0: unknown; powercap: from constraints */
    /* accumulation, see host_energy_zone_update() */
    bool sampled;
    uint64_t raw_count;         /* last raw reading, in counter units */
    uint64_t raw_uj;            /* the same in microjoules */
    int64_t read_us;            /* g_get_monotonic_time() of it */
    double frac_uj;             /* below 1 uJ, carried to the next one */
    uint64_t energy_uj;         /* since the first reading, wraps folded */
    unsigned epochs;            /* counter resets seen (not wraps) */
} HostEnergyZone;

typedef struct HostEnergy {
    HostEnergySource source;
    GPtrArray *zones;           /* HostEnergyZone */
} HostEnergy;

const char *host_energy_source_name(HostEnergySource source);

/*
 * Find the host's energy counters from one source: @source, or with
 * HOST_ENERGY__MAX the first of perf, powercap and MSR that has a
 * readable zone.  Fails when there is none, saying why for each source.
 */
HostEnergy *host_energy_open(const HostEnergyOptions *opts,
                             HostEnergySource source, Error **errp);
void host_energy_free(HostEnergy *he);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HostEnergy, host_energy_free)

/* Read a zone's raw counter, in microjoules. */
bool host_energy_zone_read(HostEnergyZone *z, uint64_t *raw_uj,
                           Error **errp);

/* Read a zone's raw counter in its own units (MSR: the low 32 bits). */
bool host_energy_zone_read_count(HostEnergyZone *z, uint64_t *count,
                                 Error **errp);

/*
 * Read a zone and add the energy used since the last reading to
 * @energy_uj, folding in a counter wrap.  Read more often than the
 * counter wraps (max_range_uj / the zone's maximum power).
 */
bool host_energy_zone_update(HostEnergyZone *z, Error **errp);

/*
 * Add the counter's step from @z->raw_count to @count, read at @now_us,
 * to @z->energy_uj.  Wrap arithmetic is in raw counts (MSR: modulo
 * 2^32, exact to the count), the fraction of a microjoule carried over.
 * A reading that goes back is a wrap for powercap and MSR counters,
 * unless it would mean more energy than @z->max_power_uw (when known)
 * allows in the time since the last reading: then, as for a perf count
 * (64 bits: it never wraps) that goes back, the counter was reset, and
 * a new epoch starts from @count with nothing added.  Pure.
 */
void host_energy_zone_step(HostEnergyZone *z, uint64_t count,
                           int64_t now_us);

/*
 * Energy between two raw readings of a counter that wraps to 0 after
 * @max_range_uj.  Pure.
 */
uint64_t host_energy_delta(uint64_t prev_uj, uint64_t cur_uj,
                           uint64_t max_range_uj);

/* Parse a perf event's "event=0x.." config; its ".scale" in J/count. */
bool host_energy_parse_perf_event(const char *text, uint64_t *config,
                                  Error **errp);
bool host_energy_parse_perf_scale(const char *text, double *scale,
                                  Error **errp);

#endif

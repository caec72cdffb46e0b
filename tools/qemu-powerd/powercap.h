/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd --power-cap: hold a zone, or the host, under a power budget
 * (docs/power-cap.rst).  Every interval the measured power is compared
 * with the cap; above it the loop acts, gentlest first: the RAPL limit,
 * then the CPUs' highest frequency (both through qemu-power-helper), then
 * the CPU bandwidth of VMs, lowest priority and largest power first.
 * Below the release threshold it undoes the same steps in reverse.
 */

#ifndef QEMU_POWERD_POWERCAP_H
#define QEMU_POWERD_POWERCAP_H

#include "helper.h"
#include "libvirt-pool.h"
#include "report.h"

typedef struct PowerCapVmConf {
    int priority;               /* higher: throttled later */
    double floor;               /* of each vCPU, kept whatever happens */
} PowerCapVmConf;

typedef struct PowerCapConfig {
    char *zone;                 /* NULL: the package zones together */
    double cap_watts;           /* 0: no --power-cap */
    double release;             /* of the cap: below, throttles go */
    double hold_s;              /* readings missing: hold this long */
    PowerCapVmConf vm_default;
    GHashTable *vms;            /* VM name -> PowerCapVmConf */
} PowerCapConfig;

#define POWER_CAP_RELEASE 0.98
#define POWER_CAP_HOLD_S 30
#define POWER_CAP_FLOOR 0.1

void power_cap_config_init(PowerCapConfig *c);

/* --power-cap [ZONE=]W; false with @errp for a bad one. */
bool power_cap_parse(PowerCapConfig *c, const char *arg, Error **errp);

/* --power-cap-config FILE (docs/power-cap.rst); nothing kept on error. */
bool power_cap_load(PowerCapConfig *c, const char *path, Error **errp);

typedef struct PowerCap PowerCap;

/*
 * The loop for the zones @names of the host, with host knobs through
 * @helper (NULL: none, and the log says so) and libvirt domains through
 * @pool.  NULL with @errp when the capped zone is not among @names.
 */
PowerCap *power_cap_new(const PowerCapConfig *c, char **names, size_t nzones,
                        PowerHelper *helper, LvPool *pool, Error **errp);

/*
 * One interval: the zones' power in @r, the VMs measured in @vms (Vm),
 * @busy_cpus the host's CPUs busy on average over it.  Acts, and fills
 * r->power_cap_json and r->power_cap_metrics (valid until the next call).
 */
void power_cap_interval(PowerCap *pc, Report *r, GPtrArray *vms,
                        double busy_cpus);

/* An interval without a reading (@why): hold, then release. */
void power_cap_missing(PowerCap *pc, const char *why);

/* Put back everything it changed, and free. */
void power_cap_stop(PowerCap *pc);

#endif

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: the daemon's state, and the rounds that find and sample
 * the VMs (poller.c).
 */

#ifndef QEMU_POWERD_POWERD_H
#define QEMU_POWERD_POWERD_H

#include "attribution.h"
#include "events.h"
#include "host.h"
#include "httpd.h"
#include "libvirt-watch.h"
#include "powercap.h"
#include "state.h"
#include "vm.h"

typedef enum Format { FORMAT_AUTO, FORMAT_TABLE, FORMAT_JSON, FORMAT_CSV }
    Format;

typedef struct Powerd {
    /* options */
    GPtrArray *qmp_patterns;
    char *libvirt_uri;
    double interval_s;
    double timeout_s;
    bool poll_only;             /* --mode poll */
    bool no_channel;            /* --mode event: events, not a channel */
    double lease_s;
    bool once;
    long count;
    Format format;
    char *listen;
    char *state_file;
    double state_interval_s;    /* how often it is written */
    double state_keep_s;        /* how long a VM gone is remembered */
    char *json_log;
    FILE *json_log_file;
    HostOptions host_opts;
    GHashTable *idle_cfg;       /* zone name ("" for all) -> double */
    PowerCapConfig cap_cfg;     /* --power-cap, --power-cap-config */
    char *cap_file;

    Host host;
    LvWatch *watch;             /* libvirt discovery */
    LvPool *lvpool;             /* libvirt calls to QEMUs */
    GHashTable *vms;            /* key -> Vm */
    GThreadPool *pool;          /* workers, POWERD_WORKERS of them */
    GMutex lock;
    GCond cond;
    uint64_t round;
    HostSample prev_host;
    bool have_prev_host;
    double poll_s;              /* duration of the last round */
    bool unit_known;
    bool unit_cycles;
    double *zone_energy_j;
    IdleModel *idle_model;      /* per zone, when its idle is not given */
    PowerdState *state;
    Httpd *httpd;
    SampleInbox *inbox;         /* samples pushed through libvirt */
    /* per zone, since qemu-powerd started; attribute() keeps it */
    AttrZoneEnergy *zone_parts_j;
    WorkRatioWindow work_ratio_window;
    PowerCap *cap;              /* NULL without --power-cap */
} Powerd;

/*
 * Workers that ask VMs: a hung QMP VM holds one for a timeout once, a
 * hung libvirt VM one until its QEMU runs again (libvirt's calls have no
 * deadline); libvirt-pool.h bounds those at 64.
 */
#define POWERD_WORKERS 96

/* Set by SIGINT and SIGTERM: every wait of a round ends soon after. */
extern volatile sig_atomic_t powerd_stop;

/*
 * Start the workers and, with --libvirt, the libvirt event loop, the
 * discovery thread and the connection pool (connecting once, so that an
 * unreachable libvirt is found now).
 */
bool poller_start(Powerd *pd, Error **errp);

/*
 * A VM that failed keeps its last sample for this many intervals: the
 * next answer then gives the interval a rate (over the intervals since),
 * so that one missed sample costs one interval, not two.  For as long,
 * what it probably uses (its last rate) is unattributed power.
 */
#define MAX_GAP_INTERVALS 10

/* The interval in QEMU's unit, and in microseconds. */
unsigned poller_interval_ms(Powerd *pd);
int64_t poller_step_us(Powerd *pd);

/*
 * One round: find the VMs, take their samples (pushed, or asked for by
 * the worker threads of pd->pool, which run poller_job) and the host's
 * meanwhile into @hs.  Returns the VMs, sorted by name, or NULL if the
 * host could not be measured.
 */
GPtrArray *poller_round(Powerd *pd, HostSample *hs, Error **errp);
void poller_job(gpointer data, gpointer opaque);

/*
 * Leave no VM pushing samples to nobody, until its lease ends: ask each
 * in event mode to stop, waiting a second at most in all.
 */
void poller_stop_sampling(Powerd *pd);

#endif

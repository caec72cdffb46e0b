/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: the attribution of a zone's power to the VMs (pure maths).
 */

#ifndef QEMU_POWERD_ATTRIBUTION_H
#define QEMU_POWERD_ATTRIBUTION_H

/*
 * One interval's attribution, as a pure function of its inputs: no
 * daemon state, no clock, no I/O, so that every case can be tested.
 */

/* How a zone's idle power was obtained. */
typedef enum AttrIdleMethod {
    ATTR_IDLE_GIVEN,            /* --idle-watts */
    ATTR_IDLE_REGRESSION,       /* estimated from the data */
    ATTR_IDLE_NONE_YET,         /* the data cannot tell yet: none taken out */
    ATTR_IDLE_MODEL,            /* --energy-source estimate */
} AttrIdleMethod;

/* "given", "regression", "none-yet", "model" */
const char *attr_idle_method_name(AttrIdleMethod m);

typedef enum AttrVmStatus {
    ATTR_VM_OK,                 /* measured over the interval */
    ATTR_VM_NEW,                /* no interval to measure yet */
    ATTR_VM_FAILED,             /* did not answer, or answered nonsense */
} AttrVmStatus;

typedef struct AttrZoneIn {
    double watts;               /* measured; ignored with a model */
    double idle_watts;          /* GIVEN or REGRESSION: the idle power */
    AttrIdleMethod idle_method;
} AttrZoneIn;

typedef struct AttrVmIn {
    AttrVmStatus status;
    double rate;                /* OK: work per second over the interval */
    double last_rate;           /* FAILED: the rate it last had; 0: none */
} AttrVmIn;

typedef struct AttrIn {
    double interval_s;
    /* everything's work over the interval, in the VMs' unit */
    double host_work;
    /* all CPUs' busy and total time over the interval: the utilisation */
    double busy, total;
    /* hosts without RAPL: idle + (max - idle) * utilisation */
    bool model;
    double model_idle_watts, model_max_watts;
    size_t nzones;
    const AttrZoneIn *zones;
    size_t nvms;
    const AttrVmIn *vms;
} AttrIn;

/* Per zone: watts = idle + vms + unattributed + other. */
typedef struct AttrZoneOut {
    bool valid;                 /* false: the measurement was no power */
    double watts;
    double idle_watts;          /* the idle power taken out, <= watts */
    double active_watts;        /* watts - idle */
    double vms_watts;           /* given to the VMs measured */
    double unattributed_watts;  /* the failed VMs' estimated part */
    double other_watts;         /* what ran outside the VMs */
} AttrZoneOut;

typedef struct AttrOut {
    double utilisation;         /* 0..1 */
    double host_rate;           /* everything's work per second */
    double vm_rate;             /* the measured VMs' work per second */
    /*
     * vm_rate / host_rate: the VMs cannot do more than everything, so
     * above 1 the counters disagree (read at different moments, or in
     * different clocks) and the shares were scaled down to fit; NaN when
     * the host did no work.
     */
    double work_ratio;
    AttrZoneOut *zones;         /* [nzones], filled in */
    double *shares;             /* [nvms]: of the host's work */
    double *vm_watts;           /* [nzones * nvms]: zone z, VM i at z*nvms+i */
} AttrOut;

/* A zone's energy in its two parts, J: what qemu-powerd keeps. */
typedef struct AttrZoneEnergy {
    double idle_j;
    double active_j;
} AttrZoneEnergy;

/*
 * Attribute one interval: per zone, Power(VM) = ActivePower * Work(VM) /
 * Work(host), where Work(host) is at least the measured VMs' sum.  A
 * failed VM gets no watts; what it probably used (its last known rate,
 * capped by what the measured VMs leave) is unattributed rather than
 * other.  A new VM's work is other: there is nothing to go by.  Negative
 * or non-finite rates and work count as 0; a zone whose measurement is
 * negative or not finite is invalid and all 0.  Returns false, with
 * everything 0, if the interval is not a positive length of time.
 */
bool attr_interval(const AttrIn *in, AttrOut *out);

/*
 * Idle power from the data: a regression of a zone's power on the host's
 * utilisation (0..1, all CPUs) over the last IDLE_WINDOW intervals,
 * P = idle + slope * utilisation, whose intercept is the idle power.  One
 * refit after dropping the points whose residual is over 4 median
 * absolute deviations, repeated until the kept points settle, keeps a few
 * odd intervals (a late reading, a burst) from moving it.  The data
 * separate idle from active power only when the utilisation has varied:
 * while the middle 80 % of the window spans less than IDLE_MIN_SPREAD, or
 * the fit is not physical (slope <= 0), there is no estimate.
 */
#define IDLE_WINDOW 600
#define IDLE_MIN_POINTS 10
#define IDLE_MIN_SPREAD 0.1

typedef struct IdleModel {
    double u[IDLE_WINDOW];      /* utilisation */
    double p[IDLE_WINDOW];      /* watts */
    size_t n, next;
} IdleModel;

typedef struct IdleEstimate {
    bool valid;                 /* false: the data cannot tell yet */
    double watts;               /* the intercept, within [0, lowest power] */
    double uncertainty;         /* standard error of the intercept, W */
    double slope;               /* W per unit of utilisation */
    double spread;              /* utilisation range the window covers */
} IdleEstimate;

/* One interval's utilisation @u and power @watts (not finite: ignored). */
void idle_model_add(IdleModel *m, double u, double watts);

IdleEstimate idle_model_estimate(const IdleModel *m);

/*
 * The idle power of a zone with @given (--idle-watts) or NULL, and the
 * regression's estimate @e: into @watts and @uncertainty.
 */
AttrIdleMethod attr_idle_pick(const double *given, const IdleEstimate *e,
                              double *watts, double *uncertainty);

/* Power of the linear estimate model at @utilisation (0..1). */
double attr_estimate_watts(double idle_watts, double max_watts,
                           double utilisation);

/*
 * The VMs' work over the host's across a window of intervals.  One
 * interval above 1 is jitter (the counters are read a moment apart, and
 * a VM's sample may straddle the host's); the same over a minute means
 * the counters disagree, which the operator should hear of.
 */
#define WORK_RATIO_WINDOW_S 60

typedef struct WorkRatioWindow {
    double vm_work, host_work;  /* sums over the window */
    double seconds;             /* the window's length so far */
} WorkRatioWindow;

/*
 * Add one interval of @dt s with the VMs' and the host's rates (work per
 * second; not finite: the interval is skipped).  Once the window spans
 * WORK_RATIO_WINDOW_S, return its ratio and start the next; before that,
 * and for a window in which the host did no work, NaN.
 */
double work_ratio_window_add(WorkRatioWindow *w, double vm_rate,
                             double host_rate, double dt);

#endif

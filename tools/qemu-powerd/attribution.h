/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: the attribution of a zone's power to the VMs (pure maths).
 */

#ifndef QEMU_POWERD_ATTRIBUTION_H
#define QEMU_POWERD_ATTRIBUTION_H

/* One RAPL zone over one interval. */
typedef struct AttrZone {
    double watts;               /* measured */
    double idle_watts;          /* configured or estimated */
    /* results */
    double idle_used;           /* idle power, at most @watts */
    double active_watts;        /* watts - idle_used */
    double other_watts;         /* active power of what ran outside VMs */
} AttrZone;

/*
 * Share of the host's work done by each VM: @vm_rates[i] / the host's
 * rate, where the host's rate is at least the VMs' sum (counters of one
 * interval do not line up perfectly).  Rates are work per second in one
 * unit (cycles or CPU ns).  Negative or non-finite rates count as 0.
 */
void attr_shares(double host_rate, const double *vm_rates, size_t nvms,
                 double *shares);

/*
 * Split zone @z's power: idle, each VM's @shares[i] of the active power
 * into @vm_watts[i], and the rest as other.  The parts add up to
 * z->watts exactly (up to floating point).
 */
void attr_zone(AttrZone *z, const double *shares, size_t nvms,
               double *vm_watts);

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

/* Power of the linear estimate model at @utilisation (0..1). */
double attr_estimate_watts(double idle_watts, double max_watts,
                           double utilisation);

#endif

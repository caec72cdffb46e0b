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

/* Power of the linear estimate model at @utilisation (0..1). */
double attr_estimate_watts(double idle_watts, double max_watts,
                           double utilisation);

#endif

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: Power(VM) = ActivePower * Work(VM) / Work(host), per zone.
 */

#include "qemu/osdep.h"
#include <math.h>
#include "attribution.h"

static double sane(double v)
{
    return isfinite(v) && v > 0 ? v : 0;
}

void attr_shares(double host_rate, const double *vm_rates, size_t nvms,
                 double *shares)
{
    double sum = 0, total;

    for (size_t i = 0; i < nvms; i++) {
        sum += sane(vm_rates[i]);
    }
    /* what the host measured cannot be less than what the VMs did */
    total = MAX(sane(host_rate), sum);
    for (size_t i = 0; i < nvms; i++) {
        shares[i] = total > 0 ? sane(vm_rates[i]) / total : 0;
    }
}

void attr_zone(AttrZone *z, const double *shares, size_t nvms,
               double *vm_watts)
{
    double watts = sane(z->watts);
    double given = 0;

    z->idle_used = MIN(sane(z->idle_watts), watts);
    z->active_watts = watts - z->idle_used;
    for (size_t i = 0; i < nvms; i++) {
        vm_watts[i] = z->active_watts * sane(shares[i]);
        given += vm_watts[i];
    }
    z->other_watts = MAX(0, z->active_watts - given);
}

double attr_estimate_watts(double idle_watts, double max_watts,
                           double utilisation)
{
    double u = MIN(1, sane(utilisation));

    return sane(idle_watts) + MAX(0, max_watts - idle_watts) * u;
}

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

void idle_model_add(IdleModel *m, double u, double watts)
{
    if (!isfinite(u) || !isfinite(watts) || u < 0 || watts < 0) {
        return;
    }
    m->u[m->next] = MIN(u, 1);
    m->p[m->next] = watts;
    m->next = (m->next + 1) % IDLE_WINDOW;
    m->n = MIN(m->n + 1, IDLE_WINDOW);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* The @q quantile (0..1) of @n values, sorted in place. */
static double quantile(double *v, size_t n, double q)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return v[(size_t)(q * (n - 1) + 0.5)];
}

typedef struct Fit {
    double a, b, se_a;
    size_t n;
} Fit;

/* Least squares of p on u over the points with keep[i] (all if NULL). */
static bool fit(const IdleModel *m, const bool *keep, Fit *f)
{
    double su = 0, sp = 0, suu = 0, sup = 0, ss = 0, mean, sxx;
    size_t n = 0;

    for (size_t i = 0; i < m->n; i++) {
        if (!keep || keep[i]) {
            su += m->u[i];
            sp += m->p[i];
            suu += m->u[i] * m->u[i];
            sup += m->u[i] * m->p[i];
            n++;
        }
    }
    if (n < IDLE_MIN_POINTS) {
        return false;
    }
    mean = su / n;
    sxx = suu - su * mean;
    if (sxx <= 0) {
        return false;
    }
    f->b = (sup - su * sp / n) / sxx;
    f->a = sp / n - f->b * mean;
    f->n = n;
    for (size_t i = 0; i < m->n; i++) {
        if (!keep || keep[i]) {
            double r = m->p[i] - f->a - f->b * m->u[i];

            ss += r * r;
        }
    }
    f->se_a = n > 2 ? sqrt(ss / (n - 2) * (1.0 / n + mean * mean / sxx)) : 0;
    return true;
}

IdleEstimate idle_model_estimate(const IdleModel *m)
{
    IdleEstimate e = { 0 };
    g_autofree double *tmp = g_new(double, MAX(m->n, 1));
    g_autofree bool *keep = g_new(bool, MAX(m->n, 1));
    double mad, lowest = INFINITY;
    Fit f;

    if (m->n < IDLE_MIN_POINTS) {
        return e;
    }
    memcpy(tmp, m->u, m->n * sizeof(*tmp));
    e.spread = quantile(tmp, m->n, 0.9) - quantile(tmp, m->n, 0.1);
    if (e.spread < IDLE_MIN_SPREAD || !fit(m, NULL, &f)) {
        return e;
    }
    /*
     * A far point with leverage pulls the first fit towards itself, so
     * that its residual looks ordinary: refit until the kept set settles.
     */
    for (int round = 0; round < 5; round++) {
        bool changed = false;

        for (size_t i = 0; i < m->n; i++) {
            tmp[i] = fabs(m->p[i] - f.a - f.b * m->u[i]);
        }
        mad = quantile(tmp, m->n, 0.5);
        for (size_t i = 0; i < m->n; i++) {
            double r = fabs(m->p[i] - f.a - f.b * m->u[i]);
            bool k = r <= 4 * mad + 0.000001 * m->p[i];

            changed |= round == 0 || k != keep[i];
            keep[i] = k;
        }
        if (!changed) {
            break;
        }
        if (!fit(m, keep, &f)) {
            return e;
        }
    }
    if (f.b <= 0) {
        return e;
    }
    for (size_t i = 0; i < m->n; i++) {
        if (keep[i]) {
            lowest = MIN(lowest, m->p[i]);
        }
    }
    e.valid = true;
    e.watts = MAX(0, MIN(f.a, lowest));
    e.uncertainty = f.se_a;
    e.slope = f.b;
    return e;
}

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

const char *attr_idle_method_name(AttrIdleMethod m)
{
    static const char *const names[] = {
        [ATTR_IDLE_GIVEN] = "given", [ATTR_IDLE_REGRESSION] = "regression",
        [ATTR_IDLE_NONE_YET] = "none-yet", [ATTR_IDLE_MODEL] = "model",
    };

    return names[m];
}

AttrIdleMethod attr_idle_pick(const double *given, const IdleEstimate *e,
                              double *watts, double *uncertainty)
{
    *watts = 0;
    *uncertainty = 0;
    if (given) {
        *watts = *given;
        return ATTR_IDLE_GIVEN;
    }
    if (!e->valid) {
        return ATTR_IDLE_NONE_YET;
    }
    *watts = e->watts;
    *uncertainty = e->uncertainty;
    return ATTR_IDLE_REGRESSION;
}

static void attr_clear(const AttrIn *in, AttrOut *out)
{
    out->utilisation = 0;
    out->host_rate = 0;
    out->vm_rate = 0;
    out->work_ratio = NAN;
    memset(out->zones, 0, in->nzones * sizeof(*out->zones));
    memset(out->shares, 0, in->nvms * sizeof(*out->shares));
    memset(out->vm_watts, 0, in->nzones * in->nvms * sizeof(*out->vm_watts));
}

bool attr_interval(const AttrIn *in, AttrOut *out)
{
    double dt = in->interval_s;
    double total, failed_rate = 0;

    attr_clear(in, out);
    if (!isfinite(dt) || dt <= 0) {
        return false;
    }
    if (sane(in->total) > 0) {
        out->utilisation = MIN(1, sane(in->busy) / in->total);
    }
    out->host_rate = sane(in->host_work) / dt;
    for (size_t i = 0; i < in->nvms; i++) {
        if (in->vms[i].status == ATTR_VM_OK) {
            out->vm_rate += sane(in->vms[i].rate);
        } else if (in->vms[i].status == ATTR_VM_FAILED) {
            failed_rate += sane(in->vms[i].last_rate);
        }
    }
    if (out->host_rate > 0) {
        out->work_ratio = out->vm_rate / out->host_rate;
    }
    /*
     * The host's work cannot be less than what the VMs did: past that the
     * VMs share all of the active power, and work_ratio says so.
     */
    total = MAX(out->host_rate, out->vm_rate);
    for (size_t i = 0; total > 0 && i < in->nvms; i++) {
        if (in->vms[i].status == ATTR_VM_OK) {
            out->shares[i] = sane(in->vms[i].rate) / total;
        }
    }

    for (size_t z = 0; z < in->nzones; z++) {
        const AttrZoneIn *zi = &in->zones[z];
        AttrZoneOut *zo = &out->zones[z];
        double *vm_watts = &out->vm_watts[z * in->nvms];
        double watts, idle;

        if (in->model) {
            watts = attr_estimate_watts(in->model_idle_watts,
                                        in->model_max_watts,
                                        out->utilisation);
            idle = sane(in->model_idle_watts);
        } else {
            watts = zi->watts;
            idle = zi->idle_method == ATTR_IDLE_NONE_YET ? 0 :
                sane(zi->idle_watts);
        }
        if (!isfinite(watts) || watts < 0) {
            continue;           /* no power known: not 0 W of anything */
        }
        zo->valid = true;
        zo->watts = watts;
        zo->idle_watts = MIN(idle, zo->watts);
        zo->active_watts = zo->watts - zo->idle_watts;
        for (size_t i = 0; i < in->nvms; i++) {
            vm_watts[i] = zo->active_watts * out->shares[i];
            zo->vms_watts += vm_watts[i];
        }
        /* rounding may leave the VMs' sum a hair above the active power */
        zo->vms_watts = MIN(zo->vms_watts, zo->active_watts);
        if (total > 0) {
            zo->unattributed_watts = MIN(zo->active_watts - zo->vms_watts,
                                         zo->active_watts * failed_rate /
                                         total);
        }
        zo->other_watts = MAX(0, zo->active_watts - zo->vms_watts -
                              zo->unattributed_watts);
    }
    return true;
}

double attr_estimate_watts(double idle_watts, double max_watts,
                           double utilisation)
{
    double u = MIN(1, sane(utilisation));

    return sane(idle_watts) + MAX(0, max_watts - idle_watts) * u;
}

double work_ratio_window_add(WorkRatioWindow *w, double vm_rate,
                             double host_rate, double dt)
{
    double ratio = NAN;

    if (!isfinite(vm_rate) || !isfinite(host_rate) || !isfinite(dt) ||
        dt <= 0) {
        return NAN;
    }
    w->vm_work += sane(vm_rate) * dt;
    w->host_work += sane(host_rate) * dt;
    w->seconds += dt;
    if (w->seconds < WORK_RATIO_WINDOW_S) {
        return NAN;
    }
    if (w->host_work > 0) {
        ratio = w->vm_work / w->host_work;
    }
    *w = (WorkRatioWindow) { 0 };
    return ratio;
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

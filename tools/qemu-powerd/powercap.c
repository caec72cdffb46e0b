/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd --power-cap: the loop (docs/power-cap.rst).
 */

#include "qemu/osdep.h"
#include <math.h>
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "qemu/cutils.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "json-out.h"
#include "log.h"
#include "powercap.h"
#include "throttle.h"
#include "vm.h"

/* How long a call to qemu-power-helper may take. */
#define HELPER_WAIT_US (500 * 1000)
/* A frequency step: at most this much of the current maximum at once. */
#define FREQ_STEP_MAX 0.3
/* Less than this CPU change is no change. */
#define CPU_EPSILON 0.005
/*
 * A throttled VM using less than this of its quota wants less: it is
 * released.  Well below 1: at a small quota the CPU time read over one
 * interval is off by a scheduler period either way.
 */
#define QUOTA_UNUSED 0.5
/*
 * The share of an interval's error corrected at once: below 1, so that
 * the noise of one interval's reading (a VM's load is not steady) does
 * not swing the limits from side to side.
 */
#define GAIN 0.6
/*
 * Given back more slowly than taken: a release that overshoots puts the
 * host over its cap, one that falls short only costs an interval.
 */
#define GAIN_UP 0.3
/*
 * Released only after this many intervals below the release threshold
 * in a row, or at once when power is below it by this share of the cap
 * (demand fell): one interval's dip is noise, and a release on noise is
 * a throttle again in the next interval.
 */
#define UNDER_INTERVALS 2
#define FAR_UNDER 0.05

/* What the loop knows of a VM, from one interval to the next. */
typedef struct CapVm {
    char *key;
    char *name;
    bool seen;                  /* in this interval */
    PowerCapVmConf conf;
    unsigned nvcpus;
    double cpus;                /* used, on average over the interval */
    double watts;               /* attributed, in the capped zones */
    Throttle *t;
    char *no_throttle;          /* why it cannot be throttled, or NULL */
    double quota;               /* CPUs; < 0: not throttled */
} CapVm;

typedef struct CapRapl {
    char *zone;
    uint64_t orig_uw;
    bool orig_enabled;
    uint64_t max_uw;            /* 0: the zone says none */
    bool set;
    uint64_t uw;                /* ours, when set */
} CapRapl;

typedef struct CapCpu {
    uint32_t cpu;
    uint64_t orig_max_khz;
    uint64_t lowest_khz;        /* max(cpuinfo min, policy min) */
} CapCpu;

/*
 * The CPUs' highest frequency: cpufreq's max-khz of every CPU, or where
 * there is no cpufreq, intel_pstate's max_perf_pct.
 */
typedef struct FreqKnob {
    const char *action;         /* NULL: no such knob */
    const char *target;
    const char *what;
    const char *unit;
    uint64_t orig, lowest;
    uint64_t cur;               /* ours; 0: untouched */
    bool (*set)(PowerCap *pc, uint64_t v, Error **errp);
    bool (*restore)(PowerCap *pc, Error **errp);
} FreqKnob;

struct PowerCap {
    PowerCapConfig c;
    size_t nzones;
    bool *capped;               /* [nzones]: counted against the cap */
    PowerHelper *helper;
    LvPool *pool;
    /* host knobs */
    bool knobs;                 /* usable */
    char *knobs_why;            /* why not */
    GArray *rapl;               /* CapRapl */
    GArray *cpus;               /* CapCpu */
    FreqKnob freq;              /* cpufreq, or intel_pstate, or none */
    /* VMs */
    GHashTable *vms;            /* key -> CapVm */
    /* this interval */
    double watts;               /* NAN: missing */
    double knob_p;              /* power at the last knob step, or NAN */
    unsigned under;             /* intervals below the threshold in a row */
    const char *state;
    GString *actions;           /* JSON objects, comma-separated */
    int64_t missing_since;      /* monotonic us, 0: readings there */
    bool released_missing;
    GHashTable *counts;         /* action -> count (GUINT_TO_POINTER) */
    char *json, *metrics;
};

static const char *const action_names[] = {
    "rapl-limit", "cpufreq-max", "pstate-max", "throttle", "release",
    "hold", "restore",
};

static void cap_vm_free(gpointer p)
{
    CapVm *v = p;

    throttle_free(v->t);
    g_free(v->key);
    g_free(v->name);
    g_free(v->no_throttle);
    g_free(v);
}

/* Note an action: logged, exported, counted. */
static void G_GNUC_PRINTF(5, 6)
act(PowerCap *pc, const char *action, const char *target, double value,
    const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;
    gpointer n;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    powerd_log(LOG_NOTICE, "power-cap: %s", msg);
    g_string_append(pc->actions, pc->actions->len ? ", {\"action\": " :
                    "{\"action\": ");
    json_append_string(pc->actions, action);
    g_string_append(pc->actions, ", \"target\": ");
    json_append_string(pc->actions, target);
    g_string_append(pc->actions, ", \"value\": ");
    if (isfinite(value)) {
        json_append_number(pc->actions, value);
    } else {
        g_string_append(pc->actions, "null");
    }
    g_string_append(pc->actions, ", \"reason\": ");
    json_append_string(pc->actions, msg);
    g_string_append_c(pc->actions, '}');
    n = g_hash_table_lookup(pc->counts, action);
    g_hash_table_insert(pc->counts, (gpointer)action,
                        GUINT_TO_POINTER(GPOINTER_TO_UINT(n) + 1));
}

static uint64_t get_u64(QDict *d, const char *key)
{
    QNum *n = qobject_to(QNum, qdict_get(d, key));
    uint64_t v = 0;

    if (n) {
        qnum_get_try_uint(n, &v);
    }
    return v;
}

static int64_t helper_deadline(void)
{
    return g_get_monotonic_time() + HELPER_WAIT_US;
}

/* Knobs that failed are left alone from then on: the log says why. */
static void knobs_failed(PowerCap *pc, Error *err)
{
    powerd_log(LOG_WARNING, "power-cap: host knobs not used from now on: %s",
               error_get_pretty(err));
    g_free(pc->knobs_why);
    pc->knobs_why = g_strdup(error_get_pretty(err));
    pc->knobs = false;
    error_free(err);
}

/* The helper's @cmd with @args (taken): whether it was done. */
static bool ask(PowerCap *pc, const char *cmd, QDict *args, Error **errp)
{
    QObject *ret = power_helper_call(pc->helper, cmd, args,
                                     helper_deadline(), errp);
    bool ok = ret != NULL;

    qobject_unref(args);
    qobject_unref(ret);
    return ok;
}

/* The highest frequency of @cpus (taken), in kHz. */
static bool cpufreq_max(PowerCap *pc, QList *cpus, uint64_t khz,
                        Error **errp)
{
    QDict *args = qdict_new();

    qdict_put(args, "cpus", cpus);
    qdict_put_int(args, "max-khz", khz);
    return ask(pc, "set-host-cpufreq", args, errp);
}

static bool set_rapl(PowerCap *pc, CapRapl *r, uint64_t uw, bool enabled,
                     Error **errp)
{
    QDict *args = qdict_new();

    qdict_put_str(args, "zone", r->zone);
    qdict_put_str(args, "constraint", "long_term");
    qdict_put_int(args, "power-limit-uw", uw);
    qdict_put_bool(args, "enabled", enabled);
    return ask(pc, "set-host-power-limit", args, errp);
}

/* Set the highest frequency of every CPU that has cpufreq. */
static bool set_max_khz(PowerCap *pc, uint64_t khz, Error **errp)
{
    QList *cpus = qlist_new();

    for (guint i = 0; i < pc->cpus->len; i++) {
        qlist_append_int(cpus, g_array_index(pc->cpus, CapCpu, i).cpu);
    }
    return cpufreq_max(pc, cpus, khz, errp);
}

/* Each CPU's own highest frequency back, one call per value. */
static bool restore_khz(PowerCap *pc, Error **errp)
{
    g_autoptr(GHashTable) done = g_hash_table_new(g_int64_hash,
                                                  g_int64_equal);

    for (guint i = 0; i < pc->cpus->len; i++) {
        CapCpu *c = &g_array_index(pc->cpus, CapCpu, i);
        QList *cpus;

        if (g_hash_table_contains(done, &c->orig_max_khz)) {
            continue;
        }
        g_hash_table_add(done, &c->orig_max_khz);
        cpus = qlist_new();
        for (guint j = i; j < pc->cpus->len; j++) {
            CapCpu *o = &g_array_index(pc->cpus, CapCpu, j);

            if (o->orig_max_khz == c->orig_max_khz) {
                qlist_append_int(cpus, o->cpu);
            }
        }
        if (!cpufreq_max(pc, cpus, c->orig_max_khz, errp)) {
            return false;
        }
    }
    return true;
}

static bool set_pct(PowerCap *pc, uint64_t pct, Error **errp)
{
    QDict *args = qdict_new();

    qdict_put_int(args, "max-perf-pct", pct);
    return ask(pc, "set-host-pstate", args, errp);
}

static bool restore_pct(PowerCap *pc, Error **errp)
{
    return set_pct(pc, pc->freq.orig, errp);
}

static bool rapl_any_set(PowerCap *pc)
{
    for (guint i = 0; i < pc->rapl->len; i++) {
        if (g_array_index(pc->rapl, CapRapl, i).set) {
            return true;
        }
    }
    return false;
}

/* What the host offers, from query-host-power-policy. */
static bool read_knobs(PowerCap *pc, Error **errp)
{
    g_autoptr(QDict) p = NULL;
    QObject *ret = power_helper_call(pc->helper, "query-host-power-policy",
                                     NULL, helper_deadline(), errp);
    QList *l;
    const QListEntry *e;
    QDict *ps;

    if (!ret) {
        return false;
    }
    p = qobject_to(QDict, ret);
    if (!p) {
        qobject_unref(ret);
        error_setg(errp, "query-host-power-policy did not return an object");
        return false;
    }
    if (!qdict_get_try_bool(p, "allowed", false)) {
        error_setg(errp, "qemu-power-helper does not let qemu-powerd change "
                   "policy (its --allow-policy)");
        return false;
    }
    l = qdict_get_qlist(p, "zones");
    QLIST_FOREACH_ENTRY(l, e) {
        QDict *z = qobject_to(QDict, qlist_entry_obj(e));
        const char *name = z ? qdict_get_try_str(z, "zone") : NULL;
        QList *cl = z ? qdict_get_qlist(z, "constraints") : NULL;
        const QListEntry *ce;

        if (!name || !cl || (pc->c.zone ? strcmp(name, pc->c.zone) :
                             !g_str_has_prefix(name, "package-"))) {
            continue;
        }
        QLIST_FOREACH_ENTRY(cl, ce) {
            QDict *c = qobject_to(QDict, qlist_entry_obj(ce));
            CapRapl r = { 0 };

            if (!c || g_strcmp0(qdict_get_try_str(c, "name"), "long_term")) {
                continue;
            }
            r.zone = g_strdup(name);
            r.orig_uw = get_u64(c, "power-limit-uw");
            r.max_uw = get_u64(c, "max-power-uw");
            r.orig_enabled = qdict_get_try_bool(z, "enabled", true);
            g_array_append_val(pc->rapl, r);
        }
    }
    l = qdict_get_qlist(p, "cpus");
    QLIST_FOREACH_ENTRY(l, e) {
        QDict *cd = qobject_to(QDict, qlist_entry_obj(e));
        CapCpu c;

        if (!cd) {
            continue;
        }
        c.cpu = get_u64(cd, "cpu");
        c.orig_max_khz = get_u64(cd, "max-khz");
        c.lowest_khz = MAX(get_u64(cd, "cpuinfo-min-khz"),
                           get_u64(cd, "min-khz"));
        g_array_append_val(pc->cpus, c);
        pc->freq.orig = MAX(pc->freq.orig, c.orig_max_khz);
        pc->freq.lowest = MAX(pc->freq.lowest, c.lowest_khz);
    }
    ps = qdict_get_qdict(p, "pstate");
    if (pc->cpus->len) {
        pc->freq.action = "cpufreq-max";
        pc->freq.target = "cpus";
        pc->freq.what = "cpufreq max";
        pc->freq.unit = " kHz";
        pc->freq.set = set_max_khz;
        pc->freq.restore = restore_khz;
    } else if (ps) {
        pc->freq = (FreqKnob) {
            .action = "pstate-max", .target = "intel_pstate",
            .what = "intel_pstate max_perf_pct", .unit = " %",
            .orig = get_u64(ps, "max-perf-pct"),
            .lowest = MAX(get_u64(ps, "min-perf-pct"), 1),
            .set = set_pct, .restore = restore_pct,
        };
    }
    if (!pc->rapl->len && !pc->freq.action) {
        error_setg(errp, "the host has no RAPL limit, cpufreq or "
                   "intel_pstate for qemu-powerd to change");
        return false;
    }
    return true;
}

PowerCap *power_cap_new(const PowerCapConfig *c, char **names, size_t nzones,
                        PowerHelper *helper, LvPool *pool, Error **errp)
{
    PowerCap *pc = g_new0(PowerCap, 1);
    Error *err = NULL;
    bool any = false;

    pc->c = *c;
    pc->nzones = nzones;
    pc->capped = g_new0(bool, nzones);
    for (size_t z = 0; z < nzones; z++) {
        pc->capped[z] = c->zone ? !strcmp(names[z], c->zone) :
            g_str_has_prefix(names[z], "package-");
        any |= pc->capped[z];
    }
    if (!any) {
        g_autofree char *all = g_strjoinv(", ", names);

        error_setg(errp, "--power-cap: the host has no zone %s%s%s (its "
                   "zones: %s)", c->zone ? "'" : "named package-N",
                   c->zone ? c->zone : "", c->zone ? "'" : "",
                   nzones ? all : "none");
        g_free(pc->capped);
        g_free(pc);
        return NULL;
    }
    pc->helper = helper;
    pc->pool = pool;
    pc->rapl = g_array_new(false, true, sizeof(CapRapl));
    pc->cpus = g_array_new(false, true, sizeof(CapCpu));
    pc->vms = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                    cap_vm_free);
    pc->counts = g_hash_table_new(g_str_hash, g_str_equal);
    pc->actions = g_string_new("");
    pc->watts = NAN;
    pc->knob_p = NAN;
    pc->state = "in-band";
    if (!helper) {
        pc->knobs_why = g_strdup("no --helper given");
    } else if (!read_knobs(pc, &err)) {
        pc->knobs_why = g_strdup(error_get_pretty(err));
        error_free(err);
    } else {
        pc->knobs = true;
    }
    if (pc->knobs) {
        powerd_log(LOG_NOTICE, "power-cap: %g W on %s, released below %g W; "
                   "host knobs: %u RAPL limit(s), %s", c->cap_watts,
                   c->zone ? c->zone : "the packages",
                   c->cap_watts * c->release, pc->rapl->len,
                   pc->freq.action ? pc->freq.what : "no frequency limit");
    } else {
        powerd_log(LOG_NOTICE, "power-cap: %g W on %s, released below %g W",
                   c->cap_watts, c->zone ? c->zone : "the packages",
                   c->cap_watts * c->release);
        powerd_log(LOG_WARNING, "power-cap: host knobs not used: %s; VMs "
                   "are throttled alone", pc->knobs_why);
    }
    return pc;
}

/*
 * Where the loop aims: a third of the band below the cap, nearer the
 * cap than the release threshold, since an interval's noise is as
 * likely up as down and the threshold releases while the cap only
 * throttles more.
 */
static double target_watts(PowerCap *pc)
{
    return pc->c.cap_watts * (1 - (1 - pc->c.release) / 3);
}

/*
 * Host knobs, one step: the RAPL limits to the target, then the highest
 * frequency down by what the excess asks of the active power.  False
 * when there is no step left to take.
 */
static bool knobs_down(PowerCap *pc, double excess, double active,
                       const char *why)
{
    /* P ~ idle + active x f: the frequency for @excess less of it */
    double f = MAX(active > 0 ? 1 - excess / active : 0, 1 - FREQ_STEP_MAX);
    Error *err = NULL;

    if (!pc->knobs) {
        return false;
    }
    if (!rapl_any_set(pc) && pc->rapl->len) {
        for (guint i = 0; i < pc->rapl->len; i++) {
            CapRapl *r = &g_array_index(pc->rapl, CapRapl, i);
            /* the packages share the target as they share the power */
            uint64_t uw = target_watts(pc) * 1e6 / pc->rapl->len;

            if (r->max_uw) {
                uw = MIN(uw, r->max_uw);
            }
            if (!set_rapl(pc, r, uw, true, &err)) {
                knobs_failed(pc, err);
                return false;
            }
            r->set = true;
            r->uw = uw;
            act(pc, "rapl-limit", r->zone, uw / 1e6, "set RAPL limit of %s "
                "to %.1f W (was %.1f W%s): %s", r->zone, uw / 1e6,
                r->orig_uw / 1e6, r->orig_enabled ? "" : ", not enforced",
                why);
        }
        return true;
    }
    if (pc->freq.action) {
        FreqKnob *k = &pc->freq;
        uint64_t cur = k->cur ? k->cur : k->orig;
        uint64_t v = MAX(k->lowest, (uint64_t)(cur * f));

        if (cur <= k->lowest) {
            return false;
        }
        if (!k->set(pc, v, &err)) {
            knobs_failed(pc, err);
            return false;
        }
        k->cur = v;
        act(pc, k->action, k->target, v, "set %s to %" PRIu64 "%s (was %"
            PRIu64 "%s): %s", k->what, v, k->unit, cur, k->unit, why);
        return true;
    }
    return false;
}

static void restore_failed(PowerCap *pc, const char *what, Error *err)
{
    powerd_log(LOG_ERR, "power-cap: cannot put back %s: %s (qemu-power-"
               "helper puts it back when qemu-powerd disconnects)", what,
               error_get_pretty(err));
    error_free(err);
}

/* Every RAPL limit that is ours back to what it was. */
static void restore_rapl(PowerCap *pc, const char *why)
{
    for (guint i = 0; i < pc->rapl->len; i++) {
        CapRapl *r = &g_array_index(pc->rapl, CapRapl, i);
        Error *err = NULL;

        if (!r->set) {
            continue;
        }
        r->set = false;
        if (!set_rapl(pc, r, r->orig_uw, r->orig_enabled, &err)) {
            restore_failed(pc, r->zone, err);
            continue;
        }
        act(pc, "restore", r->zone, r->orig_uw / 1e6, "restored RAPL limit "
            "of %s to %.1f W%s: %s", r->zone, r->orig_uw / 1e6,
            r->orig_enabled ? "" : ", not enforced", why);
    }
}

/*
 * Every host knob that is ours back at once, even after the helper
 * failed once: readings gone for too long, or qemu-powerd stopping.
 */
static void restore_knobs(PowerCap *pc, const char *why)
{
    Error *err = NULL;

    if (pc->freq.cur) {
        FreqKnob *k = &pc->freq;

        k->cur = 0;
        if (k->restore(pc, &err)) {
            act(pc, "restore", k->target, k->orig, "restored %s to %" PRIu64
                "%s: %s", k->what, k->orig, k->unit, why);
        } else {
            restore_failed(pc, k->what, err);
        }
    }
    restore_rapl(pc, why);
}

/*
 * Host knobs back, one step: the frequency up by what the room allows,
 * to the original; then the RAPL limits.  False when nothing is left.
 */
static bool knobs_up(PowerCap *pc, double room, double active,
                     const char *why)
{
    Error *err = NULL;
    double f = MIN(active > 0 ? 1 + room / active : INFINITY,
                   1 + FREQ_STEP_MAX);

    if (!pc->knobs) {
        return false;
    }
    if (pc->freq.cur) {
        FreqKnob *k = &pc->freq;
        uint64_t v = MIN(k->orig, (uint64_t)(k->cur * f));
        bool back = v >= k->orig;

        if (!(back ? k->restore(pc, &err) : k->set(pc, v, &err))) {
            knobs_failed(pc, err);
            return false;
        }
        act(pc, back ? "restore" : k->action, k->target, v, "%s %s to %"
            PRIu64 "%s (was %" PRIu64 "%s): %s", back ? "restored" :
            "raised", k->what, v, k->unit, k->cur, k->unit, why);
        k->cur = back ? 0 : v;
        return true;
    }
    if (rapl_any_set(pc)) {
        restore_rapl(pc, why);
        return true;
    }
    return false;
}

static gint by_priority_then_watts(gconstpointer a, gconstpointer b)
{
    const CapVm *x = *(CapVm **)a, *y = *(CapVm **)b;

    if (x->conf.priority != y->conf.priority) {
        return x->conf.priority < y->conf.priority ? -1 : 1;
    }
    return x->watts > y->watts ? -1 : x->watts < y->watts;
}

static double floor_cpus(const CapVm *v)
{
    return v->conf.floor * MAX(v->nvcpus, 1);
}

/* The VMs, in the order they are throttled. */
static GPtrArray *throttle_order(PowerCap *pc)
{
    GPtrArray *a = g_ptr_array_new();
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, pc->vms);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        if (((CapVm *)v)->seen) {
            g_ptr_array_add(a, v);
        }
    }
    g_ptr_array_sort(a, by_priority_then_watts);
    return a;
}

static bool vm_set(PowerCap *pc, CapVm *v, double quota, const char *why)
{
    Error *err = NULL;
    double was = v->quota;

    if (!v->t) {
        return false;
    }
    if (!throttle_set(v->t, quota, v->nvcpus, &err)) {
        powerd_log_limited(LOG_WARNING, v->key, "power-cap: cannot throttle "
                           "VM '%s': %s", v->name, error_get_pretty(err));
        error_free(err);
        return false;
    }
    v->quota = quota;
    if (was < 0) {
        act(pc, "throttle", v->name, quota, "throttle VM '%s' to %.2f CPUs "
            "(was %.2f, unthrottled; floor %.2f): %s", v->name, quota,
            v->cpus, floor_cpus(v), why);
    } else {
        act(pc, "throttle", v->name, quota, "%s VM '%s' to %.2f CPUs "
            "(was %.2f; floor %.2f): %s", quota > was ? "raise" : "throttle",
            v->name, quota, was, floor_cpus(v), why);
    }
    return true;
}

static void vm_release(PowerCap *pc, CapVm *v, const char *why)
{
    Error *err = NULL;

    if (v->quota < 0) {
        return;
    }
    if (!throttle_release(v->t, &err)) {
        powerd_log(LOG_WARNING, "power-cap: cannot release VM '%s': %s",
                   v->name, error_get_pretty(err));
        error_free(err);
        return;
    }
    act(pc, "release", v->name, NAN, "release VM '%s' (was %.2f CPUs): %s",
        v->name, v->quota, why);
    v->quota = -1;
}

/* W per CPU of @v's work, or of the host's when @v's tells nothing. */
static double watts_per_cpu(const CapVm *v, double active, double busy)
{
    if (v->cpus > CPU_EPSILON && v->watts > 0) {
        return v->watts / v->cpus;
    }
    return busy > CPU_EPSILON ? active / busy : 0;
}

/*
 * Take @excess watts off the VMs, lowest priority first.  The VMs of one
 * priority give in proportion to their power (the largest gives most),
 * all at once: a VM throttled alone leaves its CPU to the others of its
 * group, which would take it and put the power back.  The next priority
 * gives only what the lower ones cannot, at their floors.
 */
static void vms_down(PowerCap *pc, double excess, double active,
                     double busy, const char *why)
{
    g_autoptr(GPtrArray) order = throttle_order(pc);
    g_autofree double *lim = g_new0(double, order->len + 1);
    g_autofree double *was = g_new0(double, order->len + 1);
    guint i = 0;

    for (guint k = 0; k < order->len; k++) {
        CapVm *v = g_ptr_array_index(order, k);

        was[k] = v->quota >= 0 ? MIN(v->quota, v->cpus * 1.05) : v->cpus;
        lim[k] = was[k];
    }
    while (i < order->len && excess > 0) {
        int prio = ((CapVm *)g_ptr_array_index(order, i))->conf.priority;
        guint end = i;

        while (end < order->len &&
               ((CapVm *)g_ptr_array_index(order, end))->conf.priority ==
               prio) {
            end++;
        }
        /*
         * a few passes: what a VM at its floor cannot give, the others
         * of its priority do, before the next priority gives anything
         */
        for (int pass = 0; pass < 4 && excess > 0; pass++) {
            double group_w = 0, taken = 0;

            for (guint k = i; k < end; k++) {
                CapVm *v = g_ptr_array_index(order, k);

                if (v->t && watts_per_cpu(v, active, busy) > 0 &&
                    lim[k] - floor_cpus(v) >= CPU_EPSILON) {
                    group_w += MAX(v->watts, 0);
                }
            }
            if (group_w <= 0) {
                break;
            }
            for (guint k = i; k < end; k++) {
                CapVm *v = g_ptr_array_index(order, k);
                double wpc = watts_per_cpu(v, active, busy);
                double cut;

                if (!v->t || wpc <= 0 ||
                    lim[k] - floor_cpus(v) < CPU_EPSILON) {
                    continue;
                }
                cut = MIN(lim[k] - floor_cpus(v),
                          excess * MAX(v->watts, 0) / group_w / wpc);
                lim[k] -= cut;
                taken += cut * wpc;
            }
            excess -= taken;
            if (taken <= 0) {
                break;
            }
        }
        i = end;
    }
    for (guint k = 0; k < order->len; k++) {
        if (was[k] - lim[k] >= CPU_EPSILON) {
            vm_set(pc, g_ptr_array_index(order, k), lim[k], why);
        }
    }
}

/*
 * Give @room watts back to the VMs, highest priority first (the reverse
 * of throttling); true if any was throttled.
 */
static bool vms_up(PowerCap *pc, double room, double active, double busy,
                   const char *why)
{
    g_autoptr(GPtrArray) order = throttle_order(pc);
    bool any = false;

    for (guint i = order->len; i-- > 0 && room > 0;) {
        CapVm *v = g_ptr_array_index(order, i);
        double wpc = watts_per_cpu(v, active, busy);
        double add, quota;

        if (v->quota < 0) {
            continue;
        }
        any = true;
        add = wpc > 0 ? room / wpc : v->quota;
        quota = v->quota + add;
        /* a VM that leaves its quota unused wants less than it */
        if (v->cpus < QUOTA_UNUSED * v->quota ||
            quota >= MAX(v->nvcpus, 1)) {
            room -= (MAX(v->nvcpus, 1) - v->cpus) * wpc;
            vm_release(pc, v, why);
        } else if (add >= CPU_EPSILON && vm_set(pc, v, quota, why)) {
            room -= add * wpc;
        }
    }
    return any;
}

static void release_all(PowerCap *pc, const char *why)
{
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, pc->vms);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        vm_release(pc, v, why);
    }
    restore_knobs(pc, why);
}

/* Find the VMs of this interval; forget those gone (put back). */
static void update_vms(PowerCap *pc, Report *r, GPtrArray *vms,
                       double busy_cpus)
{
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, pc->vms);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        ((CapVm *)v)->seen = false;
    }
    for (guint i = 0; i < vms->len; i++) {
        Vm *vm = g_ptr_array_index(vms, i);
        CapVm *cv = g_hash_table_lookup(pc->vms, vm->key);
        PowerCapVmConf *conf;
        Error *err = NULL;

        if (vm->status != VM_OK) {
            if (cv) {
                cv->seen = false;       /* kept, not acted on */
            }
            continue;
        }
        if (!cv) {
            cv = g_new0(CapVm, 1);
            cv->key = g_strdup(vm->key);
            cv->name = g_strdup(vm->name ? vm->name : vm->key);
            cv->quota = -1;
            if (vm->libvirt) {
                cv->t = throttle_libvirt(pc->pool, vm->uuid);
            } else {
                cv->t = throttle_cgroup(qatomic_read(&vm->pid), &err);
            }
            if (!cv->t) {
                cv->no_throttle = g_strdup(error_get_pretty(err));
                powerd_log(LOG_WARNING, "power-cap: VM '%s' cannot be "
                           "throttled: %s", cv->name, cv->no_throttle);
                error_free(err);
            }
            g_hash_table_insert(pc->vms, cv->key, cv);
        }
        conf = g_hash_table_lookup(pc->c.vms, cv->name);
        cv->conf = conf ? *conf : pc->c.vm_default;
        cv->seen = true;
        cv->nvcpus = vm->prev.nvcpus;
        cv->cpus = vm->share * busy_cpus;
        cv->watts = 0;
        for (size_t z = 0; z < pc->nzones; z++) {
            if (pc->capped[z]) {
                cv->watts += vm->watts[z];
            }
        }
    }
    /* a VM gone from discovery: its QEMU is gone too, or not ours */
    g_hash_table_iter_init(&it, pc->vms);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        CapVm *cv = v;
        bool present = false;

        for (guint i = 0; i < vms->len && !present; i++) {
            present = !strcmp(((Vm *)g_ptr_array_index(vms, i))->key,
                              cv->key);
        }
        if (!present) {
            g_hash_table_iter_remove(&it);
        }
    }
}

static void render(PowerCap *pc)
{
    GString *o = g_string_new("{\"zone\": ");
    g_autoptr(GPtrArray) order = throttle_order(pc);
    GString *m = g_string_new("");

    json_append_string(o, pc->c.zone ? pc->c.zone : "host");
    g_string_append(o, ", \"cap-watts\": ");
    json_append_number(o, pc->c.cap_watts);
    g_string_append(o, ", \"release-watts\": ");
    json_append_number(o, pc->c.cap_watts * pc->c.release);
    g_string_append(o, ", \"watts\": ");
    if (isfinite(pc->watts)) {
        json_append_number(o, pc->watts);
    } else {
        g_string_append(o, "null");
    }
    g_string_append(o, ", \"state\": ");
    json_append_string(o, pc->state);
    g_string_append_printf(o, ", \"host-knobs\": {\"available\": %s",
                           pc->knobs ? "true" : "false");
    if (!pc->knobs) {
        g_string_append(o, ", \"reason\": ");
        json_append_string(o, pc->knobs_why);
    }
    g_string_append(o, ", \"rapl-limit-watts\": ");
    if (rapl_any_set(pc)) {
        double w = 0;

        for (guint i = 0; i < pc->rapl->len; i++) {
            w += g_array_index(pc->rapl, CapRapl, i).uw / 1e6;
        }
        json_append_number(o, w);
    } else {
        g_string_append(o, "null");
    }
    g_string_append(o, ", \"max-khz\": ");
    if (pc->freq.cur && pc->cpus->len) {
        json_append_number(o, pc->freq.cur);
    } else {
        g_string_append(o, "null");
    }
    g_string_append(o, "}, \"vms\": [");
    for (guint i = 0; i < order->len; i++) {
        CapVm *v = g_ptr_array_index(order, i);

        g_string_append(o, i ? ", {\"name\": " : "{\"name\": ");
        json_append_string(o, v->name);
        g_string_append_printf(o, ", \"priority\": %d, \"floor-cpus\": ",
                               v->conf.priority);
        json_append_number(o, floor_cpus(v));
        g_string_append(o, ", \"cpus\": ");
        json_append_number(o, v->cpus);
        g_string_append(o, ", \"quota-cpus\": ");
        if (v->quota >= 0) {
            json_append_number(o, v->quota);
        } else {
            g_string_append(o, "null");
        }
        if (v->no_throttle) {
            g_string_append(o, ", \"not-throttled\": ");
            json_append_string(o, v->no_throttle);
        }
        g_string_append_c(o, '}');
    }
    g_string_append_printf(o, "], \"actions\": [%s]}", pc->actions->str);

    report_metric_head(m, "qemu_power_cap_watts", "gauge",
                       "The power cap qemu-powerd holds the zone under.");
    g_string_append(m, "qemu_power_cap_watts{zone=");
    report_label(m, pc->c.zone ? pc->c.zone : "host");
    g_string_append(m, "} ");
    json_append_number(m, pc->c.cap_watts);
    g_string_append(m, "\n");
    report_metric_head(m, "qemu_power_cap_vm_quota_cpus", "gauge",
                       "The CPUs a VM is throttled to (only those "
                       "throttled).");
    for (guint i = 0; i < order->len; i++) {
        CapVm *v = g_ptr_array_index(order, i);

        if (v->quota < 0) {
            continue;
        }
        g_string_append(m, "qemu_power_cap_vm_quota_cpus{name=");
        report_label(m, v->name);
        g_string_append(m, "} ");
        json_append_number(m, v->quota);
        g_string_append(m, "\n");
    }
    report_metric_head(m, "qemu_power_cap_actions_total", "counter",
                       "The power cap's actions since qemu-powerd started.");
    for (size_t i = 0; i < ARRAY_SIZE(action_names); i++) {
        g_string_append_printf(m, "qemu_power_cap_actions_total{action=\"%s\"}"
                               " %u\n", action_names[i],
                               GPOINTER_TO_UINT(g_hash_table_lookup(
                                   pc->counts, action_names[i])));
    }
    g_free(pc->json);
    g_free(pc->metrics);
    pc->json = g_string_free(o, false);
    pc->metrics = g_string_free(m, false);
}

void power_cap_interval(PowerCap *pc, Report *r, GPtrArray *vms,
                        double busy_cpus)
{
    double p = 0, active = 0;
    double cap = pc->c.cap_watts, low = cap * pc->c.release;
    g_autofree char *why = NULL;
    bool stepped, weak;

    g_string_truncate(pc->actions, 0);
    for (size_t z = 0; z < pc->nzones; z++) {
        if (pc->capped[z]) {
            p += r->zones[z].watts;
            active += r->zones[z].active_watts;
        }
    }
    if (pc->missing_since) {
        powerd_log(LOG_NOTICE, "power-cap: readings back after %.1f s",
                   (g_get_monotonic_time() - pc->missing_since) / 1e6);
    }
    pc->missing_since = 0;
    pc->released_missing = false;
    pc->watts = p;
    update_vms(pc, r, vms, busy_cpus);
    if (p > cap) {
        pc->under = 0;
        pc->state = "over";
        why = g_strdup_printf("%s at %.1f W > cap %.1f W",
                              pc->c.zone ? pc->c.zone : "host", p, cap);
        stepped = knobs_down(pc, p - target_watts(pc), active, why);
        /*
         * a knob step that did not bring power down by a fifth of what
         * it should (the host is at the least its knobs give): the VMs
         * too, without waiting for every knob to run out
         */
        weak = isfinite(pc->knob_p) &&
            pc->knob_p - p < 0.2 * (pc->knob_p - target_watts(pc));
        if (!stepped || weak) {
            vms_down(pc, GAIN * (p - target_watts(pc)), active, busy_cpus,
                     why);
        }
        pc->knob_p = stepped ? p : NAN;
    } else if (p < low && (++pc->under >= UNDER_INTERVALS ||
                           p < low - FAR_UNDER * cap)) {
        pc->knob_p = NAN;
        pc->state = "under";
        why = g_strdup_printf("%s at %.1f W < %.1f W",
                              pc->c.zone ? pc->c.zone : "host", p, low);
        if (!vms_up(pc, GAIN_UP * (target_watts(pc) - p), active, busy_cpus,
                    why)) {
            knobs_up(pc, GAIN_UP * (target_watts(pc) - p), active, why);
        }
    } else {
        pc->knob_p = NAN;
        pc->state = p < low ? "under" : "in-band";
    }
    if (p >= low) {
        pc->under = 0;
    }
    render(pc);
    r->power_cap_json = pc->json;
    r->power_cap_metrics = pc->metrics;
}

void power_cap_missing(PowerCap *pc, const char *why)
{
    int64_t now = g_get_monotonic_time();

    g_string_truncate(pc->actions, 0);
    pc->watts = NAN;
    pc->state = "holding";
    if (!pc->missing_since) {
        pc->missing_since = now;
        act(pc, "hold", "all", pc->c.hold_s, "readings missing (%s): "
            "holding every limit for %g s", why, pc->c.hold_s);
    } else if (!pc->released_missing &&
               now - pc->missing_since >= pc->c.hold_s * G_USEC_PER_SEC) {
        g_autofree char *r = g_strdup_printf(
            "readings missing for %.1f s: releasing everything",
            (now - pc->missing_since) / 1e6);

        powerd_log(LOG_WARNING, "power-cap: %s", r);
        release_all(pc, r);
        pc->released_missing = true;
    }
    render(pc);
}

void power_cap_stop(PowerCap *pc)
{
    if (!pc) {
        return;
    }
    release_all(pc, "qemu-powerd stops");
    g_hash_table_destroy(pc->vms);      /* nothing is left to put back */
    throttle_flush(2 * G_USEC_PER_SEC);
    for (guint i = 0; i < pc->rapl->len; i++) {
        g_free(g_array_index(pc->rapl, CapRapl, i).zone);
    }
    g_array_free(pc->rapl, true);
    g_array_free(pc->cpus, true);
    g_hash_table_destroy(pc->counts);
    g_string_free(pc->actions, true);
    g_free(pc->knobs_why);
    g_free(pc->capped);
    g_free(pc->json);
    g_free(pc->metrics);
    g_free(pc);
}

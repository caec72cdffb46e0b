/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: a VM's CPU bandwidth, for --power-cap.
 */

#include "qemu/osdep.h"
#include <math.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "log.h"
#include "throttle.h"

/* The libvirt side, shared with the thread that makes its calls. */
typedef struct LvThrottle {
    LvPool *pool;
    char *uuid;
    LvBinding b;                /* the call thread's */
    bool have_orig;             /* the call thread's */
    long long orig_quota;
    unsigned long long orig_period;
} LvThrottle;

struct Throttle {
    char *dir;                  /* the cgroup's directory, or NULL */
    bool v2;
    char *orig;                 /* v1 cpu.cfs_quota_us, v2 cpu.max */
    uint64_t period_us;
    LvThrottle *lv;             /* a libvirt domain, or NULL */
    bool set;
};

#define MIN_CPUS 0.01
#define LV_PERIOD_US 100000

/* A short file's text, without its trailing newline. */
static char *read_text(const char *path, Error **errp)
{
    g_autoptr(GError) gerr = NULL;
    char *text;

    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        error_setg(errp, "%s", gerr->message);
        return NULL;
    }
    g_strchomp(text);
    return text;
}

/* Write @text to an existing file, following no link. */
static bool write_text(const char *path, const char *text, Error **errp)
{
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        error_setg_errno(errp, errno, "Cannot open '%s'", path);
        return false;
    }
    n = write(fd, text, strlen(text));
    if (n != (ssize_t)strlen(text)) {
        error_setg_errno(errp, n < 0 ? errno : EIO, "Cannot write '%s' to "
                         "'%s'", text, path);
        close(fd);
        return false;
    }
    close(fd);
    return true;
}

static bool in_list(const char *list, const char *word)
{
    g_auto(GStrv) v = g_strsplit(list, ",", -1);

    return g_strv_contains((const char * const *)v, word);
}

/*
 * The mount point of the cgroup hierarchy with the CPU controller: v1's
 * "cpu" (@v2 false), else the unified one.
 */
static char *cgroup_mount(bool v2, Error **errp)
{
    g_autofree char *info = read_text("/proc/self/mountinfo", errp);
    g_auto(GStrv) lines = NULL;

    if (!info) {
        return NULL;
    }
    lines = g_strsplit(info, "\n", -1);
    for (char **l = lines; *l; l++) {
        /* ID PARENT MAJ:MIN ROOT MOUNT OPTS... - FSTYPE SOURCE SUPEROPTS */
        g_auto(GStrv) f = g_strsplit(*l, " ", -1);
        guint n = g_strv_length(f), dash = 0;

        for (guint i = 6; i < n; i++) {
            if (!strcmp(f[i], "-")) {
                dash = i;
                break;
            }
        }
        if (!dash || dash + 3 >= n || strcmp(f[3], "/")) {
            continue;
        }
        if (v2 ? !strcmp(f[dash + 1], "cgroup2") :
            !strcmp(f[dash + 1], "cgroup") && in_list(f[dash + 3], "cpu")) {
            return g_strcompress(f[4]);        /* \040 and the like */
        }
    }
    error_setg(errp, "no cgroup %s hierarchy is mounted", v2 ? "v2" :
               "v1 cpu");
    return NULL;
}

/* A cgroup path as the kernel gives it: absolute, not the root, no "..". */
static bool plain_path(const char *p)
{
    g_auto(GStrv) parts = NULL;

    if (p[0] != '/' || !p[1]) {
        return false;
    }
    parts = g_strsplit(p + 1, "/", -1);
    for (char **c = parts; *c; c++) {
        if (!**c || !strcmp(*c, ".") || !strcmp(*c, "..")) {
            return false;
        }
    }
    return true;
}

Throttle *throttle_cgroup(int pid, Error **errp)
{
    g_autofree char *file = g_strdup_printf("/proc/%d/cgroup", pid);
    g_autofree char *text = NULL, *path = NULL, *mount = NULL;
    g_autofree char *dir = NULL, *procs = NULL, *me = NULL;
    g_autofree char *procs_file = NULL, *quota_file = NULL;
    g_auto(GStrv) lines = NULL;
    bool v2 = false;
    Throttle *t;

    if (pid <= 0) {
        error_setg(errp, "its QEMU's pid is not known");
        return NULL;
    }
    text = read_text(file, errp);
    if (!text) {
        return NULL;
    }
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(*l, ":", 3);

        if (g_strv_length(f) != 3) {
            continue;
        }
        if (in_list(f[1], "cpu")) {
            g_free(path);
            path = g_strdup(f[2]);
            v2 = false;
            break;
        }
        if (!strcmp(f[0], "0") && !*f[1]) {
            path = g_strdup(f[2]);
            v2 = true;
        }
    }
    if (!path) {
        error_setg(errp, "QEMU %d is in no CPU cgroup", pid);
        return NULL;
    }
    if (!plain_path(path)) {
        error_setg(errp, "QEMU %d is in cgroup '%s', not one of its own",
                   pid, path);
        return NULL;
    }
    mount = cgroup_mount(v2, errp);
    if (!mount) {
        return NULL;
    }
    dir = g_strconcat(mount, path, NULL);
    /* throttle that QEMU, and nothing else */
    procs_file = g_build_filename(dir, "cgroup.procs", NULL);
    procs = read_text(procs_file, errp);
    if (!procs) {
        return NULL;
    }
    me = g_strdup_printf("%d", pid);
    if (strcmp(procs, me)) {
        error_setg(errp, "cgroup '%s' of QEMU %d holds other processes too",
                   path, pid);
        return NULL;
    }
    quota_file = g_build_filename(dir, v2 ? "cpu.max" : "cpu.cfs_quota_us",
                                  NULL);
    if (access(quota_file, W_OK)) {
        error_setg_errno(errp, errno, "cannot write '%s'", quota_file);
        return NULL;
    }
    t = g_new0(Throttle, 1);
    t->dir = g_steal_pointer(&dir);
    t->v2 = v2;
    return t;
}

const char *throttle_where(const Throttle *t)
{
    return t->dir ? t->dir : "libvirt vcpu_quota";
}

/* Keep what the cgroup has now, to put back. */
static bool cgroup_keep(Throttle *t, Error **errp)
{
    g_autofree char *q = g_build_filename(t->dir, t->v2 ? "cpu.max" :
                                          "cpu.cfs_quota_us", NULL);
    g_autofree char *p = g_build_filename(t->dir, "cpu.cfs_period_us", NULL);
    g_autofree char *period = NULL;
    const char *num;

    t->orig = read_text(q, errp);
    if (!t->orig) {
        return false;
    }
    /* v2: "max 100000" or "QUOTA PERIOD" */
    period = t->v2 ? NULL : read_text(p, errp);
    num = t->v2 ? strchr(t->orig, ' ') : period;
    if (!num || qemu_strtou64(num, NULL, 10, &t->period_us) ||
        !t->period_us) {
        error_setg(errp, "cannot tell the CPU period of cgroup '%s'",
                   t->dir);
        g_clear_pointer(&t->orig, g_free);
        return false;
    }
    return true;
}

static bool cgroup_write(Throttle *t, const char *v1, const char *v2,
                         Error **errp)
{
    g_autofree char *f = g_build_filename(t->dir, t->v2 ? "cpu.max" :
                                          "cpu.cfs_quota_us", NULL);

    return write_text(f, t->v2 ? v2 : v1, errp);
}

/* The call thread: libvirt's calls, one at a time, in order. */
typedef struct LvJob {
    LvThrottle *lv;
    bool release;
    bool free;                  /* the last job: unbind and free @lv */
    long long quota;            /* per vCPU, in us of LV_PERIOD_US */
} LvJob;

static GAsyncQueue *lv_queue;
static GMutex lv_lock;
static GCond lv_idle;
static unsigned lv_pending;

static void lv_free(LvThrottle *lv)
{
    lvpool_unbind(&lv->b);
    g_free(lv->uuid);
    g_free(lv);
}

static bool lv_keep(LvThrottle *lv, virDomainPtr dom, Error **errp)
{
    virTypedParameterPtr params = NULL;
    int n = 0;
    char *type = virDomainGetSchedulerType(dom, &n);

    free(type);
    if (n <= 0) {
        error_setg(errp, "no scheduler parameters");
        return false;
    }
    params = g_new0(virTypedParameter, n);
    if (virDomainGetSchedulerParametersFlags(dom, params, &n,
                                             VIR_DOMAIN_AFFECT_LIVE) < 0 ||
        virTypedParamsGetLLong(params, n, VIR_DOMAIN_SCHEDULER_VCPU_QUOTA,
                               &lv->orig_quota) != 1 ||
        virTypedParamsGetULLong(params, n, VIR_DOMAIN_SCHEDULER_VCPU_PERIOD,
                                &lv->orig_period) != 1) {
        virTypedParamsClear(params, n);
        g_free(params);
        error_setg(errp, "no vcpu_quota: %s", virGetLastErrorMessage());
        return false;
    }
    virTypedParamsClear(params, n);
    g_free(params);
    lv->have_orig = true;
    return true;
}

static bool lv_set(virDomainPtr dom, unsigned long long period,
                   long long quota, Error **errp)
{
    virTypedParameterPtr params = NULL;
    int n = 0, max = 0;
    int rc;

    virTypedParamsAddULLong(&params, &n, &max,
                            VIR_DOMAIN_SCHEDULER_VCPU_PERIOD, period);
    virTypedParamsAddLLong(&params, &n, &max,
                           VIR_DOMAIN_SCHEDULER_VCPU_QUOTA, quota);
    rc = virDomainSetSchedulerParametersFlags(dom, params, n,
                                              VIR_DOMAIN_AFFECT_LIVE);
    virTypedParamsFree(params, n);
    if (rc < 0) {
        error_setg(errp, "%s", virGetLastErrorMessage());
        return false;
    }
    return true;
}

static void lv_run(LvJob *j)
{
    LvThrottle *lv = j->lv;
    Error *err = NULL;
    virDomainPtr dom;
    bool ok;

    if (j->free) {
        lv_free(lv);
        return;
    }
    dom = lvpool_begin(lv->pool, &lv->b, lv->uuid, &err);
    if (!dom) {
        ok = false;
    } else if (j->release) {
        ok = !lv->have_orig ||
            lv_set(dom, lv->orig_period, lv->orig_quota, &err);
        lv->have_orig = !ok;
    } else {
        ok = (lv->have_orig || lv_keep(lv, dom, &err)) &&
            lv_set(dom, LV_PERIOD_US, j->quota, &err);
    }
    if (dom) {
        lvpool_end(&lv->b, !ok);
    }
    if (!ok) {
        powerd_log(LOG_WARNING, "power-cap: libvirt domain %s: cannot %s "
                   "its vcpu_quota: %s", lv->uuid,
                   j->release ? "restore" : "set", error_get_pretty(err));
        error_free(err);
    }
}

static gpointer lv_thread(gpointer opaque)
{
    for (;;) {
        LvJob *j = g_async_queue_pop(lv_queue);

        lv_run(j);
        g_free(j);
        g_mutex_lock(&lv_lock);
        if (!--lv_pending) {
            g_cond_broadcast(&lv_idle);
        }
        g_mutex_unlock(&lv_lock);
    }
    return NULL;
}

static void lv_push(LvThrottle *lv, bool release, bool free, long long quota)
{
    LvJob *j = g_new0(LvJob, 1);

    if (!lv_queue) {
        lv_queue = g_async_queue_new();
        g_thread_unref(g_thread_new("power-cap-libvirt", lv_thread, NULL));
    }
    *j = (LvJob) { .lv = lv, .release = release, .free = free,
                   .quota = quota };
    g_mutex_lock(&lv_lock);
    lv_pending++;
    g_mutex_unlock(&lv_lock);
    g_async_queue_push(lv_queue, j);
}

void throttle_flush(int64_t timeout_us)
{
    int64_t end = g_get_monotonic_time() + timeout_us;

    g_mutex_lock(&lv_lock);
    while (lv_pending && g_cond_wait_until(&lv_idle, &lv_lock, end)) {
        /* woken: look again */
    }
    g_mutex_unlock(&lv_lock);
}

Throttle *throttle_libvirt(LvPool *pool, const char *uuid)
{
    Throttle *t = g_new0(Throttle, 1);

    t->lv = g_new0(LvThrottle, 1);
    t->lv->pool = pool;
    t->lv->uuid = g_strdup(uuid);
    return t;
}

bool throttle_set(Throttle *t, double cpus, unsigned nvcpus, Error **errp)
{
    char v1[32], v2[64];
    uint64_t quota;

    cpus = MAX(cpus, MIN_CPUS);
    if (t->lv) {
        /* vcpu_quota is per vCPU: the VM's limit spread over them */
        lv_push(t->lv, false, false,
                MAX(1000, llround(cpus / MAX(nvcpus, 1) * LV_PERIOD_US)));
        t->set = true;
        return true;
    }
    if (!t->set && !cgroup_keep(t, errp)) {
        return false;
    }
    quota = MAX(1000, llround(cpus * t->period_us));
    g_snprintf(v1, sizeof(v1), "%" PRIu64, quota);
    g_snprintf(v2, sizeof(v2), "%" PRIu64 " %" PRIu64, quota, t->period_us);
    if (!cgroup_write(t, v1, v2, errp)) {
        return false;
    }
    t->set = true;
    return true;
}

bool throttle_release(Throttle *t, Error **errp)
{
    if (!t->set) {
        return true;
    }
    if (t->lv) {
        lv_push(t->lv, true, false, 0);
    } else if (!cgroup_write(t, t->orig, t->orig, errp)) {
        return false;
    }
    t->set = false;
    return true;
}

void throttle_free(Throttle *t)
{
    Error *err = NULL;

    if (!t) {
        return;
    }
    if (!throttle_release(t, &err)) {
        powerd_log(LOG_WARNING, "power-cap: %s: %s", throttle_where(t),
                   error_get_pretty(err));
        error_free(err);
    }
    if (t->lv) {
        lv_push(t->lv, false, true, 0);     /* freed on the call thread */
    }
    g_free(t->dir);
    g_free(t->orig);
    g_free(t);
}

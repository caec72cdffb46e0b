/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Per-thread CPU work counters: perf hardware cycles, perf task-clock and
 * /proc schedstat, behind one open/read/close interface.
 */

#include "qemu/osdep.h"
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/host-utils.h"
#include "qemu/task-counter.h"

static const char *const source_names[TASK_COUNTER__MAX] = {
    [TASK_COUNTER_CYCLES] = "cycles",
    [TASK_COUNTER_TASK_CLOCK] = "task-clock",
    [TASK_COUNTER_SCHEDSTAT] = "schedstat",
};

const char *task_counter_source_name(TaskCounterSource source)
{
    assert(source < TASK_COUNTER__MAX);
    return source_names[source];
}

bool task_counter_source_parse(const char *name, TaskCounterSource *source)
{
    for (int i = 0; i < TASK_COUNTER__MAX; i++) {
        if (!strcmp(name, source_names[i])) {
            *source = i;
            return true;
        }
    }
    return false;
}

bool task_counter_source_is_time(TaskCounterSource source)
{
    return source != TASK_COUNTER_CYCLES;
}

static int perf_open(TaskCounterSource source, pid_t tid, int cpu,
                     bool inherit, bool exclude_kernel)
{
    struct perf_event_attr attr = {
        .size = sizeof(attr),
        .read_format = PERF_FORMAT_TOTAL_TIME_ENABLED |
                       PERF_FORMAT_TOTAL_TIME_RUNNING,
        .inherit = inherit,
        /* Guest-mode cycles are what a VM costs: keep exclude_guest = 0. */
        .exclude_guest = 0,
        .exclude_kernel = exclude_kernel,
        .exclude_hv = exclude_kernel,
    };

    if (source == TASK_COUNTER_CYCLES) {
        attr.type = PERF_TYPE_HARDWARE;
        attr.config = PERF_COUNT_HW_CPU_CYCLES;
    } else {
        attr.type = PERF_TYPE_SOFTWARE;
        attr.config = PERF_COUNT_SW_TASK_CLOCK;
    }
    return syscall(SYS_perf_event_open, &attr, tid, cpu, -1,
                   PERF_FLAG_FD_CLOEXEC);
}

bool task_counter_open(TaskCounter *tc, TaskCounterSource source, pid_t tid,
                       bool inherit, Error **errp)
{
    pid_t t = tid ? tid : qemu_get_thread_id();

    tc->source = source;
    tc->tid = t;
    tc->kernel_excluded = false;
    tc->fd = -1;

    if (source == TASK_COUNTER_SCHEDSTAT) {
        g_autofree char *path = NULL;

        if (inherit) {
            error_setg(errp, "schedstat cannot count threads created later");
            return false;
        }
        path = g_strdup_printf("/proc/self/task/%d/schedstat", (int)t);
        tc->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (tc->fd < 0) {
            error_setg_errno(errp, errno, "Could not open '%s'", path);
            return false;
        }
        return true;
    }

    tc->fd = perf_open(source, t, -1, inherit, false);
    if (tc->fd < 0 && (errno == EACCES || errno == EPERM)) {
        /*
         * perf_event_paranoid >= 2 without CAP_PERFMON: user mode only.
         * That loses kernel work for cycles alone: task-clock counts
         * the task's time whatever exclude_kernel says.
         */
        tc->fd = perf_open(source, t, -1, inherit, true);
        tc->kernel_excluded = tc->fd >= 0 && source == TASK_COUNTER_CYCLES;
    }
    if (tc->fd < 0) {
        error_setg_errno(errp, errno,
                         "Could not open perf %s counter on thread %d",
                         task_counter_source_name(source), (int)t);
        return false;
    }
    return true;
}

bool task_counter_open_cpu(TaskCounter *tc, TaskCounterSource source,
                           int cpu, Error **errp)
{
    assert(source != TASK_COUNTER_SCHEDSTAT);
    tc->source = source;
    tc->tid = -1;
    tc->kernel_excluded = false;
    tc->fd = perf_open(source, -1, cpu, false, false);
    if (tc->fd < 0) {
        error_setg_errno(errp, errno, "Could not open perf %s counter on "
                         "CPU %d", task_counter_source_name(source), cpu);
        return false;
    }
    return true;
}

uint64_t task_counter_scale(uint64_t value, uint64_t enabled,
                            uint64_t running)
{
    uint64_t lo, hi;

    if (running == 0) {
        return 0;               /* never scheduled on the PMU */
    }
    if (running >= enabled) {
        return value;
    }
    mulu64(&lo, &hi, value, enabled);
    if (hi >= running) {
        return UINT64_MAX;      /* the quotient does not fit */
    }
    divu128(&lo, &hi, running);
    return lo;
}

bool task_counter_parse_schedstat(const char *buf, uint64_t *ns,
                                  Error **errp)
{
    const char *end = strchr(buf, ' ');
    g_autofree char *field = NULL;

    if (!end) {
        error_setg(errp, "Malformed schedstat line");
        return false;
    }
    field = g_strndup(buf, end - buf);
    if (parse_uint_full(field, 10, ns) < 0) {
        error_setg(errp, "Malformed schedstat run time '%s'", field);
        return false;
    }
    return true;
}

bool task_counter_read(TaskCounter *tc, uint64_t *value, Error **errp)
{
    if (tc->fd < 0) {
        error_setg(errp, "Counter is not open");
        return false;
    }

    if (tc->source == TASK_COUNTER_SCHEDSTAT) {
        char buf[128];
        ssize_t n = pread(tc->fd, buf, sizeof(buf) - 1, 0);

        if (n < 0) {
            error_setg_errno(errp, errno, "Could not read schedstat of "
                             "thread %d", (int)tc->tid);
            return false;
        }
        buf[n] = '\0';
        return task_counter_parse_schedstat(buf, value, errp);
    } else {
        uint64_t v[3];          /* value, time enabled, time running */
        ssize_t n = read(tc->fd, v, sizeof(v));

        if (n != sizeof(v)) {
            error_setg_errno(errp, n < 0 ? errno : EIO,
                             "Could not read perf %s counter of thread %d",
                             task_counter_source_name(tc->source),
                             (int)tc->tid);
            return false;
        }
        *value = task_counter_scale(v[0], v[1], v[2]);
        return true;
    }
}

void task_counter_close(TaskCounter *tc)
{
    if (tc->fd >= 0) {
        close(tc->fd);
        tc->fd = -1;
    }
}

bool task_counter_probe(TaskCounterSource source, bool *kernel_excluded,
                        Error **errp)
{
    TaskCounter tc = TASK_COUNTER_INIT;
    uint64_t v;
    bool ok;

    ok = task_counter_open(&tc, source, 0, false, errp) &&
         task_counter_read(&tc, &v, errp);
    *kernel_excluded = tc.kernel_excluded;
    task_counter_close(&tc);
    return ok;
}

bool task_counter_choose(TaskCounterProbe probe, TaskCounterSource *source,
                         bool *kernel_excluded, Error **errp)
{
    static const TaskCounterSource order[] = {
        TASK_COUNTER_CYCLES, TASK_COUNTER_TASK_CLOCK, TASK_COUNTER_SCHEDSTAT,
    };
    g_autoptr(GString) why = g_string_new("no counter source works:");
    bool user_only = false;

    for (int i = 0; i < ARRAY_SIZE(order); i++) {
        Error *err = NULL;
        bool excluded = false;

        if (!probe(order[i], &excluded, &err)) {
            g_string_append_printf(why, " %s;", error_get_pretty(err));
            error_free(err);
        } else if (excluded) {
            user_only = true;
        } else {
            *source = order[i];
            *kernel_excluded = false;
            return true;
        }
    }
    if (user_only) {
        /* only cycles can exclude the kernel */
        *source = TASK_COUNTER_CYCLES;
        *kernel_excluded = true;
        return true;
    }
    g_string_truncate(why, why->len - 1);
    error_setg(errp, "%s", why->str);
    return false;
}

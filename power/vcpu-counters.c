/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Counters of the work done by this instance's vCPU threads and by the
 * whole process.  Each vCPU thread opens its own counter when it has
 * started (cpu_thread_signal_created()) and reads it a last time before
 * it exits (cpu_thread_signal_destroyed()), so the final count is read
 * while the thread still exists, whatever the source; what a closed
 * counter had counted is kept, so the totals never go backwards.
 * Threads are known by their QemuThread, which lives as long as the
 * vCPU: a thread id can be reused as soon as the thread has exited.
 *
 * Everything here runs under the BQL: the two hooks on the vCPU threads,
 * which hold it there, and the monitor commands.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/task-counter.h"
#include "qemu/timer.h"
#include "hw/core/cpu.h"
#include "system/power.h"
#include "power-internal.h"

/* One host thread that runs one vCPU, or several under round-robin TCG. */
typedef struct PowerThread {
    TaskCounter counter;
    uint64_t last;              /* last count read; counts never go back */
} PowerThread;

static struct {
    bool configured;
    bool available;
    TaskCounterSource source;
    bool kernel_excluded;
    char *unavailable;          /* why there are no counts */
    GHashTable *threads;        /* QemuThread * -> PowerThread */
    GArray *instance;           /* inherited TaskCounters (perf sources) */
    uint64_t instance_last;
    uint64_t retired;           /* counts of vCPU threads that are gone */
} counters;

static void power_thread_free(gpointer p)
{
    PowerThread *t = p;

    task_counter_close(&t->counter);
    g_free(t);
}

/*
 * The whole process, in the vCPUs' own clock, so that the instance total
 * always includes the vCPU counts: for a perf source (cycles, task-clock)
 * an inherited counter on every thread that exists now, which also counts
 * every thread created from then on.  perf's task-clock is not the
 * scheduler's runtime (on a nested host it runs ahead of it), so the
 * process CPU clock would be a second clock.  schedstat is the scheduler's
 * runtime, which is what the process CPU clock sums, and needs no file
 * descriptors.
 */
static bool open_instance_counters(Error **errp)
{
    g_autoptr(GDir) dir = NULL;
    const char *name;
    GError *gerr = NULL;

    counters.instance = g_array_new(false, false, sizeof(TaskCounter));
    if (counters.source == TASK_COUNTER_SCHEDSTAT) {
        return true;
    }
    dir = g_dir_open("/proc/self/task", 0, &gerr);
    if (!dir) {
        error_setg(errp, "Could not list this process's threads: %s",
                   gerr->message);
        g_error_free(gerr);
        return false;
    }
    while ((name = g_dir_read_name(dir))) {
        TaskCounter tc = TASK_COUNTER_INIT;
        uint64_t tid;

        if (parse_uint_full(name, 10, &tid) < 0 || tid > INT_MAX) {
            continue;
        }
        if (!task_counter_open(&tc, counters.source, tid, true, NULL)) {
            continue;           /* the thread exited meanwhile */
        }
        g_array_append_val(counters.instance, tc);
    }
    return true;
}

static void start(TaskCounterSource source)
{
    Error *err = NULL;

    counters.source = source;
    counters.threads = g_hash_table_new_full(NULL, NULL, NULL,
                                             power_thread_free);
    if (!open_instance_counters(&err)) {
        counters.unavailable = g_strdup(error_get_pretty(err));
        error_free(err);
        return;
    }
    counters.available = true;
}

/* QAPI's names of the counter sources, and util/'s */
static const TaskCounterSource task_sources[POWER_COUNTER_SOURCE__MAX] = {
    [POWER_COUNTER_SOURCE_CYCLES] = TASK_COUNTER_CYCLES,
    [POWER_COUNTER_SOURCE_TASK_CLOCK] = TASK_COUNTER_TASK_CLOCK,
    [POWER_COUNTER_SOURCE_SCHEDSTAT] = TASK_COUNTER_SCHEDSTAT,
};

static PowerCounterSource qapi_source(TaskCounterSource source)
{
    for (int i = 0; i < POWER_COUNTER_SOURCE__MAX; i++) {
        if (task_sources[i] == source) {
            return i;
        }
    }
    g_assert_not_reached();
}

/* The source task_counter_choose() picks, or the reasons none works. */
static void start_auto(void)
{
    TaskCounterSource source;
    Error *err = NULL;

    if (!task_counter_choose(task_counter_probe, &source,
                             &counters.kernel_excluded, &err)) {
        counters.unavailable = g_strdup(error_get_pretty(err));
        error_free(err);
        return;
    }
    start(source);
}

bool power_counters_configure(bool on, bool has_source,
                              PowerCounterSource qsource, Error **errp)
{
    ERRP_GUARD();

    assert(bql_locked());
    if (counters.configured) {
        if (on && !has_source) {
            return true;
        }
        error_setg(errp, "The counters can only be chosen before the "
                   "vCPUs are created");
        return false;
    }

    if (!on) {
        counters.unavailable = g_strdup("counters are off (counters=off)");
    } else if (!has_source) {
        start_auto();
    } else {
        TaskCounterSource source = task_sources[qsource];

        if (!task_counter_probe(source, &counters.kernel_excluded, errp)) {
            error_prepend(errp, "Counter source '%s' is not available: ",
                          task_counter_source_name(source));
            return false;
        }
        start(source);
    }
    counters.configured = true;
    return true;
}

static void ensure_configured(void)
{
    if (!counters.configured) {
        power_counters_configure(true, false, 0, &error_abort);
    }
}

/*
 * Called by the vCPU thread of @cpu once it runs.  Round-robin TCG calls
 * it once, for the first vCPU: the others share that thread and its
 * QemuThread, and so its counter.
 */
void power_vcpu_attach(CPUState *cpu)
{
    PowerThread *t;
    Error *err = NULL;

    assert(bql_locked());
    assert(qemu_thread_is_self(cpu->thread));
    ensure_configured();
    if (!counters.available ||
        g_hash_table_contains(counters.threads, cpu->thread)) {
        return;
    }
    t = g_new0(PowerThread, 1);
    if (!task_counter_open(&t->counter, counters.source, 0, false, &err)) {
        error_prepend(&err, "vCPU %d will not be counted: ", cpu->cpu_index);
        warn_report_err(err);
        g_free(t);
        return;
    }
    g_hash_table_insert(counters.threads, cpu->thread, t);
}

/* Read @t's counter; a failed read keeps the last value. */
static uint64_t power_thread_read(PowerThread *t)
{
    uint64_t v;

    if (task_counter_read(&t->counter, &v, NULL) && v > t->last) {
        t->last = v;
    }
    return t->last;
}

/* Other vCPUs that run on @cpu's thread (round-robin TCG)? */
static bool thread_shared(CPUState *cpu)
{
    CPUState *other;

    CPU_FOREACH(other) {
        if (other != cpu && other->thread == cpu->thread) {
            return true;
        }
    }
    return false;
}

/*
 * Called by the vCPU thread of @cpu before it exits for an unplug: the
 * last read of its counter, while the thread still exists (a schedstat
 * file can no longer be read once the thread has gone).
 */
void power_vcpu_detach(CPUState *cpu)
{
    PowerThread *t;

    assert(bql_locked());
    if (!counters.available || thread_shared(cpu)) {
        return;
    }
    t = g_hash_table_lookup(counters.threads, cpu->thread);
    if (!t) {
        return;
    }
    counters.retired += power_thread_read(t);
    g_hash_table_remove(counters.threads, cpu->thread);
}

static uint64_t read_instance(void)
{
    uint64_t sum = 0;

    if (counters.source != TASK_COUNTER_SCHEDSTAT) {
        for (guint i = 0; i < counters.instance->len; i++) {
            TaskCounter *tc = &g_array_index(counters.instance, TaskCounter,
                                             i);
            uint64_t v;

            if (task_counter_read(tc, &v, NULL)) {
                sum += v;
            }
        }
    } else {
        struct timespec ts;

        if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0) {
            sum = ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec;
        }
    }
    counters.instance_last = MAX(counters.instance_last, sum);
    return counters.instance_last;
}

static uint64_t monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec;
}

/* The vCPU threads' counts: those alive read now, and those gone. */
static uint64_t read_vcpus(void)
{
    uint64_t vcpu_count = counters.retired;
    GHashTableIter iter;
    PowerThread *t;

    g_hash_table_iter_init(&iter, counters.threads);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&t)) {
        vcpu_count += power_thread_read(t);
    }
    return vcpu_count;
}

bool power_counters_totals(PowerTotals *t)
{
    CPUState *cpu;

    assert(bql_locked());
    ensure_configured();
    if (!counters.available) {
        return false;
    }
    t->timestamp_ns = monotonic_ns();
    t->vcpu_count = read_vcpus();
    t->instance_count = read_instance();
    t->source = task_counter_source_name(counters.source);
    t->cycles = !task_counter_source_is_time(counters.source);
    t->kernel_excluded = counters.kernel_excluded;
    t->vcpus = 0;
    CPU_FOREACH(cpu) {
        t->vcpus++;
    }
    return true;
}

const char *power_counters_unavailable(void)
{
    assert(bql_locked());
    ensure_configured();
    return counters.available ? NULL : counters.unavailable;
}

void power_counters_snapshot(PowerCounts *info)
{
    PowerVcpuList **tail = &info->vcpus;
    uint64_t vcpu_count;
    PowerThread *t;
    CPUState *cpu;

    assert(bql_locked());
    ensure_configured();
    info->timestamp_ns = monotonic_ns();
    if (counters.available) {
        vcpu_count = read_vcpus();
        info->has_counter_source = true;
        info->counter_source = qapi_source(counters.source);
        info->has_counter_kernel_excluded = true;
        info->counter_kernel_excluded = counters.kernel_excluded;
        /* read after the vCPUs, so that it includes at least their work */
        info->has_instance_count = true;
        info->instance_count = read_instance();
        info->has_vcpu_count = true;
        info->vcpu_count = vcpu_count;
    } else {
        info->counter_unavailable = g_strdup(counters.unavailable);
    }

    CPU_FOREACH(cpu) {
        PowerVcpu *v = g_new0(PowerVcpu, 1);

        v->cpu_index = cpu->cpu_index;
        v->qom_path = object_get_canonical_path(OBJECT(cpu));
        v->thread_id = cpu->thread_id;
        t = counters.available ?
            g_hash_table_lookup(counters.threads, cpu->thread) : NULL;
        if (t) {
            v->has_count = true;
            v->count = t->last;
            v->shared_thread = thread_shared(cpu);
        }
        QAPI_LIST_APPEND(tail, v);
    }
}

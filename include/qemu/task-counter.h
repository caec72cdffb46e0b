/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Counters of the CPU work done by one thread (task) of this process:
 * hardware cycles or task-clock through perf events, or the scheduler's
 * run time from /proc/self/task/TID/schedstat.  Used by the vCPU
 * accounting in QEMU and by the qemu-powerd aggregator.
 */

#ifndef QEMU_TASK_COUNTER_H
#define QEMU_TASK_COUNTER_H

typedef enum TaskCounterSource {
    TASK_COUNTER_CYCLES,        /* perf hardware CPU cycles, in cycles */
    TASK_COUNTER_TASK_CLOCK,    /* perf software task-clock, in ns */
    TASK_COUNTER_SCHEDSTAT,     /* schedstat run time, in ns */
    TASK_COUNTER__MAX,
} TaskCounterSource;

typedef struct TaskCounter {
    TaskCounterSource source;
    int fd;                     /* perf event or schedstat file; -1: closed */
    pid_t tid;
    bool kernel_excluded;       /* cycles in user mode only (paranoid) */
} TaskCounter;

#define TASK_COUNTER_INIT { .fd = -1 }

/* "cycles", "task-clock" or "schedstat" */
const char *task_counter_source_name(TaskCounterSource source);

/* The source called @name by task_counter_source_name(); false if none. */
bool task_counter_source_parse(const char *name, TaskCounterSource *source);

/* true when the source counts nanoseconds of CPU time, false for cycles */
bool task_counter_source_is_time(TaskCounterSource source);

/*
 * Open a counter on thread @tid of this process (0: the calling thread).
 * With @inherit, threads that @tid creates later are counted too (perf
 * sources only).  Hardware cycles include guest mode (exclude_guest=0).
 * When perf_event_paranoid forbids counting the kernel, the counter is
 * opened for user mode only; for cycles, which then miss the kernel's
 * work, @kernel_excluded is set (task-clock still counts all the time).
 */
bool task_counter_open(TaskCounter *tc, TaskCounterSource source, pid_t tid,
                       bool inherit, Error **errp);

/*
 * Open a perf counter of everything that runs on host CPU @cpu (needs
 * CAP_PERFMON or perf_event_paranoid <= 0).  Not for schedstat.
 */
bool task_counter_open_cpu(TaskCounter *tc, TaskCounterSource source,
                           int cpu, Error **errp);

/* Read the current count; multiplexed perf counts are scaled up. */
bool task_counter_read(TaskCounter *tc, uint64_t *value, Error **errp);

void task_counter_close(TaskCounter *tc);

/*
 * Scale a multiplexed perf count: @value was counted during @running ns of
 * the @enabled ns the event was enabled.  Saturates instead of wrapping.
 */
uint64_t task_counter_scale(uint64_t value, uint64_t enabled,
                            uint64_t running);

/*
 * Can a counter of @source be opened on the calling thread and read?
 * @kernel_excluded: whether it would count user mode only.
 */
typedef bool (*TaskCounterProbe)(TaskCounterSource source,
                                 bool *kernel_excluded, Error **errp);

/* The real probe, for task_counter_choose(). */
bool task_counter_probe(TaskCounterSource source, bool *kernel_excluded,
                        Error **errp);

/*
 * Choose a source automatically, asking @probe: the first of cycles,
 * task-clock and schedstat that works and counts kernel work too, since
 * cycles in user mode only miss a KVM vCPU's guest kernel and its host
 * kernel work; cycles in user mode only when nothing else works.  If no
 * source works, @errp has every source's reason.
 */
bool task_counter_choose(TaskCounterProbe probe, TaskCounterSource *source,
                         bool *kernel_excluded, Error **errp);

/* Parse the run time (first field, ns) of a schedstat line. */
bool task_counter_parse_schedstat(const char *buf, uint64_t *ns,
                                  Error **errp);

#endif

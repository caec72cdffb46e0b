/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Tests for the per-thread CPU work counters (util/task-counter.c).
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/task-counter.h"
#include "qemu/thread.h"
#include "qemu/timer.h"

static void test_scale(void)
{
    static const struct {
        uint64_t value, enabled, running, expect;
    } cases[] = {
        { 100, 100, 100, 100 },             /* not multiplexed */
        { 100, 200, 100, 200 },             /* on the PMU half the time */
        { 100, 300, 100, 300 },
        { 7, 100, 0, 0 },                   /* never on the PMU */
        { 0, 100, 50, 0 },
        { 100, 50, 100, 100 },              /* running > enabled: as is */
        { 1ULL << 62, 4, 2, 1ULL << 63 },   /* needs 128-bit product */
        { UINT64_MAX, 3, 1, UINT64_MAX },   /* saturates */
        { UINT64_MAX / 2, 2, 1, UINT64_MAX - 1 },
    };

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        g_assert_cmpuint(task_counter_scale(cases[i].value, cases[i].enabled,
                                            cases[i].running),
                         ==, cases[i].expect);
    }
}

static void test_parse_schedstat(void)
{
    static const struct {
        const char *text;
        bool ok;
        uint64_t ns;
    } cases[] = {
        { "123 456 7\n", true, 123 },
        { "0 0 0", true, 0 },
        { "18446744073709551615 1 1\n", true, UINT64_MAX },
        { "18446744073709551616 1 1\n", false },    /* overflow */
        { "-1 0 0\n", false },
        { "abc 0 0\n", false },
        { "12x 0 0\n", false },
        { " 12 0 0\n", false },
        { "0x10 0 0\n", false },                     /* decimal only */
        { "12\n", false },
        { "", false },
    };

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        Error *err = NULL;
        uint64_t ns = 42;
        bool ok = task_counter_parse_schedstat(cases[i].text, &ns, &err);

        g_assert_cmpint(ok, ==, cases[i].ok);
        if (ok) {
            g_assert_null(err);
            g_assert_cmpuint(ns, ==, cases[i].ns);
        } else {
            g_assert_nonnull(err);
            error_free(err);
        }
    }
}

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec;
}

/*
 * Burn @ms of this thread's CPU time: on a loaded machine, spinning for
 * a wall-clock time would run for less.
 */
static void spin_ms(int ms)
{
    int64_t end = thread_cpu_ns() + ms * SCALE_MS;

    while (thread_cpu_ns() < end) {
        /* burn CPU */
    }
}

/* A thread that spins for a while, then waits to be told to exit. */
typedef struct Spinner {
    QemuThread thread;
    QemuSemaphore ready, spun, done;
    pid_t tid;
    int ms;
} Spinner;

static void *spinner_fn(void *opaque)
{
    Spinner *s = opaque;

    s->tid = qemu_get_thread_id();
    qemu_sem_post(&s->ready);
    spin_ms(s->ms);
    qemu_sem_post(&s->spun);
    qemu_sem_wait(&s->done);
    return NULL;
}

static void spinner_start(Spinner *s, int ms)
{
    s->ms = ms;
    qemu_sem_init(&s->ready, 0);
    qemu_sem_init(&s->spun, 0);
    qemu_sem_init(&s->done, 0);
    qemu_thread_create(&s->thread, "spinner", spinner_fn, s,
                       QEMU_THREAD_JOINABLE);
    qemu_sem_wait(&s->ready);
}

static void spinner_stop(Spinner *s)
{
    qemu_sem_post(&s->done);
    qemu_thread_join(&s->thread);
    qemu_sem_destroy(&s->ready);
    qemu_sem_destroy(&s->spun);
    qemu_sem_destroy(&s->done);
}

/* A time source counts another thread's 100 ms of CPU time. */
static void test_time_source(gconstpointer opaque)
{
    TaskCounterSource source = GPOINTER_TO_INT(opaque);
    TaskCounter tc = TASK_COUNTER_INIT;
    Spinner s;
    uint64_t before, after, final;

    spinner_start(&s, 100);
    g_assert_true(task_counter_open(&tc, source, s.tid, false,
                                    &error_abort));
    g_assert_cmpint(tc.fd, >=, 0);
    g_assert_true(task_counter_read(&tc, &before, &error_abort));
    qemu_sem_wait(&s.spun);
    g_assert_true(task_counter_read(&tc, &after, &error_abort));
    /* at least 70% of the 100 ms it spun, and not absurdly more */
    g_assert_cmpuint(after, >=, 70 * 1000 * 1000);
    g_assert_cmpuint(after, <=, 400ULL * 1000 * 1000);
    spinner_stop(&s);

    if (source == TASK_COUNTER_TASK_CLOCK) {
        /* perf counters stay readable after their thread exited */
        g_assert_true(task_counter_read(&tc, &final, &error_abort));
        g_assert_cmpuint(final, >=, after);
    }
    task_counter_close(&tc);
    g_assert_cmpint(tc.fd, ==, -1);
}

/* Cycles need a hardware PMU; without one the error names the source. */
static void test_cycles(void)
{
    TaskCounter tc = TASK_COUNTER_INIT;
    Error *err = NULL;
    uint64_t before, after;

    if (!task_counter_open(&tc, TASK_COUNTER_CYCLES, 0, false, &err)) {
        g_assert_nonnull(strstr(error_get_pretty(err), "perf cycles"));
        g_assert_cmpint(tc.fd, ==, -1);
        g_test_message("no hardware PMU here: %s", error_get_pretty(err));
        error_free(err);
        return;
    }
    g_assert_true(task_counter_read(&tc, &before, &error_abort));
    spin_ms(20);
    g_assert_true(task_counter_read(&tc, &after, &error_abort));
    g_assert_cmpuint(after, >, before);
    task_counter_close(&tc);
}

/* An inherited counter also counts threads created after it. */
static void test_inherit(void)
{
    TaskCounter tc = TASK_COUNTER_INIT;
    Spinner s;
    uint64_t before, after;

    g_assert_true(task_counter_open(&tc, TASK_COUNTER_TASK_CLOCK, 0, true,
                                    &error_abort));
    g_assert_true(task_counter_read(&tc, &before, &error_abort));
    spinner_start(&s, 100);
    spinner_stop(&s);
    g_assert_true(task_counter_read(&tc, &after, &error_abort));
    g_assert_cmpuint(after - before, >=, 70 * 1000 * 1000);
    task_counter_close(&tc);
}

static void test_errors(void)
{
    TaskCounter tc = TASK_COUNTER_INIT;
    TaskCounterSource source;
    Error *err = NULL;
    uint64_t v;

    /* schedstat has no way to follow new threads */
    g_assert_false(task_counter_open(&tc, TASK_COUNTER_SCHEDSTAT, 0, true,
                                     &err));
    error_free_or_abort(&err);

    /* a thread that is not ours */
    g_assert_false(task_counter_open(&tc, TASK_COUNTER_SCHEDSTAT, INT_MAX,
                                     false, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "schedstat"));
    error_free_or_abort(&err);

    g_assert_false(task_counter_read(&tc, &v, &err));
    error_free_or_abort(&err);

    g_assert_cmpstr(task_counter_source_name(TASK_COUNTER_TASK_CLOCK), ==,
                    "task-clock");
    g_assert_true(task_counter_source_is_time(TASK_COUNTER_SCHEDSTAT));
    g_assert_false(task_counter_source_is_time(TASK_COUNTER_CYCLES));

    /* what QEMU reports as counter-source, read back by qemu-powerd */
    g_assert_true(task_counter_source_parse("schedstat", &source));
    g_assert_cmpint(source, ==, TASK_COUNTER_SCHEDSTAT);
    g_assert_true(task_counter_source_parse("cycles", &source));
    g_assert_cmpint(source, ==, TASK_COUNTER_CYCLES);
    g_assert_false(task_counter_source_parse("joules", &source));
    g_assert_false(task_counter_source_parse("task_clock", &source));
    g_assert_false(task_counter_source_parse("", &source));
}

/*
 * What a host offers, for task_counter_choose(): per source, 0 if it
 * cannot be opened, 1 if it counts user mode only, 2 if it counts all.
 */
static int offered[TASK_COUNTER__MAX];

static bool fake_probe(TaskCounterSource source, bool *kernel_excluded,
                       Error **errp)
{
    if (!offered[source]) {
        error_setg(errp, "no %s here", task_counter_source_name(source));
        return false;
    }
    *kernel_excluded = offered[source] == 1;
    return true;
}

static void test_choose(void)
{
    static const struct {
        int cycles, task_clock, schedstat;
        int want;               /* a source, or -1: none works */
        bool excluded;
    } cases[] = {
        { 2, 2, 2, TASK_COUNTER_CYCLES, false },
        /*
         * perf_event_paranoid 2: cycles count user mode only, which would
         * drop a KVM vCPU's guest kernel work; task-clock counts it all
         */
        { 1, 2, 2, TASK_COUNTER_TASK_CLOCK, false },
        { 1, 0, 2, TASK_COUNTER_SCHEDSTAT, false },
        { 0, 0, 2, TASK_COUNTER_SCHEDSTAT, false },
        { 0, 2, 0, TASK_COUNTER_TASK_CLOCK, false },
        /* user-mode cycles only when nothing else works, and said so */
        { 1, 0, 0, TASK_COUNTER_CYCLES, true },
        { 0, 0, 0, -1, false },
    };

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        TaskCounterSource source = TASK_COUNTER__MAX;
        bool excluded = !cases[i].excluded;
        Error *err = NULL;
        bool ok;

        offered[TASK_COUNTER_CYCLES] = cases[i].cycles;
        offered[TASK_COUNTER_TASK_CLOCK] = cases[i].task_clock;
        offered[TASK_COUNTER_SCHEDSTAT] = cases[i].schedstat;
        ok = task_counter_choose(fake_probe, &source, &excluded, &err);
        g_test_message("case %d: %s", i,
                       ok ? task_counter_source_name(source) :
                       error_get_pretty(err));
        if (cases[i].want < 0) {
            g_assert_false(ok);
            g_assert_cmpstr(error_get_pretty(err), ==,
                            "no counter source works: no cycles here; "
                            "no task-clock here; no schedstat here");
            error_free(err);
            continue;
        }
        g_assert_true(ok);
        g_assert_cmpint(source, ==, cases[i].want);
        g_assert_cmpint(excluded, ==, cases[i].excluded);
    }
}

/* This host: whatever it picks, it can count this thread's work. */
static void test_choose_here(void)
{
    TaskCounter tc = TASK_COUNTER_INIT;
    TaskCounterSource source;
    bool excluded;
    uint64_t v;

    g_assert_true(task_counter_choose(task_counter_probe, &source, &excluded,
                                      &error_abort));
    g_test_message("this host: %s%s", task_counter_source_name(source),
                   excluded ? " (user mode only)" : "");
    g_assert_true(task_counter_open(&tc, source, 0, false, &error_abort));
    g_assert_true(task_counter_read(&tc, &v, &error_abort));
    g_assert_cmpint(tc.kernel_excluded, ==, excluded);
    task_counter_close(&tc);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/task-counter/scale", test_scale);
    g_test_add_func("/task-counter/parse-schedstat", test_parse_schedstat);
    g_test_add_data_func("/task-counter/task-clock",
                         GINT_TO_POINTER(TASK_COUNTER_TASK_CLOCK),
                         test_time_source);
    g_test_add_data_func("/task-counter/schedstat",
                         GINT_TO_POINTER(TASK_COUNTER_SCHEDSTAT),
                         test_time_source);
    g_test_add_func("/task-counter/cycles", test_cycles);
    g_test_add_func("/task-counter/inherit", test_inherit);
    g_test_add_func("/task-counter/errors", test_errors);
    g_test_add_func("/task-counter/choose", test_choose);
    g_test_add_func("/task-counter/choose-here", test_choose_here);
    return g_test_run();
}

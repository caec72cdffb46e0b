/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qtests for the vCPU work counters and query-power: real guests (tiny
 * firmware-free programs from power/guest.S) that spin or halt, under
 * multi-threaded TCG, round-robin TCG and KVM where scripts/kvm-probe.sh
 * finds that a KVM guest runs.
 */

#include "qemu/osdep.h"
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include "libqtest.h"
#include "qemu/timer.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "power/guest.h"

/* Measuring window of the rate tests. */
#define WINDOW_US (1000 * 1000)

typedef struct GuestCase {
    const char *accel;          /* -accel value */
    unsigned entry;             /* POWER_GUEST_SPIN or POWER_GUEST_HALT */
    int smp;
} GuestCase;

/* Writes the 64 KiB -bios image that starts the guest at @entry. */
static char *make_bios(unsigned entry)
{
    g_autofree unsigned char *image = g_malloc0(POWER_GUEST_IMAGE_SIZE);
    char *path = NULL;
    int fd = g_file_open_tmp("power-bios-XXXXXX", &path, NULL);

    g_assert_cmpint(fd, >=, 0);
    for (int i = 0; i < ARRAY_SIZE(power_guest_runs); i++) {
        memcpy(image + power_guest_runs[i].offset, power_guest_runs[i].bytes,
               power_guest_runs[i].len);
    }
    /* the reset vector is "ljmp $0xf000, $entry" */
    g_assert_cmpint(image[0xfff0], ==, 0xea);
    image[0xfff1] = entry & 0xff;
    image[0xfff2] = entry >> 8;
    g_assert_cmpint(write(fd, image, POWER_GUEST_IMAGE_SIZE), ==,
                    POWER_GUEST_IMAGE_SIZE);
    close(fd);
    return path;
}

/*
 * Whether guests can run under @accel here.  For KVM that is what
 * scripts/kvm-probe.sh found (scripts/run-qtests.sh exports its answer):
 * a /dev/kvm that opens, all that qtest_has_accel() checks, does not mean
 * that a guest starts.
 */
static bool accel_usable(const char *accel)
{
    const char *probed = g_getenv("POWER_ACCEL");

    if (!g_str_has_prefix(accel, "kvm")) {
        return true;
    }
    if (!probed) {
        g_test_skip("KVM was not probed: run this test through "
                    "scripts/run-qtests.sh, which runs scripts/kvm-probe.sh");
        return false;
    }
    if (strcmp(probed, "kvm") != 0 || !qtest_has_accel("kvm")) {
        g_test_skip(g_getenv("POWER_PROBE") ?: "KVM does not work here");
        return false;
    }
    return true;
}

/* The CPU model for @accel: the probe's for KVM (always "max" for TCG). */
static const char *cpu_model(const char *accel)
{
    const char *cpu = g_getenv("POWER_CPU");

    return g_str_has_prefix(accel, "kvm") && cpu ? cpu : "max";
}

/* Starts a pc guest running @entry with -smp @smp and extra @args. */
static QTestState *start_guest(const char *accel, unsigned entry,
                               const char *smp, const char *args)
{
    g_autofree char *bios = make_bios(entry);
    QTestState *qts = qtest_initf("-M pc -accel %s -cpu %s -smp %s "
                                  "-nodefaults -bios %s %s",
                                  accel, cpu_model(accel), smp, bios, args);

    unlink(bios);
    return qts;
}

/* A member that must be present and a non-negative integer. */
static uint64_t get_u64(QDict *d, const char *key)
{
    QNum *n = qobject_to(QNum, qdict_get(d, key));
    uint64_t v;

    g_assert_nonnull(n);
    g_assert_true(qnum_get_try_uint(n, &v));
    return v;
}

static QDict *query_power(QTestState *qts)
{
    return qtest_qmp_assert_success_ref(qts,
                                        "{ 'execute': 'query-power' }");
}

static QDict *vcpu_at(QDict *info, int i)
{
    QList *l = qdict_get_qlist(info, "vcpus");
    QListEntry *e;

    QLIST_FOREACH_ENTRY(l, e) {
        if (i-- == 0) {
            return qobject_to(QDict, qlist_entry_obj(e));
        }
    }
    g_assert_not_reached();
}

/* Invariants of every snapshot that has counts. */
static void check_snapshot(QDict *info)
{
    g_assert_true(qdict_haskey(info, "counter-source"));
    g_assert_false(qdict_haskey(info, "counter-unavailable"));
    g_assert_cmpuint(get_u64(info, "instance-count"), >=,
                     get_u64(info, "vcpu-count"));
    g_assert_true(qdict_haskey(info, "host-energy"));
}

/* Host CPU time not spent by anyone (idle + iowait), in ns. */
static uint64_t host_idle_ns(void)
{
    g_autofree char *stat = NULL;
    unsigned long long user, nice, sys, idle, iowait;

    g_assert_true(g_file_get_contents("/proc/stat", &stat, NULL, NULL));
    g_assert_cmpint(sscanf(stat, "cpu %llu %llu %llu %llu %llu", &user, &nice,
                           &sys, &idle, &iowait), ==, 5);
    return (idle + iowait) * (NANOSECONDS_PER_SECOND / sysconf(_SC_CLK_TCK));
}

/*
 * Two snapshots one window apart: counts never go back, and each vCPU's
 * growth is within what spinning or halting implies.
 */
static void test_guest(gconstpointer opaque)
{
    const GuestCase *c = opaque;
    bool spin = c->entry == POWER_GUEST_SPIN;
    bool rr = strstr(c->accel, "thread=single") != NULL;
    QTestState *qts;
    QDict *a, *b;
    uint64_t wall, vcpus, host_cpus = MAX(1, sysconf(_SC_NPROCESSORS_ONLN));
    uint64_t busy_threads, idle, instance, free_cpu;
    g_autofree char *smp = g_strdup_printf("%d", c->smp);

    if (!accel_usable(c->accel)) {
        return;
    }
    /* Force task-clock so that the counts compare with wall time. */
    qts = start_guest(c->accel, c->entry, smp,
                      "-object host-power,id=hp0,counter-source=task-clock");
    g_usleep(200 * 1000);       /* let the vCPUs reach their loops */
    idle = host_idle_ns();
    a = query_power(qts);
    g_usleep(WINDOW_US);
    b = query_power(qts);
    idle = host_idle_ns() - idle;

    check_snapshot(a);
    check_snapshot(b);
    g_assert_cmpstr(qdict_get_str(b, "counter-source"), ==, "task-clock");
    g_assert_false(qdict_haskey(b, "counter-unit"));
    g_assert_cmpint(qlist_size(qdict_get_qlist(b, "vcpus")), ==, c->smp);
    wall = get_u64(b, "timestamp-ns") - get_u64(a, "timestamp-ns");
    g_assert_cmpuint(wall, >=, WINDOW_US * 1000ULL);
    g_assert_cmpuint(get_u64(b, "instance-count"), >=,
                     get_u64(a, "instance-count"));
    g_assert_cmpuint(get_u64(b, "vcpu-count"), >=,
                     get_u64(a, "vcpu-count"));
    vcpus = get_u64(b, "vcpu-count") - get_u64(a, "vcpu-count");
    instance = get_u64(b, "instance-count") - get_u64(a, "instance-count");

    for (int i = 0; i < c->smp; i++) {
        QDict *va = vcpu_at(a, i), *vb = vcpu_at(b, i);

        g_assert_cmpint(qdict_get_int(vb, "cpu-index"), ==, i);
        g_assert_cmpuint(get_u64(vb, "count"), >=,
                         get_u64(va, "count"));
        g_assert_cmpint(qdict_get_bool(vb, "shared-thread"), ==,
                        rr && c->smp > 1);
        if (rr) {
            g_assert_cmpint(qdict_get_int(vb, "thread-id"), ==,
                            qdict_get_int(vcpu_at(b, 0), "thread-id"));
        } else if (i > 0) {
            g_assert_cmpint(qdict_get_int(vb, "thread-id"), !=,
                            qdict_get_int(vcpu_at(b, 0), "thread-id"));
        }
    }

    /* One shared thread is counted once: it is the whole vCPU total. */
    if (rr) {
        g_assert_cmpuint(vcpus, ==,
                         get_u64(vcpu_at(b, 0), "count") -
                         get_u64(vcpu_at(a, 0), "count"));
    }

    busy_threads = !spin ? 0 : rr ? 1 : MIN(c->smp, host_cpus);
    /*
     * What this QEMU could have had: the CPU it used plus what nobody
     * used.  Other work on a busy host takes the rest.
     */
    free_cpu = MIN(wall * busy_threads, instance + idle);
    g_test_message("%s %s x%d: vCPUs used %.2f CPUs over %.2f s "
                   "(%.2f CPUs were free to them)", c->accel,
                   spin ? "spin" : "halt", c->smp, (double)vcpus / wall,
                   wall / 1e9, (double)free_cpu / wall);
    if (spin) {
        /* one CPU per spinning thread, as far as the host had CPU free */
        g_assert_cmpuint(vcpus, >=, free_cpu * 7 / 10);
        g_assert_cmpuint(vcpus, <=, wall * (busy_threads + 1));
        for (int i = 0; i < c->smp && !rr; i++) {
            uint64_t d = get_u64(vcpu_at(b, i), "count") -
                         get_u64(vcpu_at(a, i), "count");

            /* every vCPU spins, sharing the CPU there was */
            g_assert_cmpuint(d, >=, free_cpu / c->smp / 4);
        }
    } else {
        g_assert_cmpuint(vcpus, <=, wall / 20);
    }
    qobject_unref(a);
    qobject_unref(b);
    qtest_quit(qts);
}

/* -M none has no vCPU: the query still succeeds, with an empty list. */
static void test_no_cpus(void)
{
    QTestState *qts = qtest_init("-M none");
    QDict *info = query_power(qts);
    QDict *energy = qdict_get_qdict(info, "host-energy");

    check_snapshot(info);
    g_assert_cmpint(qlist_size(qdict_get_qlist(info, "vcpus")), ==, 0);
    g_assert_cmpuint(get_u64(info, "vcpu-count"), ==, 0);
    g_assert_true(qdict_haskey(energy, "available"));
    g_assert_true(qdict_haskey(energy, "zones"));
    qobject_unref(info);

    /* unknown arguments are refused by QAPI */
    qmp_expect_error_and_unref(
        qtest_qmp(qts, "{ 'execute': 'query-power', "
                  "'arguments': { 'cpus': [0] } }"), "GenericError");
    qtest_quit(qts);
}

/* Each forced time source reports itself and its unit. */
static void test_forced_source(gconstpointer opaque)
{
    const char *source = opaque;
    QTestState *qts = qtest_initf("-M none -object host-power,id=hp0,"
                                  "counter-source=%s", source);
    QDict *info = query_power(qts);

    check_snapshot(info);
    g_assert_cmpstr(qdict_get_str(info, "counter-source"), ==, source);
    g_assert_cmpuint(get_u64(info, "instance-count"), >, 0);
    qobject_unref(info);
    qtest_quit(qts);
}

/* counters=off: the vCPUs are listed, without counts, and it says why. */
static void test_counters_off(void)
{
    QTestState *qts = start_guest("tcg", POWER_GUEST_HALT, "2",
                                  "-object host-power,id=hp0,counters=off");
    QDict *info = query_power(qts);

    g_assert_false(qdict_haskey(info, "counter-source"));
    g_assert_false(qdict_haskey(info, "instance-count"));
    g_assert_nonnull(strstr(qdict_get_str(info, "counter-unavailable"),
                            "off"));
    g_assert_cmpint(qlist_size(qdict_get_qlist(info, "vcpus")), ==, 2);
    g_assert_false(qdict_haskey(vcpu_at(info, 0), "count"));
    qobject_unref(info);
    qtest_quit(qts);
}

static bool host_has_cycles(void)
{
    struct perf_event_attr attr = {
        .size = sizeof(attr),
        .type = PERF_TYPE_HARDWARE,
        .config = PERF_COUNT_HW_CPU_CYCLES,
    };
    int fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);

    if (fd >= 0) {
        close(fd);
        return true;
    }
    attr.exclude_kernel = attr.exclude_hv = 1;
    fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
    if (fd >= 0) {
        close(fd);
        return true;
    }
    return false;
}

/* Runs QEMU with @args and returns its exit status and stderr. */
static int run_qemu(const char *args, char **err)
{
    g_autofree char *cmd = g_strdup_printf("%s %s",
                                           g_getenv("QTEST_QEMU_BINARY"),
                                           args);
    g_auto(GStrv) argv = g_strsplit(cmd, " ", -1);
    int status;

    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
                               NULL, NULL, NULL, err, &status, NULL));
    return status;
}

/* A forced source that does not work stops QEMU at start-up. */
static void test_unavailable_source(void)
{
    g_autofree char *err = NULL;
    int status;

    if (host_has_cycles()) {
        g_test_skip("this host counts cycles, so no source is missing");
        return;
    }
    status = run_qemu("-M none -nodefaults -display none "
                      "-object host-power,id=hp0,counter-source=cycles", &err);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    g_assert_nonnull(strstr(err, "Counter source 'cycles' is not "
                            "available"));
}

static void test_bad_options(void)
{
    g_autofree char *err = NULL;
    QTestState *qts;
    int status;

    run_qemu("-M none -nodefaults -display none "
             "-object host-power,id=hp0,counter-source=bogus", &err);
    g_assert_nonnull(strstr(err, "bogus"));
    g_free(err);
    status = run_qemu("-M none -nodefaults -display none -object "
                      "host-power,id=hp0,counters=off,counter-source=schedstat",
                      &err);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    g_assert_nonnull(strstr(err, "counter-source needs counters=on"));

    /* one host-power object per instance */
    qts = qtest_init("-M none -object host-power,id=hp0");
    qmp_expect_error_and_unref(
        qtest_qmp(qts, "{ 'execute': 'object-add', 'arguments': "
                  "{ 'qom-type': 'host-power', 'id': 'hp1' } }"),
        "GenericError");
    qtest_quit(qts);
}

static int count_fds(QTestState *qts)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/fd", qtest_pid(qts));
    GDir *d = g_dir_open(dir, 0, NULL);
    int n = 0;

    g_assert_nonnull(d);
    while (g_dir_read_name(d)) {
        n++;
    }
    g_dir_close(d);
    return n;
}

/* Plugs a vCPU into the first empty slot. */
static void plug_cpu(QTestState *qts, const char *id)
{
    QDict *rsp = qtest_qmp(qts,
                           "{ 'execute': 'query-hotpluggable-cpus' }");
    QList *slots = qdict_get_qlist(rsp, "return");
    QListEntry *e;

    g_assert_nonnull(slots);
    QLIST_FOREACH_ENTRY(slots, e) {
        QDict *slot = qobject_to(QDict, qlist_entry_obj(e));

        if (!qdict_haskey(slot, "qom-path")) {
            QDict *props = qdict_clone_shallow(qdict_get_qdict(slot,
                                                               "props"));

            qdict_put_str(props, "driver", qdict_get_str(slot, "type"));
            qdict_put_str(props, "id", id);
            qtest_qmp_assert_success(qts,
                "{ 'execute': 'device_add', 'arguments': %p }", props);
            qobject_unref(rsp);
            return;
        }
    }
    g_assert_not_reached();
}

/*
 * Unplugs vCPU @index, device @id.  The guest has no ACPI code, so the
 * test ejects the CPU itself through the ACPI CPU hotplug registers
 * (modern interface at 0xaf00 on pc).
 */
static void unplug_cpu(QTestState *qts, const char *id, int index)
{
    /* unplug works only with the modern interface: switch to it */
    qtest_outl(qts, 0xaf00, 0);
    qtest_qmp_device_del_send(qts, id);
    qtest_outl(qts, 0xaf00, index);     /* select the CPU */
    qtest_outb(qts, 0xaf04, 8);         /* eject it */
    qtest_qmp_eventwait(qts, "DEVICE_DELETED");
}

/*
 * vCPU hot-plug and unplug: the list follows, the work of the unplugged
 * vCPU stays in the total, and the counter's file descriptor is closed.
 */
static void test_hotplug(void)
{
    QTestState *qts = start_guest("tcg", POWER_GUEST_HALT, "1,maxcpus=2",
                                  "-object host-power,id=hp0,"
                                  "counter-source=task-clock");
    QDict *info;
    uint64_t total;
    int fds;

    /*
     * counted after a first query-power, which opens the host's energy
     * counters for good where the host has any (a perf power PMU)
     */
    qobject_unref(query_power(qts));
    fds = count_fds(qts);
    plug_cpu(qts, "cpu1");
    info = query_power(qts);
    g_assert_cmpint(qlist_size(qdict_get_qlist(info, "vcpus")), ==, 2);
    g_assert_cmpint(qdict_get_int(vcpu_at(info, 1), "cpu-index"), ==, 1);
    g_assert_true(qdict_haskey(vcpu_at(info, 1), "count"));
    g_assert_cmpint(count_fds(qts), ==, fds + 1);
    total = get_u64(info, "vcpu-count");
    qobject_unref(info);

    unplug_cpu(qts, "cpu1", 1);

    info = query_power(qts);
    g_assert_cmpint(qlist_size(qdict_get_qlist(info, "vcpus")), ==, 1);
    g_assert_cmpuint(get_u64(info, "vcpu-count"), >=, total);
    g_assert_cmpint(count_fds(qts), ==, fds);
    qobject_unref(info);
    qtest_quit(qts);
}

/* The run time of thread @tid of @qts's QEMU, from its schedstat. */
static uint64_t thread_run_ns(QTestState *qts, int64_t tid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/task/%" PRId64
                                            "/schedstat", qtest_pid(qts),
                                            tid);
    g_autofree char *buf = NULL;
    uint64_t ns;

    g_assert_true(g_file_get_contents(path, &buf, NULL, NULL));
    g_assert_cmpint(sscanf(buf, "%" SCNu64, &ns), ==, 1);
    return ns;
}

/* The host thread id of vCPU @index, from query-cpus-fast. */
static int64_t vcpu_thread_id(QTestState *qts, int index)
{
    QDict *rsp = qtest_qmp(qts, "{ 'execute': 'query-cpus-fast' }");
    QListEntry *e;
    int64_t tid = -1;

    QLIST_FOREACH_ENTRY(qdict_get_qlist(rsp, "return"), e) {
        QDict *cpu = qobject_to(QDict, qlist_entry_obj(e));

        if (qdict_get_int(cpu, "cpu-index") == index) {
            tid = qdict_get_int(cpu, "thread-id");
        }
    }
    qobject_unref(rsp);
    g_assert_cmpint(tid, >, 0);
    return tid;
}

/*
 * Under schedstat, a counter can be read only while its thread exists:
 * an unplugged vCPU's final count must be read on the thread before it
 * exits.  Nothing reads the plugged vCPU's counter before the unplug, so
 * all of its count comes from that last read; it must be at least the
 * run time the thread had just before the eject (read from /proc), and
 * no more than the whole process's, less the vCPU that stays.
 */
static void test_unplug_final_count(void)
{
    QTestState *qts = start_guest("tcg", POWER_GUEST_HALT, "1,maxcpus=2",
                                  "-object host-power,id=hp0,"
                                  "counter-source=schedstat");
    uint64_t truth, retired, instance;
    QDict *info;

    plug_cpu(qts, "cpu1");
    truth = thread_run_ns(qts, vcpu_thread_id(qts, 1));
    g_assert_cmpuint(truth, >, 0);
    unplug_cpu(qts, "cpu1", 1);

    info = query_power(qts);
    g_assert_cmpint(qlist_size(qdict_get_qlist(info, "vcpus")), ==, 1);
    retired = get_u64(info, "vcpu-count") - get_u64(vcpu_at(info, 0),
                                                    "count");
    instance = get_u64(info, "instance-count") -
        get_u64(vcpu_at(info, 0), "count");
    g_test_message("unplugged vCPU: %" PRIu64 " ns counted, its thread "
                   "had run %" PRIu64 " ns before the eject", retired,
                   truth);
    g_assert_cmpuint(retired, >=, truth);
    g_assert_cmpuint(retired, <=, instance);
    qobject_unref(info);
    qtest_quit(qts);
}

/*
 * The value of stat @name in a query-stats reply, in the result of
 * @qom_path (NULL: the one result, of target vm).
 */
static uint64_t stat_of(QDict *rsp, const char *qom_path, const char *name)
{
    QList *results = qdict_get_qlist(rsp, "return");
    QListEntry *e;

    QLIST_FOREACH_ENTRY(results, e) {
        QDict *r = qobject_to(QDict, qlist_entry_obj(e));
        QListEntry *se;

        if (qom_path && strcmp(qdict_get_str(r, "qom-path"), qom_path)) {
            continue;
        }
        g_assert_cmpstr(qdict_get_str(r, "provider"), ==, "power");
        QLIST_FOREACH_ENTRY(qdict_get_qlist(r, "stats"), se) {
            QDict *st = qobject_to(QDict, qlist_entry_obj(se));

            if (!strcmp(qdict_get_str(st, "name"), name)) {
                return get_u64(st, "value");
            }
        }
    }
    g_assert_not_reached();
}

/*
 * Whether every count of query-stats' replies @vm and @vcpu is past
 * query-power's snapshot @snap (with @after: whether none is).
 */
static bool stats_past(QDict *snap, QDict *vm, QDict *vcpu, bool after)
{
    for (int i = 0; i < 2; i++) {
        const char *key = i ? "vcpu-count" : "instance-count";
        uint64_t c = stat_of(vm, NULL, key);

        if (after ? c > get_u64(snap, key) : c <= get_u64(snap, key)) {
            return false;
        }
    }
    for (int i = 0; i < 2; i++) {
        QDict *v = vcpu_at(snap, i);
        uint64_t c = stat_of(vcpu, qdict_get_str(v, "qom-path"), "count");

        if (after ? c > get_u64(v, "count") : c <= get_u64(v, "count")) {
            return false;
        }
    }
    return true;
}

/*
 * query-stats' power provider gives the counts of query-power, read when
 * asked: with two spinning vCPUs, every count it gives soon gets past a
 * query-power snapshot taken before (a value kept from an earlier read
 * never would), and none is past a snapshot taken after.  Names and
 * vCPUs filter; the schema has the counter's unit; without counters
 * there are no power stats.
 */
static void test_query_stats(void)
{
    QTestState *qts = start_guest("tcg", POWER_GUEST_SPIN, "2",
                                  "-object host-power,id=hp0,"
                                  "counter-source=task-clock");
    int64_t deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    QDict *before, *after, *vm, *vcpu, *rsp, *schema;
    const char *path1;
    QList *l;

    before = query_power(qts);
    for (;;) {
        vm = qtest_qmp(qts, "{ 'execute': 'query-stats', 'arguments': "
                       "{ 'target': 'vm', 'providers': "
                       "[ { 'provider': 'power' } ] } }");
        vcpu = qtest_qmp(qts, "{ 'execute': 'query-stats', 'arguments': "
                         "{ 'target': 'vcpu', 'providers': "
                         "[ { 'provider': 'power' } ] } }");
        g_assert_cmpint(qlist_size(qdict_get_qlist(vcpu, "return")), ==, 2);
        if (stats_past(before, vm, vcpu, false)) {
            break;
        }
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        qobject_unref(vm);
        qobject_unref(vcpu);
        g_usleep(10 * 1000);            /* the poll step */
    }
    after = query_power(qts);
    g_assert_true(stats_past(after, vm, vcpu, true));
    l = qdict_get_qlist(vm, "return");
    g_assert_cmpint(qlist_size(l), ==, 1);
    g_assert_false(qdict_haskey(qobject_to(QDict, qlist_peek(l)),
                                "qom-path"));
    path1 = qdict_get_str(vcpu_at(after, 1), "qom-path");
    qobject_unref(vm);

    /* filters: one name, one vCPU */
    rsp = qtest_qmp(qts, "{ 'execute': 'query-stats', 'arguments': "
                    "{ 'target': 'vcpu', 'vcpus': [ %s ], 'providers': "
                    "[ { 'provider': 'power', 'names': [ 'count' ] } ] } }",
                    path1);
    l = qdict_get_qlist(rsp, "return");
    g_assert_cmpint(qlist_size(l), ==, 1);
    g_assert_cmpstr(qdict_get_str(qobject_to(QDict, qlist_peek(l)),
                                  "qom-path"), ==, path1);
    qobject_unref(rsp);
    rsp = qtest_qmp(qts, "{ 'execute': 'query-stats', 'arguments': "
                    "{ 'target': 'vm', 'providers': [ { 'provider': "
                    "'power', 'names': [ 'vcpu-count' ] } ] } }");
    l = qdict_get_qlist(qobject_to(QDict, qlist_peek(
        qdict_get_qlist(rsp, "return"))), "stats");
    g_assert_cmpint(qlist_size(l), ==, 1);
    g_assert_cmpstr(qdict_get_str(qobject_to(QDict, qlist_peek(l)), "name"),
                    ==, "vcpu-count");
    qobject_unref(rsp);

    /* the schema: cumulative nanoseconds for task-clock */
    rsp = qtest_qmp(qts, "{ 'execute': 'query-stats-schemas', "
                    "'arguments': { 'provider': 'power' } }");
    l = qdict_get_qlist(rsp, "return");
    g_assert_cmpint(qlist_size(l), ==, 2);
    schema = qobject_to(QDict, qlist_peek(l));
    if (strcmp(qdict_get_str(schema, "target"), "vm")) {
        schema = qobject_to(QDict, qlist_entry_obj(
            QTAILQ_NEXT(QTAILQ_FIRST(&l->head), next)));
    }
    g_assert_cmpstr(qdict_get_str(schema, "target"), ==, "vm");
    schema = qobject_to(QDict, qlist_peek(qdict_get_qlist(schema, "stats")));
    g_assert_cmpstr(qdict_get_str(schema, "name"), ==, "instance-count");
    g_assert_cmpstr(qdict_get_str(schema, "type"), ==, "cumulative");
    g_assert_cmpstr(qdict_get_str(schema, "unit"), ==, "seconds");
    g_assert_cmpint(qdict_get_int(schema, "base"), ==, 10);
    g_assert_cmpint(qdict_get_int(schema, "exponent"), ==, -9);
    qobject_unref(rsp);
    qobject_unref(vcpu);
    qobject_unref(before);
    qobject_unref(after);
    qtest_quit(qts);

    qts = start_guest("tcg", POWER_GUEST_HALT, "1",
                      "-object host-power,id=hp0,counters=off");
    rsp = qtest_qmp(qts, "{ 'execute': 'query-stats', 'arguments': "
                    "{ 'target': 'vm', 'providers': "
                    "[ { 'provider': 'power' } ] } }");
    g_assert_cmpint(qlist_size(qdict_get_qlist(rsp, "return")), ==, 0);
    qobject_unref(rsp);
    qtest_quit(qts);
}

static void test_hmp(void)
{
    QTestState *qts = start_guest("tcg", POWER_GUEST_HALT, "1",
                                  "-object host-power,id=hp0,"
                                  "counter-source=task-clock");
    g_autofree char *out = qtest_hmp(qts, "info power");

    g_assert_nonnull(strstr(out, "counter source: task-clock"));
    g_assert_nonnull(strstr(out, "CPU 0 thread "));
    /* "host energy: unavailable (...)", or the header of its zones */
    g_assert_nonnull(strstr(out, "host energy:"));
    qtest_quit(qts);
}

static void add_guest_case(const char *name, const char *accel,
                           unsigned entry, int smp)
{
    GuestCase *c = g_new(GuestCase, 1);
    g_autofree char *path = g_strdup_printf("power/%s/%s/%d", name,
                                            entry == POWER_GUEST_SPIN ?
                                            "spin" : "halt", smp);

    *c = (GuestCase) { .accel = accel, .entry = entry, .smp = smp };
    qtest_add_data_func_full(path, c, test_guest, g_free);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name, *accel;
    } accels[] = {
        { "tcg", "tcg" },
        { "tcg-single", "tcg,thread=single" },
        { "kvm", "kvm" },
    };

    g_test_init(&argc, &argv, NULL);
    qtest_add_func("power/no-cpus", test_no_cpus);
    qtest_add_data_func("power/source/task-clock", "task-clock",
                        test_forced_source);
    qtest_add_data_func("power/source/schedstat", "schedstat",
                        test_forced_source);
    qtest_add_func("power/source/off", test_counters_off);
    qtest_add_func("power/source/unavailable", test_unavailable_source);
    qtest_add_func("power/bad-options", test_bad_options);
    for (int i = 0; i < ARRAY_SIZE(accels); i++) {
        add_guest_case(accels[i].name, accels[i].accel, POWER_GUEST_SPIN, 1);
        add_guest_case(accels[i].name, accels[i].accel, POWER_GUEST_SPIN, 4);
        add_guest_case(accels[i].name, accels[i].accel, POWER_GUEST_HALT, 1);
        add_guest_case(accels[i].name, accels[i].accel, POWER_GUEST_HALT, 4);
    }
    qtest_add_func("power/hotplug", test_hotplug);
    qtest_add_func("power/unplug-final-count", test_unplug_final_count);
    qtest_add_func("power/query-stats", test_query_stats);
    qtest_add_func("power/hmp", test_hmp);
    return g_test_run();
}

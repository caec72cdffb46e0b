/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qtests for host power policy (query-host-power-policy, set-host-*) and
 * host energy in query-power.  QEMU asks the real qemu-power-helper
 * (-object host-power,helper=SOCKET), which each test starts over a fake
 * sysfs tree of its own; the tests compare the tree before and after.
 *
 * The helper is $QTEST_POWER_HELPER, or else found in the build tree
 * next to $QTEST_QEMU_BINARY.
 */

#include "qemu/osdep.h"
#include <sys/un.h>
#include <sys/wait.h>
#include "libqtest.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qnum.h"
#include "qobject/qjson.h"
#include "qobject/qstring.h"
#include "../unit/fake-sysfs.h"

#define CPU(n, file) "devices/system/cpu/cpu" #n "/cpufreq/" file
#define PSTATE(file) "devices/system/cpu/intel_pstate/" file
#define ZONE(dir, file) "class/powercap/intel-rapl:" dir "/" file

#define HELPER_START_S 10       /* a generous bound for a loaded host */

typedef struct Fixture {
    char *root;                 /* the fake sysfs tree */
    char *dir;                  /* the helper's socket and state file */
    char *sock;
    GPid helper;                /* 0: none */
    QTestState *qts;
} Fixture;

static char *helper_binary(void)
{
    const char *env = g_getenv("QTEST_POWER_HELPER");
    const char *qemu = g_getenv("QTEST_QEMU_BINARY");
    g_autofree char *dir = NULL;

    if (env) {
        return g_strdup(env);
    }
    /* meson runs qtests in the build root, QEMU's binary there too */
    g_assert_nonnull(qemu);
    dir = g_path_get_dirname(qemu);
    return g_build_filename(dir, "tools", "qemu-power-helper",
                            "qemu-power-helper", NULL);
}

static bool can_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    g_assert_cmpint(fd, >=, 0);
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* Start the helper over @f->root, and wait until it listens. */
static void helper_start(Fixture *f)
{
    g_autofree char *bin = helper_binary();
    g_autofree char *state = g_build_filename(f->dir, "state.json", NULL);
    const char *user = g_get_user_name();
    char *argv[] = {
        bin, (char *)"--socket", f->sock, (char *)"--sysfs-root", f->root,
        (char *)"--state-file", state, (char *)"--allow-policy",
        (char *)user, (char *)"--allow-energy", (char *)user, NULL
    };
    g_autoptr(GError) err = NULL;
    gint64 deadline = g_get_monotonic_time() + HELPER_START_S * G_USEC_PER_SEC;

    if (!g_file_test(bin, G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_message("no qemu-power-helper at %s (set QTEST_POWER_HELPER)",
                       bin);
        g_assert_not_reached();
    }
    g_assert_true(g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                NULL, NULL, &f->helper, &err));
    while (!can_connect(f->sock)) {
        int status;

        g_assert_cmpint(waitpid(f->helper, &status, WNOHANG), ==, 0);
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(20 * 1000);
    }
}

/* Stop the helper cleanly: it restores every original value. */
static void helper_stop(Fixture *f)
{
    int status;

    if (f->helper) {
        g_assert_cmpint(kill(f->helper, SIGTERM), ==, 0);
        g_assert_cmpint(waitpid(f->helper, &status, 0), ==, f->helper);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        g_spawn_close_pid(f->helper);
        f->helper = 0;
    }
}

/* A fake tree, a helper over it, and no QEMU yet. */
static void fixture_helper(Fixture *f)
{
    f->root = fake_sysfs_new();
    f->dir = g_dir_make_tmp("power-helper-XXXXXX", NULL);
    g_assert_nonnull(f->dir);
    f->sock = g_build_filename(f->dir, "h.sock", NULL);
    f->helper = 0;
    f->qts = NULL;
}

/* Sends a command written as text (single quotes allowed). */
static QDict *qmp_text(QTestState *qts, const char *cmd)
{
    QObject *obj = qobject_from_json(cmd, &error_abort);

    return qtest_qmp(qts, "%p", obj);
}

/* A QEMU asking the fixture's helper, with host-power options @opts. */
static QTestState *qemu_start(Fixture *f, const char *opts)
{
    return qtest_initf("-M none -object host-power,id=hp0,helper=%s%s",
                       f->sock, opts);
}

/* A 4-CPU, 2-package fake host, its helper and a QEMU. */
static void fixture_start(Fixture *f, const char *opts)
{
    fixture_helper(f);
    fake_sysfs_host(f->root, 4, 2, true);
    helper_start(f);
    f->qts = qemu_start(f, opts);
}

static void fixture_stop(Fixture *f)
{
    g_autofree char *state = g_build_filename(f->dir, "state.json", NULL);

    if (f->qts) {
        qtest_quit(f->qts);
    }
    helper_stop(f);
    fake_sysfs_free(f->root);
    unlink(f->sock);
    g_free(f->sock);
    unlink(state);
    g_assert_cmpint(rmdir(f->dir), ==, 0);
    g_free(f->dir);
}

/* Wait until the tree is @want again (the helper restores on its own). */
static void wait_tree(Fixture *f, const char *want)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    for (;;) {
        g_autofree char *now = fake_sysfs_snapshot(f->root);

        if (!strcmp(now, want)) {
            return;
        }
        if (g_get_monotonic_time() > deadline) {
            g_assert_cmpstr(now, ==, want);
        }
        g_usleep(20 * 1000);
    }
}

/* The files that differ between two snapshots, as "file,file". */
static char *changed_files(const char *a, const char *b)
{
    g_auto(GStrv) la = g_strsplit(a, "\n", -1);
    g_auto(GStrv) lb = g_strsplit(b, "\n", -1);
    GString *out = g_string_new("");

    g_assert_cmpint(g_strv_length(la), ==, g_strv_length(lb));
    for (int i = 0; la[i]; i++) {
        if (strcmp(la[i], lb[i])) {
            g_string_append_printf(out, "%s%.*s", out->len ? "," : "",
                                   (int)(strchr(lb[i], '=') - lb[i]) - 1,
                                   lb[i] + 1);
        }
    }
    return g_string_free(out, false);
}

/* Runs a valid command and checks which files it changed. */
static QDict *expect_change(Fixture *f, const char *cmd, const char *files)
{
    g_autofree char *before = fake_sysfs_snapshot(f->root);
    g_autofree char *after = NULL, *changed = NULL;
    QDict *rsp = qmp_text(f->qts, cmd);

    if (!qdict_haskey(rsp, "return")) {
        g_test_message("%s failed: %s", cmd,
                       qdict_get_str(qdict_get_qdict(rsp, "error"), "desc"));
    }
    g_assert_true(qdict_haskey(rsp, "return"));
    after = fake_sysfs_snapshot(f->root);
    changed = changed_files(before, after);
    g_assert_cmpstr(changed, ==, files);
    return rsp;
}

/* Runs an invalid command: it fails saying @error, changing nothing. */
static void expect_error(Fixture *f, const char *cmd, const char *error)
{
    g_autofree char *before = fake_sysfs_snapshot(f->root);
    g_autofree char *after = NULL;
    QDict *rsp = qmp_text(f->qts, cmd);
    const char *desc;

    g_assert_true(qdict_haskey(rsp, "error"));
    desc = qdict_get_str(qdict_get_qdict(rsp, "error"), "desc");
    if (!strstr(desc, error)) {
        g_test_message("%s: got '%s', wanted '%s'", cmd, desc, error);
    }
    g_assert_nonnull(strstr(desc, error));
    qobject_unref(rsp);
    after = fake_sysfs_snapshot(f->root);
    g_assert_cmpstr(before, ==, after);
}

static void test_query(void)
{
    Fixture f;
    QDict *p, *cpu, *zone;
    QList *cpus, *zones;

    fixture_start(&f, "");
    p = qtest_qmp_assert_success_ref(f.qts, "{ 'execute': "
                                     "'query-host-power-policy' }");
    g_assert_false(qdict_get_bool(p, "allowed"));
    cpus = qdict_get_qlist(p, "cpus");
    g_assert_cmpint(qlist_size(cpus), ==, 4);
    cpu = qobject_to(QDict, qlist_peek(cpus));
    g_assert_cmpstr(qdict_get_str(cpu, "governor"), ==, "ondemand");
    g_assert_cmpint(qdict_get_int(cpu, "max-khz"), ==, 3000000);
    g_assert_false(qdict_haskey(cpu, "frequency-khz"));
    g_assert_cmpint(qlist_size(qdict_get_qlist(cpu,
                               "available-frequencies-khz")), ==, 4);
    g_assert_false(qdict_haskey(p, "cpufreq-unavailable"));
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(p, "pstate"),
                                  "min-perf-pct"), ==, 20);
    zones = qdict_get_qlist(p, "zones");
    g_assert_cmpint(qlist_size(zones), ==, 6);
    zone = qobject_to(QDict, qlist_peek(zones));
    g_assert_cmpstr(qdict_get_str(zone, "zone"), ==, "package-0");
    g_assert_true(qdict_get_bool(zone, "enabled"));
    g_assert_cmpint(qlist_size(qdict_get_qlist(zone, "constraints")), ==, 2);
    qobject_unref(p);
    fixture_stop(&f);
}

/* A host without intel_pstate or RAPL: reported absent, not zero. */
static void test_query_absent(void)
{
    Fixture f;
    QDict *p;

    fixture_helper(&f);
    fake_sysfs_write(f.root, "devices/system/cpu/online", "0-1\n");
    helper_start(&f);
    f.qts = qemu_start(&f, "");
    p = qtest_qmp_assert_success_ref(f.qts, "{ 'execute': "
                                     "'query-host-power-policy' }");
    g_assert_cmpint(qlist_size(qdict_get_qlist(p, "cpus")), ==, 0);
    g_assert_nonnull(strstr(qdict_get_str(p, "cpufreq-unavailable"),
                            "no cpufreq policy"));
    g_assert_false(qdict_haskey(p, "pstate"));
    g_assert_nonnull(strstr(qdict_get_str(p, "pstate-unavailable"),
                            "intel_pstate"));
    g_assert_cmpint(qlist_size(qdict_get_qlist(p, "zones")), ==, 0);
    g_assert_true(qdict_haskey(p, "zones-unavailable"));
    qobject_unref(p);
    fixture_stop(&f);
}

/* Without the object, or with allow-policy=off, nothing can be changed. */
static void test_not_allowed(void)
{
    Fixture f;

    fixture_start(&f, ",allow-policy=off");
    expect_error(&f, "{ 'execute': 'set-host-cpufreq', 'arguments': "
                 "{ 'governor': 'performance' } }", "denied");
    expect_error(&f, "{ 'execute': 'set-host-pstate', 'arguments': "
                 "{ 'max-perf-pct': 50 } }", "denied");
    expect_error(&f, "{ 'execute': 'set-host-power-limit', 'arguments': "
                 "{ 'zone': 'package-0', 'constraint': 'long_term', "
                 "'power-limit-uw': 1000000 } }", "denied");
    fixture_stop(&f);

    fixture_start(&f, ",allow-policy=on");
    qtest_quit(f.qts);
    f.qts = qtest_init("-M none");
    expect_error(&f, "{ 'execute': 'set-host-pstate', 'arguments': "
                 "{ 'max-perf-pct': 50 } }", "allow-policy=on");
    fixture_stop(&f);
}

/* Neither allow-policy nor helper can change once the object exists. */
static void test_fixed_properties(void)
{
    Fixture f;
    QDict *rsp;

    fixture_start(&f, "");
    rsp = qtest_qmp(f.qts, "{ 'execute': 'qom-set', 'arguments': "
                    "{ 'path': 'hp0', 'property': 'allow-policy', "
                    "'value': true } }");
    qmp_expect_error_and_unref(rsp, "GenericError");
    rsp = qtest_qmp(f.qts, "{ 'execute': 'qom-set', 'arguments': "
                    "{ 'path': 'hp0', 'property': 'helper', "
                    "'value': '/elsewhere.sock' } }");
    qmp_expect_error_and_unref(rsp, "GenericError");
    /* the reply's return is a string, not the dict the assert wants */
    rsp = qtest_qmp(f.qts, "{ 'execute': 'qom-get', 'arguments': "
                    "{ 'path': 'hp0', 'property': 'helper' } }");
    g_assert(qdict_haskey(rsp, "return"));
    g_assert_cmpstr(qstring_get_str(qobject_to(QString,
                    qdict_get(rsp, "return"))), ==, f.sock);
    qobject_unref(rsp);
    /* still denied, nothing written */
    expect_error(&f, "{ 'execute': 'set-host-pstate', 'arguments': "
                 "{ 'max-perf-pct': 50 } }", "denied");
    fixture_stop(&f);
}

/* No helper: queries say why, changes fail, the tree stays. */
static void test_no_helper(void)
{
    const char *why = "no qemu-power-helper: add helper=PATH";
    Fixture f;
    QDict *p, *energy;

    fixture_start(&f, "");
    qtest_quit(f.qts);
    f.qts = qtest_init("-M none -object host-power,id=hp0,allow-policy=on");
    p = qtest_qmp_assert_success_ref(f.qts, "{ 'execute': "
                                     "'query-host-power-policy' }");
    g_assert_cmpint(qlist_size(qdict_get_qlist(p, "cpus")), ==, 0);
    g_assert_nonnull(strstr(qdict_get_str(p, "cpufreq-unavailable"), why));
    g_assert_nonnull(strstr(qdict_get_str(p, "pstate-unavailable"), why));
    g_assert_nonnull(strstr(qdict_get_str(p, "zones-unavailable"), why));
    qobject_unref(p);
    p = qtest_qmp_assert_success_ref(f.qts, "{ 'execute': 'query-power' }");
    energy = qdict_get_qdict(p, "host-energy");
    g_assert_false(qdict_get_bool(energy, "available"));
    g_assert_nonnull(strstr(qdict_get_str(energy, "reason"), why));
    qobject_unref(p);
    expect_error(&f, "{ 'execute': 'set-host-cpufreq', 'arguments': "
                 "{ 'governor': 'performance' } }", "needs qemu-power-helper");
    expect_error(&f, "{ 'execute': 'set-host-pstate', 'arguments': "
                 "{ 'max-perf-pct': 50 } }", "needs qemu-power-helper");
    fixture_stop(&f);
}

/* A socket nothing listens on: errors that name it, the tree stays. */
static void test_unreachable_helper(void)
{
    g_autofree char *gone = NULL, *want = NULL;
    Fixture f;
    QDict *p, *energy;

    fixture_start(&f, "");
    qtest_quit(f.qts);
    gone = g_build_filename(f.dir, "nobody.sock", NULL);
    want = g_strdup_printf("Could not connect to qemu-power-helper at '%s'",
                           gone);
    f.qts = qtest_initf("-M none -object host-power,id=hp0,allow-policy=on,"
                        "helper=%s", gone);
    expect_error(&f, "{ 'execute': 'set-host-cpufreq', 'arguments': "
                 "{ 'governor': 'performance' } }", want);
    expect_error(&f, "{ 'execute': 'set-host-power-limit', 'arguments': "
                 "{ 'zone': 'package-0', 'enabled': false } }", want);
    expect_error(&f, "{ 'execute': 'query-host-power-policy' }", want);
    p = qtest_qmp_assert_success_ref(f.qts, "{ 'execute': 'query-power' }");
    energy = qdict_get_qdict(p, "host-energy");
    g_assert_false(qdict_get_bool(energy, "available"));
    g_assert_nonnull(strstr(qdict_get_str(energy, "reason"), want));
    qobject_unref(p);
    fixture_stop(&f);
}

static void test_set_cpufreq(void)
{
    Fixture f;
    QDict *rsp, *ev;
    QList *ret;

    fixture_start(&f, ",allow-policy=on");
    rsp = expect_change(&f, "{ 'execute': 'set-host-cpufreq', 'arguments': "
                        "{ 'cpus': [1], 'governor': 'performance' } }",
                        CPU(1, "scaling_governor"));
    ret = qdict_get_qlist(rsp, "return");
    g_assert_cmpint(qlist_size(ret), ==, 1);
    g_assert_cmpstr(qdict_get_str(qobject_to(QDict, qlist_peek(ret)),
                                  "governor"), ==, "performance");
    qobject_unref(rsp);
    ev = qtest_qmp_eventwait_ref(f.qts, "HOST_POWER_POLICY_CHANGED");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(ev, "data"), "change"), ==,
                    "cpufreq");
    ret = qdict_get_qlist(qdict_get_qdict(ev, "data"), "cpus");
    g_assert_cmpint(qlist_size(ret), ==, 1);
    g_assert_cmpstr(qdict_get_str(qobject_to(QDict, qlist_peek(ret)),
                                  "governor"), ==, "performance");
    qobject_unref(ev);

    /* default: every online CPU */
    qobject_unref(expect_change(&f, "{ 'execute': 'set-host-cpufreq', "
                                "'arguments': { 'max-khz': 2400000 } }",
                                CPU(0, "scaling_max_freq") ","
                                CPU(1, "scaling_max_freq") ","
                                CPU(2, "scaling_max_freq") ","
                                CPU(3, "scaling_max_freq")));
    qobject_unref(expect_change(&f, "{ 'execute': 'set-host-cpufreq', "
                                "'arguments': { 'cpus': [2, 3], "
                                "'governor': 'userspace', "
                                "'frequency-khz': 1800000 } }",
                                CPU(2, "scaling_governor") ","
                                CPU(2, "scaling_setspeed") ","
                                CPU(3, "scaling_governor") ","
                                CPU(3, "scaling_setspeed")));
    qobject_unref(expect_change(&f, "{ 'execute': 'set-host-cpufreq', "
                                "'arguments': { 'cpus': [0], "
                                "'min-khz': 1800000 } }",
                                CPU(0, "scaling_min_freq")));
    fixture_stop(&f);
}

static void test_set_cpufreq_invalid(void)
{
    static const struct {
        const char *args, *error;
    } cases[] = {
        { "'governor': 'turbo'", "no governor called 'turbo'" },
        { "'governor': '../../../../etc/passwd'", "no governor" },
        { "'governor': 'performance/'", "no governor" },
        { "'governor': '..'", "no governor" },
        { "'governor': 'performance\\n'", "no governor" },
        { "'governor': 'perf'", "no governor" },
        { "'frequency-khz': 2400000", "needs the 'userspace' governor" },
        { "'governor': 'userspace', 'frequency-khz': 2500000",
          "not one of the available" },
        { "'governor': 'userspace', 'frequency-khz': 9000000",
          "outside the hardware" },
        { "'min-khz': 100", "outside the hardware" },
        { "'max-khz': 3000001", "outside the hardware" },
        { "'min-khz': 2400000, 'max-khz': 1800000", "would be above" },
        { "'cpus': [-1], 'max-khz': 2400000", "uint32" },
        { "'cpus': [4], 'max-khz': 2400000", "not online" },
        { "'cpus': [4294967295], 'max-khz': 2400000", "not online" },
        { "'cpus': [1, 1], 'max-khz': 2400000", "listed twice" },
        { "'cpus': [], 'max-khz': 2400000", "No host CPU" },
        { "'cpus': [0]", "Nothing to change" },
        { "'max-khz': 'fast'", "uint64" },
        /* QAPI reads -5 as 2^64 - 5: refused all the same */
        { "'max-khz': -5", "outside the hardware" },
        { "'bogus': 1", "bogus" },
    };
    Fixture f;

    fixture_start(&f, ",allow-policy=on");
    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *cmd = g_strdup_printf(
            "{ 'execute': 'set-host-cpufreq', 'arguments': { %s } }",
            cases[i].args);

        expect_error(&f, cmd, cases[i].error);
    }
    fixture_stop(&f);
}

static void test_set_pstate(void)
{
    static const struct {
        const char *args, *error;
    } bad[] = {
        { "'max-perf-pct': 101", "percentages" },
        { "'min-perf-pct': 60, 'max-perf-pct': 40", "above" },
        { "'max-perf-pct': 10", "above" },          /* min is 20 */
        { "'max-perf-pct': -1", "percentages" },
        { "", "Nothing to change" },
    };
    Fixture f;
    QDict *rsp, *ev, *data;

    fixture_start(&f, ",allow-policy=on");
    rsp = expect_change(&f, "{ 'execute': 'set-host-pstate', 'arguments': "
                        "{ 'max-perf-pct': 80, 'min-perf-pct': 30 } }",
                        PSTATE("max_perf_pct") "," PSTATE("min_perf_pct"));
    g_assert_cmpint(qdict_get_int(qdict_get_qdict(rsp, "return"),
                                  "max-perf-pct"), ==, 80);
    qobject_unref(rsp);
    /* the event's data is flat: the branch's members beside "change" */
    ev = qtest_qmp_eventwait_ref(f.qts, "HOST_POWER_POLICY_CHANGED");
    data = qdict_get_qdict(ev, "data");
    g_assert_cmpstr(qdict_get_str(data, "change"), ==, "pstate");
    g_assert_cmpint(qdict_get_int(data, "max-perf-pct"), ==, 80);
    g_assert_cmpint(qdict_get_int(data, "min-perf-pct"), ==, 30);
    qobject_unref(ev);
    for (int i = 0; i < ARRAY_SIZE(bad); i++) {
        g_autofree char *cmd = g_strdup_printf(
            "{ 'execute': 'set-host-pstate', 'arguments': { %s } }",
            bad[i].args);

        expect_error(&f, cmd, bad[i].error);
    }
    fixture_stop(&f);

    /* no intel_pstate on the host */
    fixture_helper(&f);
    fake_sysfs_host(f.root, 2, 1, false);
    helper_start(&f);
    f.qts = qemu_start(&f, ",allow-policy=on");
    expect_error(&f, "{ 'execute': 'set-host-pstate', 'arguments': "
                 "{ 'max-perf-pct': 50 } }", "intel_pstate is not in use");
    fixture_stop(&f);
}

static void test_set_power_limit(void)
{
    static const struct {
        const char *args, *error;
    } bad[] = {
        { "'zone': 'package-7', 'constraint': 'long_term', "
          "'power-limit-uw': 1000000", "no RAPL zone called 'package-7'" },
        { "'zone': 'package-0/../package-1', 'constraint': 'long_term', "
          "'power-limit-uw': 1000000", "no RAPL zone" },
        { "'zone': 'intel-rapl:0', 'constraint': 'long_term', "
          "'power-limit-uw': 1000000", "no RAPL zone" },
        { "'zone': 'core', 'enabled': true", "no RAPL zone" },
        { "'zone': 'PACKAGE-0', 'enabled': true", "no RAPL zone" },
        { "'zone': 'package-0', 'constraint': 'longterm', "
          "'power-limit-uw': 1000000", "no constraint called 'longterm'" },
        { "'zone': 'package-0', 'constraint': 'long_term/../x', "
          "'power-limit-uw': 1000000", "no constraint" },
        { "'zone': 'package-0', 'constraint': 'long_term', "
          "'power-limit-uw': 200000001", "at most its maximum" },
        { "'zone': 'package-0', 'constraint': 'long_term', "
          "'power-limit-uw': 0", "above 0" },
        { "'zone': 'package-0', 'power-limit-uw': 1000000",
          "needs a constraint" },
        { "'zone': 'package-0', 'constraint': 'long_term', "
          "'time-window-us': 0", "above 0" },
        { "'zone': 'package-0'", "Nothing to change" },
        { "'constraint': 'long_term'", "zone" },
    };
    Fixture f;
    QDict *rsp, *zone, *ev, *data;

    fixture_start(&f, ",allow-policy=on");
    rsp = expect_change(&f, "{ 'execute': 'set-host-power-limit', "
                        "'arguments': { 'zone': 'package-1', "
                        "'constraint': 'long_term', "
                        "'power-limit-uw': 120000000 } }",
                        ZONE("1", "constraint_0_power_limit_uw"));
    zone = qdict_get_qdict(rsp, "return");
    g_assert_cmpstr(qdict_get_str(zone, "zone"), ==, "package-1");
    g_assert_cmpint(qdict_get_int(qobject_to(QDict, qlist_peek(
        qdict_get_qlist(zone, "constraints"))), "power-limit-uw"), ==,
        120000000);
    qobject_unref(rsp);
    ev = qtest_qmp_eventwait_ref(f.qts, "HOST_POWER_POLICY_CHANGED");
    data = qdict_get_qdict(ev, "data");
    g_assert_cmpstr(qdict_get_str(data, "change"), ==, "zone");
    g_assert_cmpstr(qdict_get_str(data, "zone"), ==, "package-1");
    g_assert_cmpint(qdict_get_int(qobject_to(QDict, qlist_peek(
        qdict_get_qlist(data, "constraints"))), "power-limit-uw"), ==,
        120000000);
    qobject_unref(ev);
    qobject_unref(expect_change(&f, "{ 'execute': 'set-host-power-limit', "
                                "'arguments': { 'zone': 'dram-1', "
                                "'enabled': true } }",
                                ZONE("1:1", "enabled")));
    qobject_unref(expect_change(&f, "{ 'execute': 'set-host-power-limit', "
                                "'arguments': { 'zone': 'package-0', "
                                "'constraint': 'short_term', "
                                "'power-limit-uw': 190000000, "
                                "'time-window-us': 5000 } }",
                                ZONE("0", "constraint_1_power_limit_uw") ","
                                ZONE("0", "constraint_1_time_window_us")));
    for (int i = 0; i < ARRAY_SIZE(bad); i++) {
        g_autofree char *cmd = g_strdup_printf(
            "{ 'execute': 'set-host-power-limit', 'arguments': { %s } }",
            bad[i].args);

        expect_error(&f, cmd, bad[i].error);
    }
    fixture_stop(&f);
}

/* Changes of every kind, for the restore tests. */
static void change_everything(QTestState *qts)
{
    qtest_qmp_assert_success(qts, "{ 'execute': 'set-host-cpufreq', "
                             "'arguments': { 'governor': 'userspace', "
                             "'frequency-khz': 1200000, "
                             "'max-khz': 1800000 } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'set-host-cpufreq', "
                             "'arguments': { 'min-khz': 1800000 } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'set-host-pstate', "
                             "'arguments': { 'max-perf-pct': 60 } }");
    qtest_qmp_assert_success(qts, "{ 'execute': 'set-host-power-limit', "
                             "'arguments': { 'zone': 'package-0', "
                             "'constraint': 'long_term', "
                             "'power-limit-uw': 100000000, "
                             "'enabled': false } }");
}

/* By default a VM's changes end with it: the helper restores them. */
static void test_restore_on_exit(void)
{
    Fixture f;
    g_autofree char *before = NULL, *after = NULL;

    fixture_start(&f, ",allow-policy=on");
    before = fake_sysfs_snapshot(f.root);
    change_everything(f.qts);
    after = fake_sysfs_snapshot(f.root);
    g_assert_cmpstr(before, !=, after);
    qtest_quit(f.qts);
    f.qts = NULL;
    wait_tree(&f, before);
    fixture_stop(&f);
}

/*
 * restore-on-exit=off: the changes outlive the VM, until the helper's
 * clean stop puts every original back.
 */
static void test_keep(void)
{
    Fixture f;
    g_autofree char *before = NULL, *after = NULL, *later = NULL;

    fixture_start(&f, ",allow-policy=on,restore-on-exit=off");
    before = fake_sysfs_snapshot(f.root);
    change_everything(f.qts);
    after = fake_sysfs_snapshot(f.root);
    qtest_quit(f.qts);
    /* a later client's round trip: the helper has seen the first go */
    f.qts = qemu_start(&f, "");
    qtest_qmp_assert_success(f.qts, "{ 'execute': "
                             "'query-host-power-policy' }");
    later = fake_sysfs_snapshot(f.root);
    g_assert_cmpstr(later, ==, after);
    qtest_quit(f.qts);
    f.qts = NULL;
    helper_stop(&f);
    g_free(later);
    later = fake_sysfs_snapshot(f.root);
    g_assert_cmpstr(later, ==, before);
    fixture_stop(&f);
}

/*
 * A link planted in the tree that points outside it: the helper does not
 * follow it, so its target stays as it was, and nothing else changes.
 */
static void test_planted_symlink(void)
{
    g_autofree char *link = NULL, *target = NULL, *content = NULL;
    Fixture f;

    fixture_start(&f, ",allow-policy=on");
    target = g_build_filename(f.dir, "outside", NULL);
    g_assert_true(g_file_set_contents(target, "ondemand\n", -1, NULL));
    link = g_strdup_printf("%s/" CPU(2, "scaling_governor"), f.root);
    g_assert_cmpint(unlink(link), ==, 0);
    g_assert_cmpint(symlink(target, link), ==, 0);
    expect_error(&f, "{ 'execute': 'set-host-cpufreq', 'arguments': "
                 "{ 'governor': 'performance' } }", "");
    expect_error(&f, "{ 'execute': 'set-host-cpufreq', 'arguments': "
                 "{ 'cpus': [2], 'governor': 'performance' } }", "");
    g_assert_true(g_file_get_contents(target, &content, NULL, NULL));
    g_assert_cmpstr(content, ==, "ondemand\n");
    g_assert_cmpint(unlink(link), ==, 0);
    g_assert_cmpint(unlink(target), ==, 0);
    fixture_stop(&f);
}

static uint64_t zone_energy(QDict *info, const char *name)
{
    QDict *energy = qdict_get_qdict(info, "host-energy");
    QListEntry *e;

    g_assert_true(qdict_get_bool(energy, "available"));
    QLIST_FOREACH_ENTRY(qdict_get_qlist(energy, "zones"), e) {
        QDict *z = qobject_to(QDict, qlist_entry_obj(e));

        if (!strcmp(qdict_get_str(z, "name"), name)) {
            uint64_t v;

            g_assert_cmpstr(qdict_get_str(z, "source"), ==, "powercap");
            g_assert_true(qnum_get_try_uint(qobject_to(QNum,
                          qdict_get(z, "energy-uj")), &v));
            return v;
        }
    }
    g_assert_not_reached();
}

/*
 * query-power's host energy across a counter wrap: the helper's totals
 * grow by what the fake counter advanced, wrap included.
 */
static void test_energy_wrap(void)
{
    Fixture f;
    QDict *a, *b, *c;

    fixture_start(&f, "");
    fake_sysfs_write(f.root, ZONE("1", "energy_uj"), "262143000000\n");
    a = qtest_qmp_assert_success_ref(f.qts, "{ 'execute': 'query-power' }");
    fake_sysfs_write(f.root, ZONE("1", "energy_uj"), "262143328000\n");
    b = qtest_qmp_assert_success_ref(f.qts, "{ 'execute': 'query-power' }");
    fake_sysfs_write(f.root, ZONE("1", "energy_uj"), "500000\n");
    c = qtest_qmp_assert_success_ref(f.qts, "{ 'execute': 'query-power' }");
    g_assert_cmpuint(zone_energy(b, "package-1") -
                     zone_energy(a, "package-1"), ==, 328000);
    /* 850 uJ to the top of the range, then 500000 */
    g_assert_cmpuint(zone_energy(c, "package-1") -
                     zone_energy(b, "package-1"), ==, 850 + 500000);
    g_assert_cmpuint(zone_energy(c, "dram-0"), ==,
                     zone_energy(a, "dram-0"));
    qobject_unref(a);
    qobject_unref(b);
    qobject_unref(c);
    fixture_stop(&f);
}

static void test_hmp(void)
{
    Fixture f;
    g_autofree char *info = NULL, *out = NULL, *bad = NULL;
    g_autofree char *max = NULL;

    fixture_start(&f, ",allow-policy=on");
    info = qtest_hmp(f.qts, "info host-power-policy");
    g_assert_nonnull(strstr(info, "policy changes: allow"));
    g_assert_nonnull(strstr(info, "CPU 3: acpi-cpufreq, governor ondemand"));
    g_assert_nonnull(strstr(info, "zone dram-1 (disabled)"));
    out = qtest_hmp(f.qts, "set_host_pstate max-perf-pct 70");
    g_assert_nonnull(strstr(out, "perf 20-70%"));
    max = fake_sysfs_read(f.root, PSTATE("max_perf_pct"));
    g_assert_cmpstr(max, ==, "70");
    bad = qtest_hmp(f.qts, "set_host_cpufreq 0-1 governor ../x");
    g_assert_nonnull(strstr(bad, "no governor"));
    fixture_stop(&f);
}

static void test_bad_helper_path(void)
{
    g_autofree char *tolong = g_strdup_printf("/%0200d", 0);
    QTestState *qts = qtest_init("-M none");
    QDict *rsp;

    rsp = qtest_qmp(qts, "{ 'execute': 'object-add', 'arguments': "
                    "{ 'qom-type': 'host-power', 'id': 'hp0', "
                    "'helper': 'relative.sock' } }");
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                          "desc"), "absolute"));
    qobject_unref(rsp);
    rsp = qtest_qmp(qts, "{ 'execute': 'object-add', 'arguments': "
                    "{ 'qom-type': 'host-power', 'id': 'hp0', "
                    "'helper': %s } }", tolong);
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                          "desc"), "longer"));
    qobject_unref(rsp);
    /* the property is gone: no QMP client names a directory to write */
    rsp = qtest_qmp(qts, "{ 'execute': 'object-add', 'arguments': "
                    "{ 'qom-type': 'host-power', 'id': 'hp0', "
                    "'sysfs-root': '/tmp' } }");
    qmp_expect_error_and_unref(rsp, "GenericError");
    qtest_quit(qts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("power-policy/query", test_query);
    qtest_add_func("power-policy/query-absent", test_query_absent);
    qtest_add_func("power-policy/not-allowed", test_not_allowed);
    qtest_add_func("power-policy/fixed-properties", test_fixed_properties);
    qtest_add_func("power-policy/no-helper", test_no_helper);
    qtest_add_func("power-policy/unreachable-helper",
                   test_unreachable_helper);
    qtest_add_func("power-policy/cpufreq", test_set_cpufreq);
    qtest_add_func("power-policy/cpufreq-invalid", test_set_cpufreq_invalid);
    qtest_add_func("power-policy/pstate", test_set_pstate);
    qtest_add_func("power-policy/power-limit", test_set_power_limit);
    qtest_add_func("power-policy/restore-on-exit", test_restore_on_exit);
    qtest_add_func("power-policy/keep", test_keep);
    qtest_add_func("power-policy/planted-symlink", test_planted_symlink);
    qtest_add_func("power-policy/energy-wrap", test_energy_wrap);
    qtest_add_func("power-policy/hmp", test_hmp);
    qtest_add_func("power-policy/bad-helper-path", test_bad_helper_path);
    return g_test_run();
}

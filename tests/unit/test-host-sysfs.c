/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Tests for the host sysfs readers and writers (util/host-sysfs.c) on
 * fake trees.
 */

#include "qemu/osdep.h"
#include <sys/wait.h>
#include "qapi/error.h"
#include "qemu/host-sysfs.h"
#include "fake-sysfs.h"

static void test_parse_u64(void)
{
    static const struct {
        const char *text;
        bool ok;
        uint64_t v;
    } cases[] = {
        { "0", true, 0 },
        { "42", true, 42 },
        { "18446744073709551615", true, UINT64_MAX },
        { "18446744073709551616", false },      /* overflow */
        { "-1", false },                        /* negative */
        { "+1", false },
        { " 1", false },                        /* whitespace */
        { "1 ", false },
        { "1\n", false },                       /* readers strip it first */
        { "0x10", false },                      /* decimal only */
        { "12abc", false },                     /* junk */
        { "", false },                          /* empty */
    };

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        Error *err = NULL;
        uint64_t v = 7;

        g_assert_cmpint(host_sysfs_parse_u64(cases[i].text, &v, &err), ==,
                        cases[i].ok);
        if (cases[i].ok) {
            g_assert_cmpuint(v, ==, cases[i].v);
        } else {
            error_free_or_abort(&err);
        }
    }
}

/* What one read() gave, byte for byte, and the value made of it. */
static void test_parse_str(void)
{
    static const struct {
        const char *buf;
        size_t len;
        const char *value;          /* NULL: refused */
    } cases[] = {
        { "123\n", 4, "123" },
        { "123", 3, "123" },
        { "123\n\n", 5, "123\n" },  /* only one newline is stripped */
        { "a\nb", 3, "a\nb" },
        { "\n", 1, "" },
        { "", 0, "" },
        { " 1\n", 3, " 1" },         /* whitespace is the parsers' business */
        { "1\0002", 3, NULL },       /* NUL in the middle */
        { "1\000", 2, NULL },        /* last */
        { "1\000\n", 3, NULL },      /* before the newline */
        { "\000", 1, NULL },
        { "\n\000", 2, NULL },
    };

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *value = NULL;
        Error *err = NULL;
        bool ok = host_sysfs_parse_str(cases[i].buf, cases[i].len, &value,
                                       &err);

        g_assert_cmpint(ok, ==, cases[i].value != NULL);
        if (ok) {
            g_assert_cmpstr(value, ==, cases[i].value);
        } else {
            g_assert_null(value);
            g_assert_nonnull(strstr(error_get_pretty(err), "NUL"));
            error_free_or_abort(&err);
        }
    }
}

static void test_read(void)
{
    static const struct {
        const char *content;        /* NULL: absent file */
        int ret;
        const char *str;            /* what read_str gives */
        int u64_ret;
        uint64_t v;
    } cases[] = {
        { "123\n", 0, "123", 0, 123 },          /* trailing newline */
        { "123", 0, "123", 0, 123 },            /* none */
        { "123\n\n", 0, "123\n", -EINVAL },     /* only one is stripped */
        { "", 0, "", -EINVAL },                 /* empty */
        { "\n", 0, "", -EINVAL },
        { "-5\n", 0, "-5", -EINVAL },           /* negative */
        { "99999999999999999999\n", 0, "99999999999999999999", -EINVAL },
        { "12 junk\n", 0, "12 junk", -EINVAL },
        { NULL, -ENOENT, NULL, -ENOENT },       /* absent */
    };
    char *root = fake_sysfs_new();

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *path = g_strdup_printf("%s/f%d", root, i);
        g_autofree char *str = NULL;
        Error *err = NULL;
        uint64_t v;
        int ret;

        if (cases[i].content) {
            g_assert_true(g_file_set_contents(path, cases[i].content, -1,
                                              NULL));
        }
        ret = host_sysfs_read_str(path, &str, &err);
        g_assert_cmpint(ret, ==, cases[i].ret);
        if (ret == 0) {
            g_assert_cmpstr(str, ==, cases[i].str);
        } else {
            /* the error names the file */
            g_assert_nonnull(strstr(error_get_pretty(err), path));
            error_free_or_abort(&err);
        }
        ret = host_sysfs_read_u64(path, &v, &err);
        g_assert_cmpint(ret, ==, cases[i].u64_ret);
        if (ret == 0) {
            g_assert_cmpuint(v, ==, cases[i].v);
        } else {
            g_assert_nonnull(strstr(error_get_pretty(err), path));
            error_free_or_abort(&err);
        }
    }
    fake_sysfs_free(root);
}

/* Optional files: absent is no error, anything else wrong is. */
static void test_read_optional(void)
{
    char *root = fake_sysfs_new();
    g_autofree char *absent = g_strdup_printf("%s/absent", root);
    g_autofree char *good = g_strdup_printf("%s/good", root);
    g_autofree char *junk = g_strdup_printf("%s/junk", root);
    Error *err = NULL;
    uint64_t v = 0;
    bool has = true;

    g_assert_cmpint(host_sysfs_read_opt_u64(absent, &has, &v, &error_abort),
                    ==, 0);
    g_assert_false(has);
    fake_sysfs_write(root, "good", "7\n");
    g_assert_cmpint(host_sysfs_read_opt_u64(good, &has, &v, &error_abort),
                    ==, 0);
    g_assert_true(has);
    g_assert_cmpuint(v, ==, 7);
    fake_sysfs_write(root, "junk", "seven\n");
    g_assert_cmpint(host_sysfs_read_opt_u64(junk, &has, &v, &err), ==,
                    -EINVAL);
    g_assert_false(has);
    error_free_or_abort(&err);
    fake_sysfs_free(root);
}

static void test_read_limits(void)
{
    char *root = fake_sysfs_new();
    g_autofree char *big = g_strnfill(HOST_SYSFS_VALUE_MAX + 1, '1');
    g_autofree char *path = g_strdup_printf("%s/big", root);
    g_autofree char *dir = g_strdup_printf("%s/dir", root);
    g_autofree char *nul = g_strdup_printf("%s/nul", root);
    g_autofree char *str = NULL;
    Error *err = NULL;

    fake_sysfs_write(root, "big", big);
    g_assert_cmpint(host_sysfs_read_str(path, &str, &err), ==, -EFBIG);
    error_free_or_abort(&err);

    fake_sysfs_mkdir(root, "dir");
    g_assert_cmpint(host_sysfs_read_str(dir, &str, &err), ==, -EISDIR);
    error_free_or_abort(&err);

    g_assert_true(g_file_set_contents(nul, "1\0002", 3, NULL));
    g_assert_cmpint(host_sysfs_read_str(nul, &str, &err), ==, -EINVAL);
    error_free_or_abort(&err);
    /* a NUL as the last byte is no better than one in the middle */
    g_assert_true(g_file_set_contents(nul, "1\000", 2, NULL));
    g_assert_cmpint(host_sysfs_read_str(nul, &str, &err), ==, -EINVAL);
    g_assert_nonnull(strstr(error_get_pretty(err), nul));
    error_free_or_abort(&err);
    fake_sysfs_free(root);
}

/*
 * A file only root may read, read by someone else: -EACCES naming the
 * file.  Root reads any file, so as root the reader drops to nobody in
 * a child process first.
 */
static void test_permission_denied(void)
{
    char *root = fake_sysfs_new();
    g_autofree char *path = g_strdup_printf("%s/secret", root);
    int status;
    pid_t pid;

    fake_sysfs_write(root, "secret", "1\n");
    g_assert_cmpint(chmod(path, 0600), ==, 0);
    g_assert_cmpint(chmod(root, 0755), ==, 0);
    if (geteuid() != 0) {
        g_assert_cmpint(chmod(path, 0), ==, 0);
    }
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        Error *err = NULL;
        uint64_t v;
        int ret;

        if (geteuid() == 0 && (setgid(65534) || setuid(65534))) {
            _exit(2);
        }
        ret = host_sysfs_read_u64(path, &v, &err);
        _exit(ret == -EACCES &&
              strstr(error_get_pretty(err), path) &&
              strstr(error_get_pretty(err), "Permission denied") ? 0 : 1);
    }
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    fake_sysfs_free(root);
}

static void test_write(void)
{
    char *root = fake_sysfs_new();
    g_autofree char *path = g_strdup_printf("%s/knob", root);
    g_autofree char *absent = g_strdup_printf("%s/absent", root);
    g_autofree char *content = NULL;
    g_autofree char *applied = NULL;
    Error *err = NULL;

    fake_sysfs_write(root, "knob", "1000000\n");
    g_assert_cmpint(host_sysfs_write_u64(path, 42, &error_abort), ==, 0);
    content = fake_sysfs_read(root, "knob");
    g_assert_cmpstr(content, ==, "42");         /* truncated, one write */

    /* never created */
    g_assert_cmpint(host_sysfs_write_str(absent, "1", &err), ==, -ENOENT);
    error_free_or_abort(&err);
    g_assert_false(host_sysfs_exists(absent));

    g_assert_cmpint(host_sysfs_write_logged(NULL, path, "7", &applied,
                                            &error_abort), ==, 0);
    g_assert_cmpstr(applied, ==, "7");
    fake_sysfs_free(root);
}

static void test_undo(void)
{
    char *root = fake_sysfs_new();
    g_autofree char *a = g_strdup_printf("%s/a", root);
    g_autofree char *b = g_strdup_printf("%s/b", root);
    g_autoptr(HostSysfsUndo) undo = host_sysfs_undo_new();
    g_autofree char *va = NULL, *vb = NULL;

    fake_sysfs_write(root, "a", "1\n");
    fake_sysfs_write(root, "b", "2\n");
    g_assert_cmpint(host_sysfs_write_logged(undo, a, "10", NULL,
                                            &error_abort), ==, 0);
    g_assert_cmpint(host_sysfs_write_logged(undo, a, "11", NULL,
                                            &error_abort), ==, 0);
    g_assert_cmpint(host_sysfs_write_logged(undo, b, "20", NULL,
                                            &error_abort), ==, 0);
    g_assert_cmpuint(host_sysfs_undo_restore(undo, NULL), ==, 0);
    /* the values read before the first write, newline stripped */
    va = fake_sysfs_read(root, "a");
    vb = fake_sysfs_read(root, "b");
    g_assert_cmpstr(va, ==, "1");
    g_assert_cmpstr(vb, ==, "2");
    fake_sysfs_free(root);
}

static void test_cpulist(void)
{
    static const struct {
        const char *text;
        const char *expect;         /* NULL: invalid */
    } cases[] = {
        { "0", "0" },
        { "0-3", "0 1 2 3" },
        { "0-1,4,6-7", "0 1 4 6 7" },
        { "7,0-1", "0 1 7" },
        { "", "" },
        { "3-1", NULL },            /* reversed */
        { "0,,1", NULL },
        { "0,", NULL },
        { ",0", NULL },
        { "0-", NULL },
        { "-1", NULL },
        { "0 1", NULL },
        { "1,1", NULL },            /* duplicate */
        { "8192", NULL },           /* above the limit */
        { "0-99999999999999999999", NULL },
    };

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autoptr(GArray) cpus = NULL;
        g_autoptr(GString) got = g_string_new("");
        Error *err = NULL;
        bool ok = host_sysfs_parse_cpulist(cases[i].text, 8192, &cpus, &err);

        g_assert_cmpint(ok, ==, cases[i].expect != NULL);
        if (!ok) {
            error_free_or_abort(&err);
            continue;
        }
        for (guint j = 0; j < cpus->len; j++) {
            g_string_append_printf(got, "%s%u", j ? " " : "",
                                   g_array_index(cpus, unsigned, j));
        }
        g_assert_cmpstr(got->str, ==, cases[i].expect);
    }
}

/* Makes @rel in @root a symbolic link to @target. */
static void link_at(const char *root, const char *rel, const char *target)
{
    g_autofree char *path = g_strdup_printf("%s/%s", root, rel);

    g_assert_cmpint(symlink(target, path), ==, 0);
}

/* Opens @rel beneath @root for reading: the fd, or -errno. */
static int try_open(const char *root, const char *rel)
{
    g_autofree char *path = g_strdup_printf("%s/%s", root, rel);
    Error *err = NULL;
    int fd = host_sysfs_open(path, O_RDONLY, &err);

    if (fd >= 0) {
        close(fd);
        return 0;
    }
    error_free_or_abort(&err);
    return fd;
}

/*
 * host_sysfs_confine(), as the privileged helper runs it: links that
 * stay beneath the root are followed, as sysfs's own are; a link out
 * of it, "..", and a link as the last component are refused, and a
 * write through a refused path reaches nothing.  With openat2 and with
 * the per-component O_NOFOLLOW walk used where the kernel lacks it.
 */
static void confine_cases(bool no_openat2)
{
    char *root = fake_sysfs_new();
    g_autofree char *outside = g_strdup_printf("%s.outside", root);
    g_autofree char *outfile = g_strdup_printf("%s/knob", outside);
    g_autofree char *via = g_strdup_printf("%s/class/out/knob", root);
    g_autofree char *content = NULL;
    Error *err = NULL;

    fake_sysfs_write(root, "devices/zone0/energy_uj", "1\n");
    fake_sysfs_write(root, "devices/zone0/knob", "1\n");
    fake_sysfs_mkdir(root, "class");
    /* as class/powercap/intel-rapl:0 -> ../../devices/... */
    link_at(root, "class/zone0", "../devices/zone0");
    g_assert_cmpint(g_mkdir_with_parents(outside, 0700), ==, 0);
    g_assert_true(g_file_set_contents(outfile, "outside\n", -1, NULL));
    link_at(root, "class/out", outside);
    link_at(root, "class/up", "../../../../../..");
    link_at(root, "devices/zone0/last", "knob");

    host_sysfs_test_no_openat2(no_openat2);
    g_assert_true(host_sysfs_confine(root, &error_abort));
    g_assert_cmpint(try_open(root, "devices/zone0/energy_uj"), ==, 0);
    g_assert_cmpint(try_open(root, "class/zone0/energy_uj"), ==, 0);
    g_assert_cmpint(try_open(root, "class/out/knob"), ==, -EXDEV);
    g_assert_cmpint(try_open(root, "class/up/tmp"), ==, -EXDEV);
    g_assert_cmpint(try_open(root, "devices/../devices/zone0/knob"), ==,
                    -EXDEV);
    g_assert_cmpint(try_open(root, "devices/zone0/last"), ==, -ELOOP);
    /* a path that does not start at the root */
    g_assert_cmpint(host_sysfs_open(outfile, O_RDONLY, &err), ==, -EXDEV);
    error_free_or_abort(&err);

    g_assert_cmpint(host_sysfs_write_str(via, "0", &err), <, 0);
    error_free_or_abort(&err);
    g_assert_true(g_file_get_contents(outfile, &content, NULL, NULL));
    g_assert_cmpstr(content, ==, "outside\n");
    host_sysfs_unconfine();
    host_sysfs_test_no_openat2(false);

    g_assert_cmpint(unlink(outfile), ==, 0);
    g_assert_cmpint(rmdir(outside), ==, 0);
    fake_sysfs_free(root);
}

static void test_confine(void)
{
    confine_cases(false);
}

static void test_confine_walk(void)
{
    confine_cases(true);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/host-sysfs/parse-u64", test_parse_u64);
    g_test_add_func("/host-sysfs/parse-str", test_parse_str);
    g_test_add_func("/host-sysfs/read", test_read);
    g_test_add_func("/host-sysfs/read-optional", test_read_optional);
    g_test_add_func("/host-sysfs/read-limits", test_read_limits);
    g_test_add_func("/host-sysfs/permission-denied", test_permission_denied);
    g_test_add_func("/host-sysfs/write", test_write);
    g_test_add_func("/host-sysfs/undo", test_undo);
    g_test_add_func("/host-sysfs/cpulist", test_cpulist);
    g_test_add_func("/host-sysfs/confine", test_confine);
    g_test_add_func("/host-sysfs/confine-walk", test_confine_walk);
    return g_test_run();
}

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Strict readers and writers of host sysfs values under a configurable
 * root.
 */

#include "qemu/osdep.h"
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/host-sysfs.h"

/*
 * A root every open must stay beneath (host_sysfs_confine()), as a
 * directory fd opened once, and whether it is the real sysfs.
 */
static struct {
    char *root;
    size_t len;
    int fd;
    bool is_sysfs;
    bool no_openat2;            /* tests: take the fallback */
} confined = { .fd = -1 };

/* Links one path may go through, as the kernel's own limit. */
#define MAX_LINKS 40

static bool on_sysfs(int fd)
{
    struct statfs sfs;

    return fstatfs(fd, &sfs) == 0 && sfs.f_type == SYSFS_MAGIC;
}

bool host_sysfs_confine(const char *root, Error **errp)
{
    g_autofree char *real = NULL;
    const char *r = root && *root ? root : HOST_SYSFS_DEFAULT_ROOT;
    int fd;

    host_sysfs_unconfine();
    real = realpath(r, NULL);
    if (!real) {
        error_setg_errno(errp, errno, "Could not resolve '%s'", r);
        return false;
    }
    fd = open(r, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not open '%s'", r);
        return false;
    }
    confined.is_sysfs = !strcmp(real, HOST_SYSFS_DEFAULT_ROOT);
    if (confined.is_sysfs && !on_sysfs(fd)) {
        error_setg(errp, "'%s' is not a sysfs mount", r);
        close(fd);
        return false;
    }
    confined.fd = fd;
    confined.root = g_strdup(r);
    confined.len = strlen(r);
    /* "/" + rel must match what host_sysfs_path() builds */
    while (confined.len > 1 && confined.root[confined.len - 1] == '/') {
        confined.root[--confined.len] = '\0';
    }
    return true;
}

void host_sysfs_unconfine(void)
{
    if (confined.fd >= 0) {
        close(confined.fd);
    }
    g_clear_pointer(&confined.root, g_free);
    confined.fd = -1;
    confined.len = 0;
    confined.is_sysfs = false;
}

void host_sysfs_test_no_openat2(bool on)
{
    confined.no_openat2 = on;
}

/* Does @rel name something beneath its directory, without ".."? */
static bool plain_relative(const char *rel)
{
    g_auto(GStrv) parts = NULL;

    if (!*rel || rel[0] == '/') {
        return false;
    }
    parts = g_strsplit(rel, "/", -1);
    for (int i = 0; parts[i]; i++) {
        if (!strcmp(parts[i], "..")) {
            return false;
        }
    }
    return true;
}

/*
 * Without openat2: walk @rel one component at a time, every open with
 * O_NOFOLLOW.  A link in a directory component is read and spliced
 * into the walk (sysfs has them: class/powercap/intel-rapl:0,
 * cpuN/cpufreq), but an absolute one, or one whose ".." would climb
 * above @dirfd, is refused; the last component is never a link.
 */
static int open_walk(int dirfd, const char *rel, int flags)
{
    g_autoptr(GArray) stack = g_array_new(false, false, sizeof(int));
    g_autoptr(GQueue) todo = g_queue_new();
    g_auto(GStrv) parts = g_strsplit(rel, "/", -1);
    int links = 0, ret = -ENOENT;

    for (int i = 0; parts[i]; i++) {
        g_queue_push_tail(todo, g_strdup(parts[i]));
    }
    while (!g_queue_is_empty(todo)) {
        g_autofree char *c = g_queue_pop_head(todo);
        int top = stack->len ? g_array_index(stack, int, stack->len - 1) :
                  dirfd;
        bool last = g_queue_is_empty(todo);
        struct stat st;
        int fd;

        if (!*c || !strcmp(c, ".")) {
            if (last) {
                ret = -EISDIR;
                goto out;
            }
            continue;
        }
        if (!strcmp(c, "..")) {
            if (!stack->len || last) {
                ret = -EXDEV;
                goto out;
            }
            close(top);
            g_array_set_size(stack, stack->len - 1);
            continue;
        }
        if (last) {
            fd = openat(top, c, flags | O_NOFOLLOW | O_CLOEXEC);
            ret = fd < 0 ? -errno : fd;
            goto out;
        }
        if (fstatat(top, c, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            ret = -errno;
            goto out;
        }
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlinkat(top, c, target, sizeof(target) - 1);
            g_auto(GStrv) tparts = NULL;

            if (n < 0 || ++links > MAX_LINKS) {
                ret = n < 0 ? -errno : -ELOOP;
                goto out;
            }
            target[n] = '\0';
            if (target[0] == '/') {
                ret = -EXDEV;
                goto out;
            }
            tparts = g_strsplit(target, "/", -1);
            for (int i = g_strv_length(tparts); i-- > 0;) {
                g_queue_push_head(todo, g_strdup(tparts[i]));
            }
            continue;
        }
        /* a link swapped in since fstatat() fails here */
        fd = openat(top, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            ret = -errno;
            goto out;
        }
        g_array_append_val(stack, fd);
    }
    ret = -EISDIR;
out:
    for (guint i = 0; i < stack->len; i++) {
        close(g_array_index(stack, int, i));
    }
    return ret;
}

/*
 * Open @rel beneath @dirfd: openat2() with RESOLVE_BENEATH (links that
 * stay beneath, as sysfs's own, are followed; one that leaves is
 * refused) and the last component never a link.
 */
static int open_beneath(int dirfd, const char *rel, int flags)
{
    struct open_how how = {
        .flags = flags | O_NOFOLLOW | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    int fd;

    if (!plain_relative(rel)) {
        return -EXDEV;
    }
    if (!confined.no_openat2) {
        fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
        if (fd >= 0 || errno != ENOSYS) {
            return fd < 0 ? -errno : fd;
        }
    }
    return open_walk(dirfd, rel, flags);
}

/*
 * Open @path (never creating it).  Confined: it must lie beneath the
 * root, and on the real sysfs be a sysfs file.  Returns an fd or -errno.
 */
static int sysfs_open(const char *path, int flags)
{
    int fd;

    if (confined.fd < 0) {
        fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
    }
    if (strncmp(path, confined.root, confined.len) ||
        path[confined.len] != '/') {
        return -EXDEV;
    }
    fd = open_beneath(confined.fd, path + confined.len + 1, flags);
    if (fd >= 0 && confined.is_sysfs && !on_sysfs(fd)) {
        close(fd);
        return -EXDEV;
    }
    return fd;
}

static void open_error(Error **errp, int err, const char *path,
                       const char *what)
{
    if (err == EXDEV) {
        error_setg(errp, "Could not open '%s'%s: it leads outside the "
                   "sysfs root", path, what);
    } else if (err == ELOOP) {
        error_setg(errp, "Could not open '%s'%s: it is a symbolic link",
                   path, what);
    } else {
        error_setg_errno(errp, err, "Could not open '%s'%s", path, what);
    }
}

static int open_checked(const char *path, int flags, const char *what,
                        Error **errp)
{
    int fd;

    assert(!(flags & (O_CREAT | O_TRUNC)));
    fd = sysfs_open(path, flags);
    if (fd < 0) {
        open_error(errp, -fd, path, what);
    }
    return fd;
}

int host_sysfs_open(const char *path, int flags, Error **errp)
{
    return open_checked(path, flags, "", errp);
}

int host_sysfs_list_dir(const char *path, GPtrArray **names, Error **errp)
{
    g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(g_free);
    int fd = open_checked(path, O_RDONLY | O_DIRECTORY, " to list it", errp);
    struct dirent *de;
    DIR *dir;

    if (fd < 0) {
        return fd;
    }
    dir = fdopendir(fd);
    if (!dir) {
        int ret = -errno;

        error_setg_errno(errp, errno, "Could not list '%s'", path);
        close(fd);
        return ret;
    }
    while ((de = readdir(dir))) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            g_ptr_array_add(list, g_strdup(de->d_name));
        }
    }
    closedir(dir);
    *names = g_steal_pointer(&list);
    return 0;
}

char *host_sysfs_path(const char *root, const char *fmt, ...)
{
    g_autofree char *rel = NULL;
    va_list ap;

    va_start(ap, fmt);
    rel = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    assert(rel[0] == '/');
    return g_strconcat(root && *root ? root : HOST_SYSFS_DEFAULT_ROOT, rel,
                       NULL);
}

bool host_sysfs_parse_str(const char *buf, size_t len, char **value,
                          Error **errp)
{
    if (len > 0 && buf[len - 1] == '\n') {
        len--;
    }
    if (memchr(buf, '\0', len)) {
        error_setg(errp, "the value holds a NUL byte");
        return false;
    }
    *value = g_strndup(buf, len);
    return true;
}

int host_sysfs_read_str(const char *path, char **value, Error **errp)
{
    g_autofree char *buf = g_malloc(HOST_SYSFS_VALUE_MAX + 1);
    ssize_t n;
    int fd = host_sysfs_open(path, O_RDONLY, errp);
    int ret;

    if (fd < 0) {
        return fd;
    }
    /* sysfs returns a whole attribute in one read; ask for one more byte */
    n = read(fd, buf, HOST_SYSFS_VALUE_MAX + 1);
    ret = n < 0 ? -errno : 0;
    close(fd);
    if (n < 0) {
        error_setg_errno(errp, -ret, "Could not read '%s'", path);
        return ret;
    }
    if (n > HOST_SYSFS_VALUE_MAX) {
        error_setg(errp, "'%s' holds more than %d bytes", path,
                   HOST_SYSFS_VALUE_MAX);
        return -EFBIG;
    }
    if (!host_sysfs_parse_str(buf, n, value, errp)) {
        error_prepend(errp, "In '%s': ", path);
        return -EINVAL;
    }
    return 0;
}

bool host_sysfs_parse_u64(const char *text, uint64_t *value, Error **errp)
{
    /* parse_uint_full() takes leading whitespace: allow digits only */
    if (!g_ascii_isdigit(text[0]) ||
        parse_uint_full(text, 10, value) < 0) {
        error_setg(errp, "'%s' is not a decimal unsigned 64-bit value",
                   text);
        return false;
    }
    return true;
}

int host_sysfs_read_u64(const char *path, uint64_t *value, Error **errp)
{
    g_autofree char *text = NULL;
    int ret = host_sysfs_read_str(path, &text, errp);

    if (ret < 0) {
        return ret;
    }
    if (!host_sysfs_parse_u64(text, value, errp)) {
        error_prepend(errp, "In '%s': ", path);
        return -EINVAL;
    }
    return 0;
}

int host_sysfs_read_opt_u64(const char *path, bool *has, uint64_t *value,
                            Error **errp)
{
    Error *err = NULL;
    int ret = host_sysfs_read_u64(path, value, &err);

    *has = ret == 0;
    if (ret == -ENOENT) {
        error_free(err);
        return 0;
    }
    error_propagate(errp, err);
    return ret;
}

int host_sysfs_write_str(const char *path, const char *value, Error **errp)
{
    size_t len = strlen(value);
    struct stat st;
    ssize_t n;
    int ret = 0;
    int fd = open_checked(path, O_WRONLY, " for writing", errp);

    if (fd < 0) {
        return fd;
    }
    /*
     * No O_TRUNC: sysfs ignores it, and on anything else it would empty
     * the file before we know the write is taken.  One write at offset 0.
     */
    n = pwrite(fd, value, len, 0);
    if (n < 0) {
        ret = -errno;
        error_setg_errno(errp, errno, "Could not write '%s' to '%s'", value,
                         path);
    } else if (n != len) {
        ret = -EIO;
        error_setg(errp, "Short write of '%s' to '%s'", value, path);
    } else if (!on_sysfs(fd) && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
               st.st_size > len) {
        /* a plain file (a test tree) then holds exactly the value */
        if (ftruncate(fd, len) < 0) {
            ret = -errno;
            error_setg_errno(errp, errno, "Could not cut '%s' to its value",
                             path);
        }
    }
    close(fd);
    return ret;
}

int host_sysfs_write_u64(const char *path, uint64_t value, Error **errp)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%" PRIu64, value);
    return host_sysfs_write_str(path, buf, errp);
}

bool host_sysfs_exists(const char *path)
{
    int fd = sysfs_open(path, O_PATH);

    if (fd < 0) {
        return false;
    }
    close(fd);
    return true;
}

/* Parse a decimal CPU number at *@p, advancing it. */
static bool parse_cpu(const char **p, unsigned limit, unsigned *cpu)
{
    uint64_t v = 0;
    const char *s = *p;

    if (!g_ascii_isdigit(*s)) {
        return false;
    }
    while (g_ascii_isdigit(*s)) {
        v = v * 10 + (*s++ - '0');
        if (v >= limit) {
            return false;
        }
    }
    *p = s;
    *cpu = v;
    return true;
}

static gint cmp_unsigned(gconstpointer a, gconstpointer b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

    return x < y ? -1 : x > y;
}

bool host_sysfs_parse_cpulist(const char *text, unsigned limit,
                              GArray **cpus, Error **errp)
{
    g_autoptr(GArray) list = g_array_new(false, false, sizeof(unsigned));
    const char *p = text;

    while (*p) {
        unsigned first, last;

        if (!parse_cpu(&p, limit, &first)) {
            goto bad;
        }
        last = first;
        if (*p == '-') {
            p++;
            if (!parse_cpu(&p, limit, &last) || last < first) {
                goto bad;
            }
        }
        for (unsigned c = first; c <= last; c++) {
            g_array_append_val(list, c);
        }
        if (*p == ',') {
            p++;
            if (!*p) {
                goto bad;
            }
        } else if (*p) {
            goto bad;
        }
    }
    g_array_sort(list, cmp_unsigned);
    for (guint i = 1; i < list->len; i++) {
        if (g_array_index(list, unsigned, i) ==
            g_array_index(list, unsigned, i - 1)) {
            goto bad;
        }
    }
    *cpus = g_steal_pointer(&list);
    return true;

bad:
    error_setg(errp, "'%s' is not a CPU list below %u", text, limit);
    return false;
}

bool host_sysfs_online_cpus(const char *root, GArray **cpus, Error **errp)
{
    g_autofree char *path = host_sysfs_path(root, "/devices/system/cpu/online");
    g_autofree char *text = NULL;

    if (host_sysfs_read_str(path, &text, errp) < 0) {
        return false;
    }
    if (!host_sysfs_parse_cpulist(text, HOST_SYSFS_MAX_CPUS, cpus, errp)) {
        error_prepend(errp, "In '%s': ", path);
        return false;
    }
    return true;
}

struct HostSysfsUndo {
    GPtrArray *paths;           /* in the order of their first write */
    GHashTable *old;            /* path -> value before the first write */
};

HostSysfsUndo *host_sysfs_undo_new(void)
{
    HostSysfsUndo *undo = g_new0(HostSysfsUndo, 1);

    undo->paths = g_ptr_array_new_with_free_func(g_free);
    undo->old = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    return undo;
}

void host_sysfs_undo_free(HostSysfsUndo *undo)
{
    if (undo) {
        g_hash_table_destroy(undo->old);
        g_ptr_array_free(undo->paths, true);
        g_free(undo);
    }
}

int host_sysfs_write_logged(HostSysfsUndo *undo, const char *path,
                            const char *value, char **applied, Error **errp)
{
    int ret;

    if (undo && !g_hash_table_contains(undo->old, path)) {
        char *old = NULL;
        char *key;

        ret = host_sysfs_read_str(path, &old, errp);
        if (ret < 0) {
            return ret;
        }
        key = g_strdup(path);
        g_ptr_array_add(undo->paths, key);
        g_hash_table_insert(undo->old, key, old);
    }
    ret = host_sysfs_write_str(path, value, errp);
    if (ret < 0 || !applied) {
        return ret;
    }
    return host_sysfs_read_str(path, applied, errp);
}

void host_sysfs_undo_foreach(HostSysfsUndo *undo,
                             void (*fn)(const char *path, const char *old,
                                        void *opaque),
                             void *opaque)
{
    for (guint i = 0; i < undo->paths->len; i++) {
        const char *path = g_ptr_array_index(undo->paths, i);

        fn(path, g_hash_table_lookup(undo->old, path), opaque);
    }
}

unsigned host_sysfs_undo_restore(HostSysfsUndo *undo,
                                 void (*report)(Error *err))
{
    g_autoptr(GPtrArray) retry = g_ptr_array_new();
    unsigned failed = 0;

    for (guint i = undo->paths->len; i-- > 0;) {
        const char *path = g_ptr_array_index(undo->paths, i);

        if (host_sysfs_write_str(path, g_hash_table_lookup(undo->old, path),
                                 NULL) < 0) {
            g_ptr_array_add(retry, (gpointer)path);
        }
    }
    for (guint i = 0; i < retry->len; i++) {
        const char *path = g_ptr_array_index(retry, i);
        Error *err = NULL;

        if (host_sysfs_write_str(path, g_hash_table_lookup(undo->old, path),
                                 &err) < 0) {
            failed++;
            if (report) {
                error_prepend(&err, "Could not restore: ");
                report(err);
            } else {
                error_free(err);
            }
        }
    }
    g_hash_table_remove_all(undo->old);
    g_ptr_array_set_size(undo->paths, 0);
    return failed;
}

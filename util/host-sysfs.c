/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Strict readers and writers of host sysfs values under a configurable
 * root.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/host-sysfs.h"

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
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int ret;

    if (fd < 0) {
        ret = -errno;
        error_setg_errno(errp, errno, "Could not open '%s'", path);
        return ret;
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
    ssize_t n;
    int ret = 0;
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

    if (fd < 0) {
        ret = -errno;
        error_setg_errno(errp, errno, "Could not open '%s' for writing",
                         path);
        return ret;
    }
    n = write(fd, value, len);
    if (n < 0) {
        ret = -errno;
        error_setg_errno(errp, errno, "Could not write '%s' to '%s'", value,
                         path);
    } else if (n != len) {
        ret = -EIO;
        error_setg(errp, "Short write of '%s' to '%s'", value, path);
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
    return access(path, F_OK) == 0;
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

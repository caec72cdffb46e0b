/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * libFuzzer target for the parsers of util/host-sysfs.c: the bytes of a
 * read (host_sysfs_parse_str), decimal values (host_sysfs_parse_u64) and
 * CPU lists (host_sysfs_parse_cpulist), fed the same input in turn as
 * QEMU feeds them a file.  Each result is compared with a plain second
 * implementation written here, and what parses is printed back and
 * parsed again, so that wrong answers count as much as crashes.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/host-sysfs.h"
#include "fuzz.h"

/* Digits only, no more than UINT64_MAX: the reference for parse_u64. */
static bool ref_u64(const char *s, uint64_t *v)
{
    uint64_t n = 0;

    if (!*s) {
        return false;
    }
    for (; *s; s++) {
        unsigned d = *s - '0';

        if (*s < '0' || *s > '9' || n > (UINT64_MAX - d) / 10) {
            return false;
        }
        n = n * 10 + d;
    }
    *v = n;
    return true;
}

static void check_u64(const char *text)
{
    uint64_t v = 0, ref = 0, back = 0;
    Error *err = NULL;
    bool ok = host_sysfs_parse_u64(text, &v, &err);
    g_autofree char *printed = NULL;

    g_assert_cmpint(ok, ==, ref_u64(text, &ref));
    if (!ok) {
        g_assert_nonnull(err);
        error_free(err);
        return;
    }
    g_assert_null(err);
    g_assert_cmpuint(v, ==, ref);
    printed = g_strdup_printf("%" PRIu64, v);
    g_assert_true(host_sysfs_parse_u64(printed, &back, &error_abort));
    g_assert_cmpuint(back, ==, v);
}

/*
 * The reference CPU list parser: split at commas, then at a dash, and
 * mark each CPU in a bitmap.  NULL if @text is not a list below @limit.
 */
static GArray *ref_cpulist(const char *text, unsigned limit)
{
    g_autoptr(GArray) cpus = g_array_new(false, false, sizeof(unsigned));
    g_autofree bool *seen = g_new0(bool, limit);
    g_auto(GStrv) items = g_strsplit(text, ",", -1);

    for (int i = 0; *text && items[i]; i++) {
        g_auto(GStrv) ends = g_strsplit(items[i], "-", -1);
        uint64_t first, last;

        if (g_strv_length(ends) < 1 || g_strv_length(ends) > 2 ||
            !ref_u64(ends[0], &first) ||
            !ref_u64(ends[1] ? ends[1] : ends[0], &last) ||
            first > last || last >= limit) {
            return NULL;
        }
        for (uint64_t c = first; c <= last; c++) {
            if (seen[c]) {
                return NULL;
            }
            seen[c] = true;
        }
    }
    for (unsigned c = 0; c < limit; c++) {
        if (seen[c]) {
            g_array_append_val(cpus, c);
        }
    }
    return g_steal_pointer(&cpus);
}

/* The list as the kernel prints it: "0-3,8". */
static char *print_cpulist(GArray *cpus)
{
    GString *s = g_string_new("");

    for (guint i = 0; i < cpus->len;) {
        unsigned first = g_array_index(cpus, unsigned, i), last = first;

        while (++i < cpus->len && g_array_index(cpus, unsigned, i) ==
               last + 1) {
            last++;
        }
        g_string_append_printf(s, "%s%u", s->len ? "," : "", first);
        if (last > first) {
            g_string_append_printf(s, "-%u", last);
        }
    }
    return g_string_free(s, false);
}

static void assert_same_cpus(GArray *a, GArray *b)
{
    g_assert_cmpuint(a->len, ==, b->len);
    for (guint i = 0; i < a->len; i++) {
        g_assert_cmpuint(g_array_index(a, unsigned, i), ==,
                         g_array_index(b, unsigned, i));
    }
}

static void check_cpulist(const char *text, unsigned limit)
{
    g_autoptr(GArray) cpus = NULL, ref = ref_cpulist(text, limit);
    g_autoptr(GArray) back = NULL;
    g_autofree char *printed = NULL;
    Error *err = NULL;
    bool ok = host_sysfs_parse_cpulist(text, limit, &cpus, &err);

    g_assert_cmpint(ok, ==, ref != NULL);
    if (!ok) {
        g_assert_nonnull(err);
        error_free(err);
        return;
    }
    assert_same_cpus(cpus, ref);
    printed = print_cpulist(cpus);
    g_assert_true(host_sysfs_parse_cpulist(printed, limit, &back,
                                           &error_abort));
    assert_same_cpus(cpus, back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    size_t len = size && buf[size - 1] == '\n' ? size - 1 : size;
    g_autofree char *value = NULL;
    Error *err = NULL;

    if (!host_sysfs_parse_str(buf, size, &value, &err)) {
        g_assert_nonnull(memchr(buf, '\0', len));
        error_free(err);
        return 0;
    }
    g_assert_null(memchr(buf, '\0', len));
    g_assert_cmpuint(strlen(value), ==, len);
    g_assert_true(!memcmp(value, buf, len));

    check_u64(value);
    check_cpulist(value, HOST_SYSFS_MAX_CPUS);
    check_cpulist(value, 8);
    return 0;
}

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * libFuzzer target for the cpufreq text parser of util/host-cpufreq.c,
 * host_cpufreq_parse_frequencies() (scaling_available_frequencies).  The
 * result is compared with a plain second implementation written here,
 * and the list printed back as the kernel prints it must parse to itself.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/host-cpufreq.h"
#include "fuzz.h"

/* The reference: words between spaces, each digits only, in range. */
static GArray *ref_frequencies(const char *text)
{
    g_autoptr(GArray) freqs = g_array_new(false, false, sizeof(uint64_t));
    g_auto(GStrv) words = g_strsplit(text, " ", -1);

    for (int i = 0; words[i]; i++) {
        uint64_t n = 0;

        if (!*words[i]) {
            continue;
        }
        for (const char *s = words[i]; *s; s++) {
            unsigned d = *s - '0';

            if (*s < '0' || *s > '9' || n > (UINT64_MAX - d) / 10) {
                return NULL;
            }
            n = n * 10 + d;
        }
        g_array_append_val(freqs, n);
    }
    return g_steal_pointer(&freqs);
}

static void assert_same(GArray *a, GArray *b)
{
    g_assert_cmpuint(a->len, ==, b->len);
    for (guint i = 0; i < a->len; i++) {
        g_assert_cmpuint(g_array_index(a, uint64_t, i), ==,
                         g_array_index(b, uint64_t, i));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the reader gives a string: it ends at a NUL */
    g_autofree char *text = g_strndup((const char *)data, size);
    g_autoptr(GArray) freqs = NULL, back = NULL;
    g_autoptr(GArray) ref = ref_frequencies(text);
    g_autoptr(GString) printed = g_string_new("");
    Error *err = NULL;
    bool ok = host_cpufreq_parse_frequencies(text, &freqs, &err);

    g_assert_cmpint(ok, ==, ref != NULL);
    if (!ok) {
        g_assert_nonnull(err);
        g_assert_null(freqs);
        error_free(err);
        return 0;
    }
    g_assert_null(err);
    assert_same(freqs, ref);
    for (guint i = 0; i < freqs->len; i++) {
        g_string_append_printf(printed, "%" PRIu64 " ",
                               g_array_index(freqs, uint64_t, i));
    }
    g_assert_true(host_cpufreq_parse_frequencies(printed->str, &back,
                                                 &error_abort));
    assert_same(freqs, back);
    return 0;
}

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * libFuzzer target for the text parsers of util/host-rapl.c: powercap
 * zone directory names (host_rapl_parse_zone_dir) and the perf power
 * PMU's event and scale files (host_energy_parse_perf_event, _scale),
 * fed the same input in turn.  Results are compared with plain second
 * implementations written here, or printed back and parsed again.
 */

#include "qemu/osdep.h"
#include <math.h>
#include "qapi/error.h"
#include "qemu/host-rapl.h"
#include "fuzz.h"

/* Decimal as the kernel prints it: no sign, no leading zero, in range. */
static bool ref_uint(const char *s, unsigned *v)
{
    uint64_t n = 0;

    if (!*s || (s[0] == '0' && s[1])) {
        return false;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
        n = n * 10 + (*s - '0');
        if (n > UINT_MAX) {
            return false;
        }
    }
    *v = n;
    return true;
}

static void check_zone_dir(const char *text)
{
    unsigned index = 0, sub = 0, ref_index = 0, ref_sub = 0;
    bool is_sub = false, ok, ref_ok = false;
    g_auto(GStrv) parts = NULL;

    ok = host_rapl_parse_zone_dir(text, &index, &sub, &is_sub);
    if (g_str_has_prefix(text, "intel-rapl:")) {
        parts = g_strsplit(text + strlen("intel-rapl:"), ":", -1);
        ref_ok = (g_strv_length(parts) == 1 || g_strv_length(parts) == 2) &&
            ref_uint(parts[0], &ref_index) &&
            (!parts[1] || ref_uint(parts[1], &ref_sub));
    }
    g_assert_cmpint(ok, ==, ref_ok);
    if (ok) {
        g_assert_cmpuint(index, ==, ref_index);
        g_assert_cmpint(is_sub, ==, parts[1] != NULL);
        if (is_sub) {
            g_assert_cmpuint(sub, ==, ref_sub);
        }
    }
}

static void check_perf_event(const char *text)
{
    const char *hex = text + strlen("event=0x");
    uint64_t config = 0, ref = 0;
    bool ref_ok = g_str_has_prefix(text, "event=0x") && *hex;
    Error *err = NULL;
    bool ok = host_energy_parse_perf_event(text, &config, &err);

    for (const char *s = hex; ref_ok && *s; s++) {
        ref_ok = g_ascii_isxdigit(*s) && ref >> 60 == 0;
        ref = ref << 4 | g_ascii_xdigit_value(*s);
    }
    g_assert_cmpint(ok, ==, ref_ok);
    if (!ok) {
        g_assert_nonnull(err);
        error_free(err);
        return;
    }
    g_assert_cmpuint(config, ==, ref);
}

static void check_perf_scale(const char *text)
{
    g_autofree char *printed = NULL;
    double scale = 0, back = 0;
    Error *err = NULL;

    if (!host_energy_parse_perf_scale(text, &scale, &err)) {
        g_assert_nonnull(err);
        error_free(err);
        return;
    }
    g_assert_true(isfinite(scale) && scale > 0);
    printed = g_strdup_printf("%.17g", scale);
    g_assert_true(host_energy_parse_perf_scale(printed, &back,
                                               &error_abort));
    g_assert_cmpfloat(back, ==, scale);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* file names and read values are strings: they end at a NUL */
    g_autofree char *text = g_strndup((const char *)data, size);

    check_zone_dir(text);
    check_perf_event(text);
    check_perf_scale(text);
    return 0;
}

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: writing JSON text (the JSON output and the state file).
 */

#include "qemu/osdep.h"
#include <math.h>
#include "json-out.h"

void json_append_string(GString *out, const char *s)
{
    g_autofree char *valid = g_utf8_make_valid(s, -1);

    g_string_append_c(out, '"');
    for (const char *p = valid; *p; p++) {
        unsigned char c = *p;

        if (c == '"' || c == '\\') {
            g_string_append_printf(out, "\\%c", c);
        } else if (c == '\n') {
            g_string_append(out, "\\n");
        } else if (c < 0x20 || c == 0x7f) {
            g_string_append_printf(out, "\\u%04x", c);
        } else {
            g_string_append_c(out, c);
        }
    }
    g_string_append_c(out, '"');
}

void json_append_number(GString *out, double v)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];

    g_string_append(out, g_ascii_formatd(buf, sizeof(buf), "%.15g",
                                         isfinite(v) ? v : 0));
}

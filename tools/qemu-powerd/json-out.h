/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: writing JSON text (the JSON output and the state file).
 */

#ifndef QEMU_POWERD_JSON_OUT_H
#define QEMU_POWERD_JSON_OUT_H

/*
 * @s as a JSON string.  Names come from QEMUs and libvirt, hostile input:
 * bytes that are not UTF-8 become U+FFFD, so the output always parses.
 */
void json_append_string(GString *out, const char *s);

/* @v as a JSON number, without locale; not finite numbers as 0. */
void json_append_number(GString *out, double v);

#endif

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Fake sysfs trees in temporary directories, for the host power tests.
 */

#ifndef TESTS_FAKE_SYSFS_H
#define TESTS_FAKE_SYSFS_H

/* A new empty tree; free it with fake_sysfs_free(). */
char *fake_sysfs_new(void);

/* Remove the tree and free @root. */
void fake_sysfs_free(char *root);

/* Write @content to @root/@rel, creating directories as needed. */
void fake_sysfs_write(const char *root, const char *rel, const char *content);

/* printf-style fake_sysfs_write(). */
void fake_sysfs_printf(const char *root, const char *rel, const char *fmt,
                       ...) G_GNUC_PRINTF(3, 4);

/* Read @root/@rel back (without change), or NULL if absent. */
char *fake_sysfs_read(const char *root, const char *rel);

void fake_sysfs_mkdir(const char *root, const char *rel);

/*
 * Every file under @root with its content (less one trailing newline,
 * as sysfs shows values), sorted: compare two of them.
 */
char *fake_sysfs_snapshot(const char *root);

/*
 * A Linux host with @cpus online CPUs on @packages packages, cpufreq
 * (acpi-cpufreq, with available frequencies and scaling_setspeed) and,
 * with @pstate, intel_pstate; and powercap RAPL zones package-N with
 * core and dram sub-zones, two constraints on each package.
 */
void fake_sysfs_host(const char *root, int cpus, int packages, bool pstate);

#endif

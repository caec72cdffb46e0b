/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Reading and writing host sysfs files (RAPL, cpufreq, intel_pstate)
 * under a configurable root, so that tests can use a fake tree and
 * containers can mount the host's /sys elsewhere.
 *
 * Paths are only ever built from fixed names and validated integers;
 * no string that comes from a user becomes part of a path.
 */

#ifndef QEMU_HOST_SYSFS_H
#define QEMU_HOST_SYSFS_H

/* CPU numbers at or above this are refused. */
#define HOST_SYSFS_MAX_CPUS 8192

/* Longest value read from one file (e.g. a list of frequencies). */
#define HOST_SYSFS_VALUE_MAX 4096

/* The real sysfs; a configured root stands for it. */
#define HOST_SYSFS_DEFAULT_ROOT "/sys"

/*
 * Build "@root<fmt...>", where @root stands for /sys (NULL or "": the
 * real /sys) and @fmt starts with '/'.  @fmt must be a fixed string; its
 * arguments validated integers or names read from the host itself.
 */
char *host_sysfs_path(const char *root, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);

/*
 * Read a whole value: one bounded read, exactly one trailing newline
 * removed.  Returns 0, or -errno with @errp set naming the file
 * (-ENOENT: the file does not exist; -EACCES: permission denied;
 * -EFBIG: longer than HOST_SYSFS_VALUE_MAX).
 */
int host_sysfs_read_str(const char *path, char **value, Error **errp);

/*
 * The value in the @len bytes that one read of a file gave at @buf (not
 * NUL-terminated), as a new string: exactly one trailing newline removed,
 * a NUL byte anywhere refused.
 */
bool host_sysfs_parse_str(const char *buf, size_t len, char **value,
                          Error **errp);

/* Read a decimal unsigned value (see host_sysfs_parse_u64). */
int host_sysfs_read_u64(const char *path, uint64_t *value, Error **errp);

/*
 * An optional value: an absent file sets @has to false and is no error;
 * any other failure is.  Returns 0 or -errno.
 */
int host_sysfs_read_opt_u64(const char *path, bool *has, uint64_t *value,
                            Error **errp);

/*
 * Parse a decimal unsigned 64-bit value: digits only, no sign, no
 * whitespace, no base prefix, no overflow.
 */
bool host_sysfs_parse_u64(const char *text, uint64_t *value, Error **errp);

/*
 * Write @value to an existing file (never created) in one write() and
 * check that all of it was taken.  Returns 0 or -errno with @errp set.
 */
int host_sysfs_write_str(const char *path, const char *value, Error **errp);

/* Write a decimal unsigned value. */
int host_sysfs_write_u64(const char *path, uint64_t value, Error **errp);

/* Does @path exist? */
bool host_sysfs_exists(const char *path);

/*
 * Parse a kernel CPU list such as "0-3,8,10-11" into a sorted array of
 * unsigned CPU numbers, each below @limit.  Strict: no spaces, no empty
 * items, no reversed ranges.  An empty string is an empty list.
 */
bool host_sysfs_parse_cpulist(const char *text, unsigned limit,
                              GArray **cpus, Error **errp);

/* Read the online CPUs (devices/system/cpu/online) of the host. */
bool host_sysfs_online_cpus(const char *root, GArray **cpus, Error **errp);

/*
 * An undo log of host writes: the first write of each file through it
 * records the file's value before, so that every change can be put back.
 */
typedef struct HostSysfsUndo HostSysfsUndo;

HostSysfsUndo *host_sysfs_undo_new(void);
void host_sysfs_undo_free(HostSysfsUndo *undo);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HostSysfsUndo, host_sysfs_undo_free)

/*
 * host_sysfs_write_str(), recording the file's old value in @undo (which
 * may be NULL), then read the value back into @applied (may be NULL).
 */
int host_sysfs_write_logged(HostSysfsUndo *undo, const char *path,
                            const char *value, char **applied, Error **errp);

/*
 * Write back every recorded value, latest change first.  A value the
 * kernel refuses at first (e.g. a minimum above the current maximum) is
 * tried again after the others.  Returns the number of files that could
 * not be restored, each reported through @report.
 */
unsigned host_sysfs_undo_restore(HostSysfsUndo *undo,
                                 void (*report)(Error *err));

#endif

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
 * From now on, open every file only beneath @root (NULL or "": /sys),
 * through a directory fd opened here once: a path that is not
 * "@root/..." is refused, a ".." in it is refused, a link that leads
 * out of @root is refused (links that stay beneath, as sysfs's own
 * class/powercap/intel-rapl:N and cpuN/cpufreq, are followed), the
 * last component is never a link, and when @root is the real /sys every
 * file must be on sysfs.  Uses openat2(RESOLVE_BENEATH), or a walk with
 * O_NOFOLLOW at each component where the kernel lacks it.  Unconfined
 * (the default), paths are opened as given, the last component never
 * followed if it is a link.  For the privileged helper.
 */
bool host_sysfs_confine(const char *root, Error **errp);
void host_sysfs_unconfine(void);

/* Tests: walk component by component even where openat2 exists. */
void host_sysfs_test_no_openat2(bool on);

/*
 * Open an existing @path (flags without O_CREAT or O_TRUNC) as above.
 * Returns the fd, or -errno with @errp set (-EXDEV: outside the root;
 * -ELOOP: a link).
 */
int host_sysfs_open(const char *path, int flags, Error **errp);

/*
 * The names in directory @path (without "." and ".."), unsorted.
 * Returns 0 or -errno (-ENOENT: no such directory).
 */
int host_sysfs_list_dir(const char *path, GPtrArray **names, Error **errp);

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
 * Write @value to an existing file (never created, never truncated on
 * open) in one write() at offset 0 and check that all of it was taken;
 * a plain file that is not on sysfs (a test tree) is then cut to the
 * value.  Returns 0 or -errno with @errp set.
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

/* Call @fn with each recorded file and its value before, in order. */
void host_sysfs_undo_foreach(HostSysfsUndo *undo,
                             void (*fn)(const char *path, const char *old,
                                        void *opaque),
                             void *opaque);

/*
 * Write back every recorded value, latest change first.  A value the
 * kernel refuses at first (e.g. a minimum above the current maximum) is
 * tried again after the others.  Returns the number of files that could
 * not be restored, each reported through @report.
 */
unsigned host_sysfs_undo_restore(HostSysfsUndo *undo,
                                 void (*report)(Error *err));

#endif

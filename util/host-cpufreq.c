/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Reading, validating and changing host cpufreq and intel_pstate policy.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/host-cpufreq.h"

void host_cpufreq_free(HostCpufreq *f)
{
    if (f) {
        g_free(f->driver);
        g_free(f->governor);
        g_strfreev(f->governors);
        if (f->frequencies) {
            g_array_free(f->frequencies, true);
        }
        g_free(f);
    }
}

static char *cpufreq_path(const char *root, unsigned cpu, const char *file)
{
    return host_sysfs_path(root, "/devices/system/cpu/cpu%u/cpufreq/%s",
                           cpu, file);
}

static int read_str(const char *root, unsigned cpu, const char *file,
                    char **v, Error **errp)
{
    g_autofree char *path = cpufreq_path(root, cpu, file);

    return host_sysfs_read_str(path, v, errp);
}

static int read_u64(const char *root, unsigned cpu, const char *file,
                    uint64_t *v, Error **errp)
{
    g_autofree char *path = cpufreq_path(root, cpu, file);

    return host_sysfs_read_u64(path, v, errp);
}

/* An optional file: absent is fine, any other error is not. */
static int read_opt_u64(const char *root, unsigned cpu, const char *file,
                        bool *has, uint64_t *v, Error **errp)
{
    g_autofree char *path = cpufreq_path(root, cpu, file);

    return host_sysfs_read_opt_u64(path, has, v, errp);
}

/* Space-separated words, e.g. "performance powersave\n" (trailing space). */
static char **split_words(const char *text)
{
    g_auto(GStrv) parts = g_strsplit(text, " ", -1);
    GPtrArray *words = g_ptr_array_new();

    for (int i = 0; parts[i]; i++) {
        if (*parts[i]) {
            g_ptr_array_add(words, g_strdup(parts[i]));
        }
    }
    g_ptr_array_add(words, NULL);
    return (char **)g_ptr_array_free(words, false);
}

bool host_cpufreq_parse_frequencies(const char *text, GArray **freqs,
                                    Error **errp)
{
    g_auto(GStrv) words = split_words(text);
    g_autoptr(GArray) list = g_array_new(false, false, sizeof(uint64_t));

    for (int i = 0; words[i]; i++) {
        uint64_t f;

        if (!host_sysfs_parse_u64(words[i], &f, errp)) {
            return false;
        }
        g_array_append_val(list, f);
    }
    *freqs = g_steal_pointer(&list);
    return true;
}

static int read_frequencies(const char *root, unsigned cpu, GArray **out,
                            Error **errp)
{
    g_autofree char *text = NULL;
    Error *err = NULL;
    int ret = read_str(root, cpu, "scaling_available_frequencies", &text,
                       &err);

    *out = NULL;
    if (ret == -ENOENT) {
        error_free(err);
        return 0;
    }
    if (ret < 0) {
        error_propagate(errp, err);
        return ret;
    }
    if (!host_cpufreq_parse_frequencies(text, out, errp)) {
        error_prepend(errp, "CPU %u's available frequencies: ", cpu);
        return -EINVAL;
    }
    return 0;
}

/* The numeric files every cpufreq policy has. */
static const struct {
    const char *file;
    size_t offset;
} cpufreq_u64_files[] = {
    { "scaling_min_freq", offsetof(HostCpufreq, min_khz) },
    { "scaling_max_freq", offsetof(HostCpufreq, max_khz) },
    { "cpuinfo_min_freq", offsetof(HostCpufreq, cpuinfo_min_khz) },
    { "cpuinfo_max_freq", offsetof(HostCpufreq, cpuinfo_max_khz) },
};

int host_cpufreq_read(const char *root, unsigned cpu, HostCpufreq **out,
                      Error **errp)
{
    g_autoptr(HostCpufreq) f = g_new0(HostCpufreq, 1);
    g_autofree char *dir = cpufreq_path(root, cpu, "");
    g_autofree char *governors = NULL, *setspeed = NULL;
    Error *err = NULL;
    int ret;

    f->cpu = cpu;
    if (!host_sysfs_exists(dir)) {
        error_setg(errp, "CPU %u has no cpufreq policy ('%s' is absent)",
                   cpu, dir);
        return -ENOENT;
    }
    ret = read_str(root, cpu, "scaling_driver", &f->driver, errp);
    if (!ret) {
        ret = read_str(root, cpu, "scaling_governor", &f->governor, errp);
    }
    if (!ret) {
        ret = read_str(root, cpu, "scaling_available_governors", &governors,
                       errp);
    }
    for (int i = 0; !ret && i < ARRAY_SIZE(cpufreq_u64_files); i++) {
        ret = read_u64(root, cpu, cpufreq_u64_files[i].file,
                       (uint64_t *)((char *)f + cpufreq_u64_files[i].offset),
                       errp);
    }
    if (!ret) {
        ret = read_opt_u64(root, cpu, "scaling_cur_freq", &f->has_cur,
                           &f->cur_khz, errp);
    }
    if (!ret) {
        ret = read_frequencies(root, cpu, &f->frequencies, errp);
    }
    if (ret) {
        /* absent mandatory files mean a broken tree, not "no cpufreq" */
        return ret == -ENOENT ? -EIO : ret;
    }
    f->governors = split_words(governors);

    /* scaling_setspeed reads "<unsupported>" unless userspace governs */
    ret = read_str(root, cpu, "scaling_setspeed", &setspeed, &err);
    if (ret == -ENOENT) {
        error_free(err);
    } else if (ret < 0) {
        error_propagate(errp, err);
        return ret;
    } else {
        f->has_setspeed_file = true;
        f->has_setspeed = host_sysfs_parse_u64(setspeed, &f->setspeed_khz,
                                               NULL);
    }
    *out = g_steal_pointer(&f);
    return 0;
}

static bool in_list(const GArray *freqs, uint64_t khz)
{
    for (guint i = 0; i < freqs->len; i++) {
        if (g_array_index(freqs, uint64_t, i) == khz) {
            return true;
        }
    }
    return false;
}

static bool check_range(const HostCpufreq *cur, const char *what,
                        uint64_t khz, Error **errp)
{
    if (khz < cur->cpuinfo_min_khz || khz > cur->cpuinfo_max_khz) {
        error_setg(errp, "CPU %u: %s %" PRIu64 " kHz is outside the "
                   "hardware range %" PRIu64 "-%" PRIu64 " kHz", cur->cpu,
                   what, khz, cur->cpuinfo_min_khz, cur->cpuinfo_max_khz);
        return false;
    }
    return true;
}

bool host_cpufreq_validate(const HostCpufreq *cur,
                           const HostCpufreqRequest *req, Error **errp)
{
    const char *governor = req->governor ? req->governor : cur->governor;
    uint64_t min = req->has_min ? req->min_khz : cur->min_khz;
    uint64_t max = req->has_max ? req->max_khz : cur->max_khz;

    if (!req->governor && !req->has_frequency && !req->has_min &&
        !req->has_max) {
        error_setg(errp, "Nothing to change");
        return false;
    }
    if (req->governor &&
        !g_strv_contains((const gchar *const *)cur->governors,
                         req->governor)) {
        g_autofree char *list = g_strjoinv(", ", cur->governors);

        error_setg(errp, "CPU %u has no governor called '%s' (available: "
                   "%s)", cur->cpu, req->governor, list);
        return false;
    }
    if ((req->has_min && !check_range(cur, "minimum", min, errp)) ||
        (req->has_max && !check_range(cur, "maximum", max, errp))) {
        return false;
    }
    if (min > max) {
        error_setg(errp, "CPU %u: minimum %" PRIu64 " kHz would be above "
                   "maximum %" PRIu64 " kHz", cur->cpu, min, max);
        return false;
    }
    if (req->has_frequency) {
        if (strcmp(governor, "userspace")) {
            error_setg(errp, "CPU %u: a fixed frequency needs the "
                       "'userspace' governor, not '%s'", cur->cpu, governor);
            return false;
        }
        if (!cur->has_setspeed_file) {
            error_setg(errp, "CPU %u's cpufreq driver cannot set a fixed "
                       "frequency", cur->cpu);
            return false;
        }
        if (!check_range(cur, "frequency", req->frequency_khz, errp)) {
            return false;
        }
        if (cur->frequencies && !in_list(cur->frequencies,
                                         req->frequency_khz)) {
            error_setg(errp, "CPU %u: %" PRIu64 " kHz is not one of the "
                       "available frequencies", cur->cpu, req->frequency_khz);
            return false;
        }
        if (req->frequency_khz < min || req->frequency_khz > max) {
            error_setg(errp, "CPU %u: %" PRIu64 " kHz is outside the "
                       "policy's range %" PRIu64 "-%" PRIu64 " kHz",
                       cur->cpu, req->frequency_khz, min, max);
            return false;
        }
    }
    return true;
}

static bool write_u64(const char *root, unsigned cpu, const char *file,
                      uint64_t v, HostSysfsUndo *undo, Error **errp)
{
    g_autofree char *path = cpufreq_path(root, cpu, file);
    char buf[24];

    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    return host_sysfs_write_logged(undo, path, buf, NULL, errp) == 0;
}

bool host_cpufreq_apply(const char *root, const HostCpufreq *cur,
                        const HostCpufreqRequest *req, HostSysfsUndo *undo,
                        Error **errp)
{
    unsigned cpu = cur->cpu;

    if (req->governor) {
        g_autofree char *path = cpufreq_path(root, cpu, "scaling_governor");

        if (host_sysfs_write_logged(undo, path, req->governor, NULL,
                                    errp) < 0) {
            return false;
        }
    }
    /* never let min > max in between: raise max first, lower min first */
    if (req->has_min && req->min_khz > cur->max_khz) {
        if ((req->has_max &&
             !write_u64(root, cpu, "scaling_max_freq", req->max_khz, undo,
                        errp)) ||
            !write_u64(root, cpu, "scaling_min_freq", req->min_khz, undo,
                       errp)) {
            return false;
        }
    } else {
        if ((req->has_min &&
             !write_u64(root, cpu, "scaling_min_freq", req->min_khz, undo,
                        errp)) ||
            (req->has_max &&
             !write_u64(root, cpu, "scaling_max_freq", req->max_khz, undo,
                        errp))) {
            return false;
        }
    }
    if (req->has_frequency &&
        !write_u64(root, cpu, "scaling_setspeed", req->frequency_khz, undo,
                   errp)) {
        return false;
    }
    return true;
}

void host_pstate_free(HostPstate *p)
{
    if (p) {
        g_free(p->status);
        g_free(p);
    }
}

static char *pstate_path(const char *root, const char *file)
{
    return host_sysfs_path(root, "/devices/system/cpu/intel_pstate/%s", file);
}

int host_pstate_read(const char *root, HostPstate **out, Error **errp)
{
    g_autoptr(HostPstate) p = g_new0(HostPstate, 1);
    g_autofree char *dir = pstate_path(root, "");
    g_autofree char *status = pstate_path(root, "status");
    g_autofree char *max = pstate_path(root, "max_perf_pct");
    g_autofree char *min = pstate_path(root, "min_perf_pct");
    g_autofree char *turbo = pstate_path(root, "no_turbo");
    uint64_t v;
    int ret;

    if (!host_sysfs_exists(dir)) {
        error_setg(errp, "intel_pstate is not in use ('%s' is absent)", dir);
        return -ENOENT;
    }
    ret = host_sysfs_read_str(status, &p->status, errp);
    if (!ret) {
        ret = host_sysfs_read_u64(max, &p->max_perf_pct, errp);
    }
    if (!ret) {
        ret = host_sysfs_read_u64(min, &p->min_perf_pct, errp);
    }
    if (ret) {
        return ret == -ENOENT ? -EIO : ret;
    }
    ret = host_sysfs_read_opt_u64(turbo, &p->has_no_turbo, &v, errp);
    if (ret) {
        return ret;
    }
    p->no_turbo = p->has_no_turbo && v != 0;
    *out = g_steal_pointer(&p);
    return 0;
}

bool host_pstate_validate(const HostPstate *cur, bool has_max, uint64_t max,
                          bool has_min, uint64_t min, Error **errp)
{
    uint64_t new_max = has_max ? max : cur->max_perf_pct;
    uint64_t new_min = has_min ? min : cur->min_perf_pct;

    if (!has_max && !has_min) {
        error_setg(errp, "Nothing to change");
        return false;
    }
    if ((has_max && max > 100) || (has_min && min > 100)) {
        error_setg(errp, "Performance limits are percentages (0-100)");
        return false;
    }
    if (new_min > new_max) {
        error_setg(errp, "min-perf-pct %" PRIu64 " would be above "
                   "max-perf-pct %" PRIu64, new_min, new_max);
        return false;
    }
    return true;
}

bool host_pstate_apply(const char *root, const HostPstate *cur, bool has_max,
                       uint64_t max, bool has_min, uint64_t min,
                       HostSysfsUndo *undo, Error **errp)
{
    g_autofree char *max_path = pstate_path(root, "max_perf_pct");
    g_autofree char *min_path = pstate_path(root, "min_perf_pct");
    const char *done = NULL;
    char buf[24];
    /* as for frequencies: never min > max in between */
    bool max_first = has_min && min > cur->max_perf_pct;

    for (int step = 0; step < 2; step++) {
        bool do_max = (step == 0) == max_first;
        const char *path = do_max ? max_path : min_path;

        if (!(do_max ? has_max : has_min)) {
            continue;
        }
        snprintf(buf, sizeof(buf), "%" PRIu64, do_max ? max : min);
        if (host_sysfs_write_logged(undo, path, buf, NULL, errp) < 0) {
            if (done) {
                error_prepend(errp, "%s was changed, then: ", done);
            } else {
                error_prepend(errp, "Nothing was changed: ");
            }
            return false;
        }
        done = do_max ? "max_perf_pct" : "min_perf_pct";
    }
    return true;
}

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: attribute a QEMU/KVM host's power to its VMs.
 *
 * Every interval it finds the VMs (plain QMP sockets or libvirt), takes
 * the samples they pushed as POWER_SAMPLE events or, from a QEMU without
 * them, asks for query-power (all at once, each with a deadline, in
 * worker threads, so that a hung QEMU delays nobody), measures the
 * host's energy and activity meanwhile, and splits each zone's active
 * power by the VMs' share of the host's work.  Rounds start just after
 * CLOCK_MONOTONIC crosses a multiple of the interval, when QEMU samples.
 * See docs/qemu-powerd.rst.
 */

#include "qemu/osdep.h"
#include <getopt.h>
#include <math.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include "qapi/error.h"
#include "qemu/timer.h"
#include "attribution.h"
#include "log.h"
#include "powerd.h"
#include "report.h"

/*
 * 1 is the operator's to fix, and a restart cannot help (the unit's
 * RestartPreventExitStatus=1); the others may be passing (libvirtd not up
 * yet, a disk full or read-only for a while) and are worth a restart.
 */
enum {
    EXIT_BAD_OPTIONS = 1,
    EXIT_NO_VM = 2,
    EXIT_NO_LIBVIRT = 3,
    EXIT_NO_ENERGY = 4,
    EXIT_NO_FILE = 5,           /* --state-file, --json-log unusable */
};

/* --state-interval, --state-keep: defaults and limits, seconds */
#define STATE_INTERVAL_S 60
#define STATE_KEEP_S (31 * 86400)
#define STATE_MAX_S (100 * 365 * 86400.0)

/*
 * SIGINT and SIGTERM are blocked in the threads (a worker's poll() must
 * not end early) and handled by the main thread, where they also end a
 * write to a full stdout pipe.
 */
static sigset_t stop_signals;

static void on_signal(int sig)
{
    powerd_stop = 1;
}

/* Also in STATUS=, so that systemctl status says why it stopped. */
static G_NORETURN void die(int code, Error *err)
{
    powerd_log(LOG_ERR, "%s", error_get_pretty(err));
    powerd_notify_status("failed: %s", error_get_pretty(err));
    error_free(err);
    exit(code);
}

static G_NORETURN void usage_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static G_NORETURN void usage_error(const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    powerd_log(LOG_ERR, "%s", msg);
    powerd_notify_status("bad options: %s", msg);
    /* for whoever typed it: not worth a journal entry of its own */
    if (isatty(STDERR_FILENO)) {
        fprintf(stderr, "Try 'qemu-powerd --help' for more information.\n");
    }
    exit(EXIT_BAD_OPTIONS);
}

static void help(void)
{
    printf(
"Usage: qemu-powerd [OPTION]...\n"
"Attribute a QEMU/KVM host's power to its VMs:\n"
"  Power(VM) = ActivePower * Work(VM) / Work(host), per RAPL zone.\n"
"\n"
"VMs:\n"
"  --libvirt URI          domains of a libvirt connection (default\n"
"                         qemu:///system when no --qmp is given)\n"
"  --qmp PATH             a QEMU QMP UNIX socket; repeatable; shell globs\n"
"                         are expanded at every poll\n"
"Sampling:\n"
"  --interval S           seconds between samples (default 1, at least\n"
"                         0.1; whole milliseconds)\n"
"  --timeout S            how long one VM may take (default 80%% of the\n"
"                         interval)\n"
"  --mode MODE            auto (default): VMs write samples to a channel\n"
"                         where QEMU can, else push POWER_SAMPLE events,\n"
"                         else are polled; event: events, not a channel;\n"
"                         poll: ask every VM with query-power every\n"
"                         interval\n"
"  --lease S              how long a VM keeps pushing samples unless\n"
"                         qemu-powerd renews it (default 300; renewed\n"
"                         every third of it)\n"
"  --once                 two samples one interval apart, print, exit\n"
"  --count N              stop after N intervals\n"
"Host energy:\n"
"  --helper SOCKET        the host's energy from qemu-power-helper\n"
"                         (docs/power-helper.rst), for a qemu-powerd\n"
"                         that does not run as root\n"
"  --energy-source SRC    auto (default), perf, powercap, msr, or estimate\n"
"                         (a labelled linear model for hosts without RAPL)\n"
"  --sysfs-root DIR       a directory that stands for /sys\n"
"  --idle-watts [ZONE=]W  idle power of ZONE, or of every zone; zones\n"
"                         without one get an estimate from a regression of\n"
"                         power on utilisation once the load has varied\n"
"                         (none until then: labelled); with 'estimate':\n"
"                         the idle power (50)\n"
"  --max-watts W          with 'estimate': power at full load (200)\n"
"Output:\n"
"  --format FMT           table, json or csv (default: table on a\n"
"                         terminal, else json; one line per interval)\n"
"  --listen ADDR:PORT     serve Prometheus metrics at /metrics\n"
"  --state-file FILE      keep cumulative energy and the idle estimate\n"
"                         across restarts\n"
"  --state-interval S     write FILE every S seconds (default 60, at\n"
"                         least the interval), at exit, and after the\n"
"                         last --count interval\n"
"  --state-keep S         forget VMs not seen for S seconds (default 31\n"
"                         days); S may end in s, m, h or d\n"
"  --json-log FILE        also append each interval to FILE as JSON\n"
"Power cap (docs/power-cap.rst):\n"
"  --power-cap [ZONE=]W   hold ZONE (default: the package zones together)\n"
"                         under W watts: RAPL limit, then CPU frequency\n"
"                         (both with --helper), then the CPU bandwidth of\n"
"                         VMs, lowest priority first; released in reverse\n"
"                         below the release threshold; all put back at exit\n"
"  --power-cap-config FILE  priorities and floors of VMs, the release\n"
"                         threshold (0.98 of the cap) and how long to hold\n"
"                         when readings go missing (30 s)\n"
"  -h, --help, --version\n"
"\n"
"Under systemd (Type=notify): READY=1 once set up, STATUS= every\n"
"interval, WATCHDOG=1 with WatchdogSec=, priorities in the journal.\n"
"\n"
"Exit status:\n"
"  0  success (also after SIGTERM or SIGINT)\n"
"  1  bad options (a restart cannot help)\n"
"  2  no VM found (--once)\n"
"  3  libvirt unreachable\n"
"  4  no energy source, or energy counters that do not move\n"
"  5  --state-file or --json-log cannot be read or written\n"
"Documentation: docs/qemu-powerd.rst in the qemu-power sources.\n");
}

static double parse_positive(const char *opt, const char *arg, double min)
{
    char *end;
    double v = g_ascii_strtod(arg, &end);

    if (end == arg || *end || !isfinite(v) || v < min) {
        usage_error("%s wants a number of at least %g, not '%s'", opt, min,
                    arg);
    }
    return v;
}

/* Seconds, or minutes, hours or days with a suffix m, h or d. */
static double parse_duration(const char *opt, const char *arg, double min)
{
    static const struct { char suffix; double s; } units[] = {
        { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
    };
    char *end;
    double v = g_ascii_strtod(arg, &end);
    double unit = 0;

    if (end != arg && !*end) {
        unit = 1;
    } else if (end != arg && end[0] && !end[1]) {
        for (int i = 0; i < ARRAY_SIZE(units); i++) {
            if (*end == units[i].suffix) {
                unit = units[i].s;
            }
        }
    }
    v *= unit;
    if (!unit || !isfinite(v) || v < min || v > STATE_MAX_S) {
        usage_error("%s wants a time of at least %g seconds (a number, "
                    "with s, m, h or d after it), not '%s'", opt, min, arg);
    }
    return v;
}

static void parse_options(Powerd *pd, int argc, char **argv)
{
    enum {
        OPT_QMP = 256, OPT_LIBVIRT, OPT_INTERVAL, OPT_TIMEOUT, OPT_ONCE,
        OPT_COUNT, OPT_FORMAT, OPT_LISTEN, OPT_ENERGY, OPT_SYSFS, OPT_IDLE,
        OPT_MAX, OPT_STATE, OPT_JSON_LOG, OPT_HELP, OPT_VERSION, OPT_MODE,
        OPT_LEASE, OPT_STATE_INTERVAL, OPT_STATE_KEEP, OPT_HELPER,
        OPT_POWER_CAP, OPT_POWER_CAP_CONFIG,
    };
    static const struct option longopts[] = {
        { "qmp", required_argument, NULL, OPT_QMP },
        { "libvirt", required_argument, NULL, OPT_LIBVIRT },
        { "interval", required_argument, NULL, OPT_INTERVAL },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "mode", required_argument, NULL, OPT_MODE },
        { "lease", required_argument, NULL, OPT_LEASE },
        { "once", no_argument, NULL, OPT_ONCE },
        { "count", required_argument, NULL, OPT_COUNT },
        { "format", required_argument, NULL, OPT_FORMAT },
        { "listen", required_argument, NULL, OPT_LISTEN },
        { "energy-source", required_argument, NULL, OPT_ENERGY },
        { "sysfs-root", required_argument, NULL, OPT_SYSFS },
        { "helper", required_argument, NULL, OPT_HELPER },
        { "idle-watts", required_argument, NULL, OPT_IDLE },
        { "max-watts", required_argument, NULL, OPT_MAX },
        { "state-file", required_argument, NULL, OPT_STATE },
        { "state-interval", required_argument, NULL, OPT_STATE_INTERVAL },
        { "state-keep", required_argument, NULL, OPT_STATE_KEEP },
        { "json-log", required_argument, NULL, OPT_JSON_LOG },
        { "power-cap", required_argument, NULL, OPT_POWER_CAP },
        { "power-cap-config", required_argument, NULL, OPT_POWER_CAP_CONFIG },
        { "help", no_argument, NULL, OPT_HELP },
        { "version", no_argument, NULL, OPT_VERSION },
        { },
    };
    int c;

    /* our messages, not getopt's: one line each, at LOG_ERR */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_QMP:
            g_ptr_array_add(pd->qmp_patterns, g_strdup(optarg));
            break;
        case OPT_LIBVIRT:
            g_free(pd->libvirt_uri);
            pd->libvirt_uri = g_strdup(optarg);
            break;
        case OPT_INTERVAL:
            pd->interval_s = parse_positive("--interval", optarg, 0.1);
            break;
        case OPT_TIMEOUT:
            pd->timeout_s = parse_positive("--timeout", optarg, 0.01);
            break;
        case OPT_MODE:
            if (strcmp(optarg, "auto") && strcmp(optarg, "event") &&
                strcmp(optarg, "poll")) {
                usage_error("--mode is auto, event or poll, not '%s'",
                            optarg);
            }
            pd->poll_only = !strcmp(optarg, "poll");
            pd->no_channel = !strcmp(optarg, "event");
            break;
        case OPT_LEASE:
            pd->lease_s = parse_positive("--lease", optarg, 1);
            if (pd->lease_s > 86400) {
                usage_error("--lease is at most 86400 seconds, not '%s'",
                            optarg);
            }
            break;
        case OPT_ONCE:
            pd->once = true;
            break;
        case OPT_COUNT: {
            double n = parse_positive("--count", optarg, 1);

            if (n != floor(n) || n > LONG_MAX) {
                usage_error("--count wants a whole number, not '%s'", optarg);
            }
            pd->count = n;
            break;
        }
        case OPT_FORMAT:
            pd->format = !strcmp(optarg, "table") ? FORMAT_TABLE :
                !strcmp(optarg, "json") ? FORMAT_JSON :
                !strcmp(optarg, "csv") ? FORMAT_CSV : FORMAT_AUTO;
            if (pd->format == FORMAT_AUTO) {
                usage_error("--format is table, json or csv, not '%s'",
                            optarg);
            }
            break;
        case OPT_LISTEN:
            g_free(pd->listen);
            pd->listen = g_strdup(optarg);
            break;
        case OPT_ENERGY:
            if (!strcmp(optarg, "auto")) {
                pd->host_opts.energy_source = HOST_ENERGY__MAX;
            } else if (!strcmp(optarg, "estimate")) {
                pd->host_opts.energy_source = -1;
            } else {
                int s;

                for (s = 0; s < HOST_ENERGY__MAX; s++) {
                    if (!strcmp(optarg, host_energy_source_name(s))) {
                        break;
                    }
                }
                if (s == HOST_ENERGY__MAX) {
                    usage_error("--energy-source is auto, perf, powercap, "
                                "msr or estimate, not '%s'", optarg);
                }
                pd->host_opts.energy_source = s;
            }
            break;
        case OPT_SYSFS:
            if (!g_file_test(optarg, G_FILE_TEST_IS_DIR)) {
                usage_error("--sysfs-root '%s' is not a directory", optarg);
            }
            pd->host_opts.sysfs_root = g_strdup(optarg);
            break;
        case OPT_HELPER:
            if (!g_path_is_absolute(optarg)) {
                usage_error("--helper wants the absolute path of "
                            "qemu-power-helper's socket, not '%s'", optarg);
            }
            pd->host_opts.helper = g_strdup(optarg);
            break;
        case OPT_IDLE: {
            const char *eq = strchr(optarg, '=');
            double *w;

            if (eq == optarg) {
                usage_error("--idle-watts wants a zone name before '=', "
                            "not '%s'", optarg);
            }
            w = g_new(double, 1);
            *w = parse_positive("--idle-watts", eq ? eq + 1 : optarg, 0);
            g_hash_table_insert(pd->idle_cfg,
                                eq ? g_strndup(optarg, eq - optarg) :
                                g_strdup(""), w);
            break;
        }
        case OPT_MAX:
            pd->host_opts.estimate_max_watts =
                parse_positive("--max-watts", optarg, 0);
            break;
        case OPT_STATE:
            g_free(pd->state_file);
            pd->state_file = g_strdup(optarg);
            break;
        case OPT_STATE_INTERVAL:
            pd->state_interval_s = parse_duration("--state-interval", optarg,
                                                  0.1);
            break;
        case OPT_STATE_KEEP:
            /* below a minute, a VM that misses one discovery is lost */
            pd->state_keep_s = parse_duration("--state-keep", optarg, 60);
            break;
        case OPT_JSON_LOG:
            g_free(pd->json_log);
            pd->json_log = g_strdup(optarg);
            break;
        case OPT_POWER_CAP: {
            Error *err = NULL;

            if (!power_cap_parse(&pd->cap_cfg, optarg, &err)) {
                usage_error("%s", error_get_pretty(err));
            }
            break;
        }
        case OPT_POWER_CAP_CONFIG:
            g_free(pd->cap_file);
            pd->cap_file = g_strdup(optarg);
            break;
        case 'h':
        case OPT_HELP:
            help();
            exit(0);
        case OPT_VERSION:
            printf("qemu-powerd (qemu-power) %s\n"
                   "systemd notification: %s\n", QEMU_VERSION,
                   powerd_notify_available() ? "yes (libsystemd)" :
                   "no (built without libsystemd)");
            exit(0);
        case ':':
            usage_error("option '%s' needs an argument", argv[optind - 1]);
        default:
            if (optopt) {
                usage_error("unknown option '-%c'", optopt);
            }
            usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        usage_error("unexpected argument '%s'", argv[optind]);
    }
    if (pd->qmp_patterns->len && pd->libvirt_uri) {
        usage_error("--qmp and --libvirt exclude each other");
    }
    if (!pd->qmp_patterns->len && !pd->libvirt_uri) {
        pd->libvirt_uri = g_strdup("qemu:///system");
    }
    if (pd->timeout_s <= 0) {
        pd->timeout_s = pd->interval_s * 0.8;
    }
    if (pd->timeout_s > pd->interval_s) {
        usage_error("--timeout cannot be longer than --interval");
    }
    /* QEMU's interval is in milliseconds: keep to the same boundaries */
    pd->interval_s = round(pd->interval_s * 1000) / 1000;
    if (pd->lease_s < pd->interval_s) {
        usage_error("--lease cannot be shorter than --interval");
    }
    if (pd->state_interval_s < pd->interval_s) {
        usage_error("--state-interval cannot be shorter than --interval");
    }
    if (pd->state_keep_s < pd->state_interval_s) {
        usage_error("--state-keep cannot be shorter than --state-interval");
    }
    /* QEMU samples at most every hour; one sample is all --once needs */
    pd->poll_only |= pd->once || pd->interval_s > 3600;
    if (pd->host_opts.helper &&
        pd->host_opts.energy_source != HOST_ENERGY__MAX) {
        usage_error("--helper and --energy-source exclude each other: the "
                    "helper reads the host's energy from its own source");
    }
    if (pd->host_opts.energy_source < 0) {
        double *w = g_hash_table_lookup(pd->idle_cfg, "");

        pd->host_opts.estimate_idle_watts = w ? *w : 50;
        if (pd->host_opts.estimate_max_watts <= 0) {
            pd->host_opts.estimate_max_watts = 200;
        }
        if (pd->host_opts.estimate_max_watts <
            pd->host_opts.estimate_idle_watts) {
            usage_error("--max-watts is below the idle power");
        }
    }
    if (pd->cap_file) {
        Error *err = NULL;

        if (!pd->cap_cfg.cap_watts) {
            usage_error("--power-cap-config needs --power-cap");
        }
        if (!power_cap_load(&pd->cap_cfg, pd->cap_file, &err)) {
            usage_error("%s", error_get_pretty(err));
        }
    }
    if (pd->cap_cfg.cap_watts && pd->once) {
        usage_error("--power-cap holds a host under a cap for as long as it "
                    "runs: not with --once");
    }
    if (pd->cap_cfg.cap_watts && pd->host_opts.energy_source < 0) {
        usage_error("--power-cap needs measured power, not --energy-source "
                    "estimate");
    }
    if (pd->format == FORMAT_AUTO) {
        pd->format = isatty(STDOUT_FILENO) ? FORMAT_TABLE : FORMAT_JSON;
    }
}

/*
 * Zone @z's idle power for this interval, from the intervals before it
 * (the current one is added to the model only after it is attributed).
 */
static void idle_for(Powerd *pd, size_t z, AttrZoneIn *zi, ReportZone *rz)
{
    double *w = g_hash_table_lookup(pd->idle_cfg, pd->host.zone_names[z]);
    IdleEstimate e = { 0 };

    if (!w) {
        w = g_hash_table_lookup(pd->idle_cfg, "");
    }
    if (!w) {
        e = idle_model_estimate(&pd->idle_model[z]);
    }
    zi->idle_method = attr_idle_pick(w, &e, &zi->idle_watts,
                                     &rz->idle_uncertainty);
}

static AttrVmStatus attr_status(VmStatus s)
{
    return s == VM_OK ? ATTR_VM_OK : s == VM_FAILED ? ATTR_VM_FAILED :
        ATTR_VM_NEW;
}

/*
 * The VMs' work above the host's over a window is not physical: say so,
 * once a minute at most.  A single interval above 1 is jitter.
 */
#define WORK_RATIO_WARN 1.05

static void warn_work_ratio(Powerd *pd, const AttrOut *out, double dt)
{
    double ratio = work_ratio_window_add(&pd->work_ratio_window,
                                         out->vm_rate, out->host_rate, dt);

    if (ratio > WORK_RATIO_WARN) {
        powerd_log_limited(LOG_WARNING, "work-ratio", "over the last %d s "
                           "the VMs did %.2f times the host's work; their "
                           "shares were scaled down to fit (vm_work_ratio)",
                           WORK_RATIO_WINDOW_S, ratio);
    }
}

/* A counter's increase; one that went backwards tells nothing (NaN). */
static double delta(uint64_t now, uint64_t before)
{
    return now >= before ? (double)(now - before) : NAN;
}

/*
 * Attribute the interval since the previous host sample (attr_interval()
 * does the sums), and keep the totals: energy, the VMs' last known rates,
 * their errors.
 */
static void attribute(Powerd *pd, GPtrArray *vms, const HostSample *hs,
                      Report *r)
{
    const HostSample *ps = &pd->prev_host;
    size_t nz = pd->host.nzones;
    double dt = (hs->time_us - ps->time_us) / 1e6;
    g_autofree AttrZoneIn *zin = g_new0(AttrZoneIn, nz);
    g_autofree AttrVmIn *vin = g_new0(AttrVmIn, vms->len);
    g_autofree AttrZoneOut *zout = g_new0(AttrZoneOut, nz);
    g_autofree double *shares = g_new0(double, vms->len);
    g_autofree double *watts = g_new0(double, nz * vms->len);
    AttrIn in = {
        .interval_s = dt,
        .host_work = pd->unit_cycles ? delta(hs->cycles, ps->cycles) :
            delta(hs->busy_ns, ps->busy_ns),
        .busy = delta(hs->busy_ns, ps->busy_ns),
        .total = delta(hs->total_ns, ps->total_ns),
        .model = !host_measured(&pd->host),
        .model_idle_watts = pd->host_opts.estimate_idle_watts,
        .model_max_watts = pd->host_opts.estimate_max_watts,
        .nzones = nz, .zones = zin, .nvms = vms->len, .vms = vin,
    };
    AttrOut out = { .zones = zout, .shares = shares, .vm_watts = watts };

    if (!pd->zone_parts_j) {
        pd->zone_parts_j = g_new0(AttrZoneEnergy, nz);
    }
    for (size_t z = 0; z < nz; z++) {
        r->zones[z].idle_uncertainty = 0;
        if (host_measured(&pd->host)) {
            zin[z].watts = (hs->energy_uj[z] - ps->energy_uj[z]) / 1e6 / dt;
            idle_for(pd, z, &zin[z], &r->zones[z]);
        }
    }
    for (guint i = 0; i < vms->len; i++) {
        Vm *vm = g_ptr_array_index(vms, i);

        vin[i].status = attr_status(vm->status);
        vin[i].rate = vm->rate;
        /*
         * what a failed VM probably used, for as long as the poller keeps
         * its last sample: after that, nothing is known of it
         */
        vin[i].last_rate = r->time - vm->last_ok_time <=
            MAX_GAP_INTERVALS * pd->interval_s ? vm->last_rate : 0;
    }
    if (!attr_interval(&in, &out)) {
        powerd_log_limited(LOG_WARNING, "interval", "an interval of %g s: "
                           "nothing attributed", dt);
    }
    warn_work_ratio(pd, &out, dt);

    r->interval_s = dt;
    r->activity = pd->unit_cycles ? out.host_rate : out.host_rate / 1e9;
    r->vm_work_ratio = out.work_ratio;
    for (size_t z = 0; z < nz; z++) {
        ReportZone *rz = &r->zones[z];
        AttrZoneEnergy *parts = &pd->zone_parts_j[z];

        if (host_measured(&pd->host)) {
            idle_model_add(&pd->idle_model[z], out.utilisation, zin[z].watts);
        }
        pd->zone_energy_j[z] += zout[z].watts * MAX(dt, 0);
        parts->idle_j += zout[z].idle_watts * MAX(dt, 0);
        parts->active_j += zout[z].active_watts * MAX(dt, 0);
        rz->name = pd->host.zone_names[z];
        rz->watts = zout[z].watts;
        rz->idle_watts = zout[z].idle_watts;
        rz->idle_method = attr_idle_method_name(host_measured(&pd->host) ?
                                                zin[z].idle_method :
                                                ATTR_IDLE_MODEL);
        rz->idle_estimated = host_measured(&pd->host) &&
            zin[z].idle_method != ATTR_IDLE_GIVEN;
        rz->active_watts = zout[z].active_watts;
        rz->unattributed_watts = zout[z].unattributed_watts;
        rz->other_watts = zout[z].other_watts;
        rz->energy_j = pd->zone_energy_j[z];
        rz->idle_energy_j = parts->idle_j;
        rz->active_energy_j = parts->active_j;
        for (guint i = 0; i < vms->len; i++) {
            Vm *vm = g_ptr_array_index(vms, i);

            vm->watts[z] = watts[z * vms->len + i];
            vm->energy_j[z] += vm->watts[z] * MAX(dt, 0);
        }
    }
    for (guint i = 0; i < vms->len; i++) {
        Vm *vm = g_ptr_array_index(vms, i);

        vm->share = shares[i];
        if (vm->status == VM_OK) {
            vm->last_rate = vm->rate;
            vm->last_ok_time = r->time;
        } else if (vm->status == VM_FAILED) {
            vm->errors++;
        }
    }
}

/*
 * Note this interval's totals in pd->state: a VM that goes and comes back
 * (a QEMU restarted) takes its energy from there.  The file is written
 * less often, by write_state().
 */
static void remember_state(Powerd *pd, GPtrArray *vms)
{
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;

    for (size_t z = 0; z < pd->host.nzones; z++) {
        g_autofree char *host = state_host_key(pd->host.zone_names[z]);

        state_set_energy(pd->state, host, pd->zone_energy_j[z], now);
        for (guint i = 0; i < vms->len; i++) {
            Vm *vm = g_ptr_array_index(vms, i);
            g_autofree char *key = state_vm_key(vm->name ? vm->name : vm->key,
                                                vm->uuid,
                                                pd->host.zone_names[z]);

            state_set_energy(pd->state, key, vm->energy_j[z], now);
        }
    }
}

/*
 * Write the state file, with the idle windows as they are now, after
 * forgetting the VMs gone longer than --state-keep.  A failure costs a
 * line (once a minute at most) and is tried again at the next time.
 */
static bool write_state(Powerd *pd)
{
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    Error *err = NULL;
    unsigned pruned;

    for (size_t z = 0; host_measured(&pd->host) && z < pd->host.nzones; z++) {
        state_set_idle(pd->state, pd->host.zone_names[z], &pd->idle_model[z]);
    }
    pruned = state_prune(pd->state, now - (int64_t)pd->state_keep_s);
    if (pruned) {
        powerd_log(LOG_INFO, "state: forgot %u entries of VMs not seen for "
                   "%g s (--state-keep)", pruned, pd->state_keep_s);
    }
    if (!state_save(pd->state_file, pd->state, &err)) {
        powerd_log_limited(LOG_ERR, "state-write", "%s",
                           error_get_pretty(err));
        error_free(err);
        return false;
    }
    return true;
}

static void print_report(Powerd *pd, Report *r, bool first)
{
    g_autofree char *out = NULL;

    switch (pd->format) {
    case FORMAT_TABLE:
        out = report_table(r);
        if (!pd->once && isatty(STDOUT_FILENO)) {
            fputs("\033[H\033[2J", stdout);
        } else if (!first) {
            fputc('\n', stdout);
        }
        break;
    case FORMAT_CSV:
        out = report_csv(r, first);
        break;
    default:
        out = report_json(r);
        break;
    }
    fputs(out, stdout);
    if (pd->format == FORMAT_JSON) {
        fputc('\n', stdout);
    }
    fflush(stdout);
}

/*
 * --idle-watts ZONE=W names a zone of this host: a misspelt one would
 * otherwise be ignored, and its zone estimated, without a word.
 */
static void check_idle_zones(Powerd *pd)
{
    g_autofree char *known = g_strjoinv(", ", pd->host.zone_names);
    GHashTableIter it;
    const char *zone;

    g_hash_table_iter_init(&it, pd->idle_cfg);
    while (g_hash_table_iter_next(&it, (gpointer *)&zone, NULL)) {
        if (!*zone) {
            continue;
        }
        if (!host_measured(&pd->host)) {
            usage_error("--idle-watts %s=: with --energy-source estimate "
                        "there are no zones; give the watts alone", zone);
        }
        if (!g_strv_contains((const char *const *)pd->host.zone_names,
                             zone)) {
            usage_error("--idle-watts: this host has no zone '%s' (its "
                        "zones: %s)", zone, known);
        }
    }
}

static void setup(Powerd *pd)
{
    Error *err = NULL;

    if (!host_open(&pd->host, &pd->host_opts, &err)) {
        die(EXIT_NO_ENERGY, err);
    }
    pd->zone_energy_j = g_new0(double, pd->host.nzones);
    pd->idle_model = g_new0(IdleModel, pd->host.nzones);
    check_idle_zones(pd);
    if (pd->state_file) {
        pd->state = state_load(pd->state_file,
                               g_get_real_time() / G_USEC_PER_SEC, &err);
        if (!pd->state) {
            die(EXIT_NO_FILE, err);
        }
        for (size_t z = 0; z < pd->host.nzones; z++) {
            g_autofree char *key = state_host_key(pd->host.zone_names[z]);

            state_get_energy(pd->state, key, &pd->zone_energy_j[z]);
            /* the estimate is there at once, as it was at the stop */
            if (host_measured(&pd->host)) {
                state_get_idle(pd->state, pd->host.zone_names[z],
                               &pd->idle_model[z]);
            }
        }
    }
    if (!poller_start(pd, &err)) {
        die(EXIT_NO_LIBVIRT, err);
    }
    if (pd->cap_cfg.cap_watts) {
        pd->cap = power_cap_new(&pd->cap_cfg, pd->host.zone_names,
                                pd->host.nzones, pd->host.helper,
                                pd->lvpool, &err);
        if (!pd->cap) {
            die(EXIT_BAD_OPTIONS, err);
        }
    }
    if (pd->json_log) {
        pd->json_log_file = fopen(pd->json_log, "ae");
        if (!pd->json_log_file) {
            error_setg_errno(&err, errno, "Could not open '%s'",
                             pd->json_log);
            die(EXIT_NO_FILE, err);
        }
    }
    if (pd->listen) {
        pd->httpd = httpd_start(pd->listen, &err);
        if (!pd->httpd) {
            die(EXIT_BAD_OPTIONS, err);
        }
    }
    signal(SIGPIPE, SIG_IGN);
}

/*
 * The start of the next round: the next multiple of the interval, when
 * the VMs that push samples take them, so that the host is measured
 * over the same interval as they are.
 */
static int64_t first_round(Powerd *pd)
{
    int64_t step = poller_step_us(pd);

    return (g_get_monotonic_time() / step + 1) * step;
}

/* Sleep until @when (monotonic microseconds), or SIGINT or SIGTERM. */
static void wait_until(int64_t when)
{
    int64_t step = powerd_watchdog_step_us();

    while (!powerd_stop) {
        int64_t left = when - g_get_monotonic_time();
        int64_t nap = step ? MIN(left, step) : left;
        struct timespec ts = {
            .tv_sec = nap / G_USEC_PER_SEC,
            .tv_nsec = nap % G_USEC_PER_SEC * 1000,
        };

        /* however long the interval, the watchdog hears from us */
        powerd_watchdog();
        if (left <= 0) {
            return;
        }
        nanosleep(&ts, NULL);   /* a signal ends it early */
    }
}

/* One line for systemctl status: how the last interval went. */
static void notify_interval(Powerd *pd, Report *r, GPtrArray *vms)
{
    GString *zones = g_string_new("");
    unsigned failed = 0;

    for (guint i = 0; i < vms->len; i++) {
        failed += ((Vm *)g_ptr_array_index(vms, i))->status == VM_FAILED;
    }
    for (size_t z = 0; z < r->nzones && z < 3; z++) {
        g_string_append_printf(zones, ", %s %.1f W", r->zones[z].name,
                               r->zones[z].watts);
    }
    powerd_notify_status("%u VMs (%u failed)%s%s", vms->len, failed,
                         zones->str, r->nzones > 3 ? ", ..." : "");
    g_string_free(zones, true);
}

static void silent(void *opaque, virErrorPtr err)
{
    /* errors are read with virGetLastErrorMessage() where they matter */
}

/*
 * Static: a worker stuck in a hung QEMU may still touch it while the
 * process exits.
 */
static Powerd pd;

int main(int argc, char **argv)
{
    pd = (Powerd) {
        .qmp_patterns = g_ptr_array_new_with_free_func(g_free),
        .interval_s = 1,
        .lease_s = 300,
        .state_interval_s = STATE_INTERVAL_S,
        .state_keep_s = STATE_KEEP_S,
        .host_opts.energy_source = HOST_ENERGY__MAX,
        .cap_cfg = { 0 },
        .idle_cfg = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          g_free),
        .vms = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                     (GDestroyNotify)vm_free),
    };
    struct sigaction sa = { .sa_handler = on_signal };
    int64_t next, state_due;
    long reports = 0;
    int status = 0;

    powerd_log_init();
    power_cap_config_init(&pd.cap_cfg);
    parse_options(&pd, argc, argv);
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    if (virInitialize() < 0) {
        powerd_log(LOG_ERR, "could not initialise libvirt");
        return EXIT_NO_LIBVIRT;
    }
    virSetErrorFunc(NULL, silent);
    g_mutex_init(&pd.lock);
    g_cond_init(&pd.cond);
    setup(&pd);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL);

    /*
     * Ready once everything that can fail at start has been checked (the
     * host's energy, libvirt, the state file, the listening socket), not
     * after the first interval: that starts at the next multiple of
     * --interval, up to an hour away, past any TimeoutStartSec=.
     */
    powerd_notify_ready();
    powerd_notify_status("waiting for the first interval");
    state_due = g_get_monotonic_time() + pd.state_interval_s * G_USEC_PER_SEC;
    next = pd.once ? g_get_monotonic_time() : first_round(&pd);
    wait_until(next);
    while (!powerd_stop) {
        HostSample hs = { 0 };
        Error *err = NULL;
        g_autoptr(GPtrArray) vms = poller_round(&pd, &hs, &err);

        /*
         * no number: 0 W for every VM would be a wrong one.  --once has
         * one interval to tell, and says first that it found no VM.
         */
        if (vms && !(pd.once && !vms->len) &&
            !host_energy_check(&pd.host, &hs, pd.once ? 0 :
                               HOST_ENERGY_STALL_S * G_USEC_PER_SEC, &err)) {
            powerd_log(LOG_ERR, "%s", error_get_pretty(err));
            error_free(err);
            host_sample_clear(&hs);
            status = EXIT_NO_ENERGY;
            break;
        }
        if (!vms) {
            /* the host could not be measured: no interval to report */
            powerd_log_limited(LOG_ERR, "host-sample", "%s",
                               error_get_pretty(err));
            powerd_notify_status("the host could not be measured: %s",
                                 error_get_pretty(err));
            if (pd.cap) {
                power_cap_missing(pd.cap, error_get_pretty(err));
            }
            error_free(err);
            pd.have_prev_host = false;
        } else if (pd.have_prev_host &&
                   (!pd.unit_cycles || pd.prev_host.has_cycles)) {
            /*
             * (host cycles are counted from the round after the first
             * cycle-counting VM answered: no interval before that)
             */
            g_autofree ReportZone *zones = g_new0(ReportZone,
                                                  pd.host.nzones);
            Report r = {
                .time = hs.real_us / 1e6,       /* of the second sample */
                .energy_source = host_energy_label(&pd.host),
                .host_work = host_work_label(&pd.host),
                .estimated = !host_measured(&pd.host),
                .counter_unit = !pd.unit_known ? NULL :
                    pd.unit_cycles ? "cycles" : "nanoseconds",
                .poll_s = pd.poll_s,
                .libvirt = pd.watch != NULL,
                .libvirt_lists = lvwatch_lists(pd.watch),
                .nzones = pd.host.nzones,
                .zones = zones,
                .vms = vms,
            };

            if (pd.once && !vms->len) {
                powerd_log(LOG_ERR, "no VM found");
                return EXIT_NO_VM;
            }
            attribute(&pd, vms, &hs, &r);
            if (pd.cap) {
                power_cap_interval(pd.cap, &r, vms,
                                   delta(hs.busy_ns, pd.prev_host.busy_ns) /
                                   1e9 / r.interval_s);
            }
            print_report(&pd, &r, reports == 0);
            if (pd.json_log_file) {
                g_autofree char *line = report_json(&r);

                fprintf(pd.json_log_file, "%s\n", line);
                fflush(pd.json_log_file);
            }
            if (pd.httpd) {
                httpd_set_metrics(pd.httpd, report_metrics(&r));
            }
            notify_interval(&pd, &r, vms);
            if (pd.state) {
                remember_state(&pd, vms);
                if (g_get_monotonic_time() >= state_due) {
                    write_state(&pd);
                    state_due += pd.state_interval_s * G_USEC_PER_SEC;
                    if (state_due <= g_get_monotonic_time()) {
                        state_due = g_get_monotonic_time() +
                            pd.state_interval_s * G_USEC_PER_SEC;
                    }
                }
            }
            reports++;
            if (pd.once || (pd.count && reports >= pd.count)) {
                host_sample_clear(&hs);
                break;
            }
        }
        if (vms) {
            host_sample_clear(&pd.prev_host);
            pd.prev_host = hs;
            pd.have_prev_host = true;
        }
        next += poller_step_us(&pd);
        if (next < g_get_monotonic_time()) {
            next = first_round(&pd);    /* a late round: skip to the next */
        }
        wait_until(next);
    }
    powerd_notify_stopping();
    power_cap_stop(pd.cap);
    poller_stop_sampling(&pd);
    httpd_stop(pd.httpd);
    fflush(stdout);
    if (pd.json_log_file) {
        fclose(pd.json_log_file);
    }
    /* the last interval's totals, whatever --state-interval says */
    if (pd.state && !write_state(&pd)) {
        status = EXIT_NO_FILE;
    }
    /*
     * A worker stuck in a hung QEMU cannot be joined: leave without
     * running exit handlers under its feet.
     */
    _exit(status);
}

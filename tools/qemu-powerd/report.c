/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: output formats.
 */

#include "qemu/osdep.h"
#include <math.h>
#include "json-out.h"
#include "report.h"

static const char *vm_status_name(VmStatus s)
{
    static const char *const names[] = {
        [VM_NEW] = "new", [VM_OK] = "ok", [VM_FAILED] = "failed",
    };

    return names[s];
}

static const char *vm_mode_name(VmMode m)
{
    static const char *const names[] = {
        [VM_MODE_SETUP] = "setup", [VM_MODE_CHANNEL] = "channel",
        [VM_MODE_EVENT] = "event",
        [VM_MODE_POLL] = "poll", [VM_MODE_STOCK] = "stock",
    };

    return names[m];
}

/*
 * @s as a Prometheus label value: the text format knows only three escapes
 * (backslash, double quote, newline); every other character, control
 * characters included, stands as itself in UTF-8 (a JSON-style escape
 * of a tab makes the whole scrape invalid).
 */
void report_label(GString *out, const char *s)
{
    g_autofree char *valid = g_utf8_make_valid(s, -1);

    g_string_append_c(out, '"');
    for (const char *p = valid; *p; p++) {
        if (*p == '"' || *p == '\\') {
            g_string_append_printf(out, "\\%c", *p);
        } else if (*p == '\n') {
            g_string_append(out, "\\n");
        } else {
            g_string_append_c(out, *p);
        }
    }
    g_string_append_c(out, '"');
}

/* A number, or null for one that is not known (not finite). */
static void json_number_or_null(GString *o, double v)
{
    if (isfinite(v)) {
        json_append_number(o, v);
    } else {
        g_string_append(o, "null");
    }
}

char *report_json(const Report *r)
{
    GString *o = g_string_new("{\"time\": ");

    json_append_number(o, r->time);
    g_string_append(o, ", \"interval_s\": ");
    json_append_number(o, r->interval_s);
    g_string_append(o, ", \"poll_s\": ");
    json_append_number(o, r->poll_s);
    if (r->libvirt) {
        g_string_append_printf(o, ", \"libvirt_lists\": %" PRIu64,
                               r->libvirt_lists);
    }
    g_string_append(o, ", \"energy_source\": ");
    json_append_string(o, r->energy_source);
    g_string_append(o, ", \"host_work_source\": ");
    json_append_string(o, r->host_work ? r->host_work : "proc-stat");
    g_string_append_printf(o, ", \"estimated\": %s, \"counter_unit\": ",
                           r->estimated ? "true" : "false");
    if (r->counter_unit) {
        json_append_string(o, r->counter_unit);
    } else {
        g_string_append(o, "null");
    }
    g_string_append(o, ", \"vm_work_ratio\": ");
    json_number_or_null(o, r->vm_work_ratio);
    g_string_append(o, ", \"host\": {\"activity\": ");
    json_append_number(o, r->activity);
    g_string_append(o, ", \"zones\": [");
    for (size_t z = 0; z < r->nzones; z++) {
        const ReportZone *rz = &r->zones[z];

        g_string_append(o, z ? ", {\"zone\": " : "{\"zone\": ");
        json_append_string(o, rz->name);
        g_string_append(o, ", \"watts\": ");
        json_append_number(o, rz->watts);
        g_string_append(o, ", \"idle_watts\": ");
        json_append_number(o, rz->idle_watts);
        g_string_append_printf(o, ", \"idle_estimated\": %s, "
                               "\"idle_method\": ",
                               rz->idle_estimated ? "true" : "false");
        json_append_string(o, rz->idle_method);
        g_string_append(o, ", \"idle_uncertainty_watts\": ");
        json_append_number(o, rz->idle_uncertainty);
        g_string_append(o, ", \"active_watts\": ");
        json_append_number(o, rz->active_watts);
        g_string_append(o, ", \"unattributed_watts\": ");
        json_append_number(o, rz->unattributed_watts);
        g_string_append(o, ", \"other_watts\": ");
        json_append_number(o, rz->other_watts);
        g_string_append(o, ", \"energy_joules\": ");
        json_append_number(o, rz->energy_j);
        g_string_append(o, ", \"idle_energy_joules\": ");
        json_append_number(o, rz->idle_energy_j);
        g_string_append(o, ", \"active_energy_joules\": ");
        json_append_number(o, rz->active_energy_j);
        g_string_append(o, "}");
    }
    g_string_append(o, "]}, \"vms\": [");
    for (guint i = 0; i < r->vms->len; i++) {
        const Vm *vm = g_ptr_array_index(r->vms, i);

        g_string_append(o, i ? ", {\"name\": " : "{\"name\": ");
        json_append_string(o, vm->name ? vm->name : vm->key);
        g_string_append(o, ", \"uuid\": ");
        json_append_string(o, vm->uuid);
        if (vm->socket_path) {
            g_string_append(o, ", \"socket\": ");
            json_append_string(o, vm->socket_path);
        }
        g_string_append(o, ", \"status\": ");
        json_append_string(o, vm_status_name(vm->status));
        g_string_append(o, ", \"mode\": ");
        json_append_string(o, vm_mode_name(vm->mode));
        if (vm->status == VM_FAILED) {
            g_string_append(o, ", \"error\": ");
            json_append_string(o, vm->status_error ? vm->status_error : "");
        }
        if (vm->prev.source) {
            g_string_append(o, ", \"counter_source\": ");
            json_append_string(o, vm->prev.source);
            g_string_append_printf(o, ", \"counter_kernel_excluded\": %s",
                                   vm->prev.kernel_excluded ? "true" :
                                   "false");
        }
        g_string_append(o, ", \"last_ok_time\": ");
        json_number_or_null(o, vm->last_ok_time > 0 ? vm->last_ok_time : NAN);
        g_string_append_printf(o, ", \"errors\": %" PRIu64, vm->errors);
        g_string_append(o, ", \"share\": ");
        json_append_number(o, vm->share);
        g_string_append(o, ", \"zones\": [");
        for (size_t z = 0; z < r->nzones; z++) {
            g_string_append(o, z ? ", {\"zone\": " : "{\"zone\": ");
            json_append_string(o, r->zones[z].name);
            g_string_append(o, ", \"watts\": ");
            json_append_number(o, vm->watts[z]);
            g_string_append(o, ", \"energy_joules\": ");
            json_append_number(o, vm->energy_j[z]);
            g_string_append(o, "}");
        }
        g_string_append(o, "]}");
    }
    g_string_append(o, "]");
    if (r->power_cap_json) {
        g_string_append_printf(o, ", \"power-cap\": %s", r->power_cap_json);
    }
    g_string_append(o, "}");
    return g_string_free(o, false);
}

char *report_table(const Report *r)
{
    GString *o = g_string_new("");
    char ratio[32] = "-";

    if (isfinite(r->vm_work_ratio)) {
        g_snprintf(ratio, sizeof(ratio), "%.3f", r->vm_work_ratio);
    }
    g_string_append_printf(o, "energy: %s%s   counters: %s   interval: "
                           "%.2f s   host activity: %.2f %s   "
                           "VMs' work / host's: %s\n",
                           r->energy_source,
                           r->estimated ? " (ESTIMATE, no RAPL)" : "",
                           r->counter_unit ? r->counter_unit : "-",
                           r->interval_s,
                           r->counter_unit &&
                           !strcmp(r->counter_unit, "cycles") ?
                           r->activity / 1e9 : r->activity,
                           r->counter_unit &&
                           !strcmp(r->counter_unit, "cycles") ?
                           "Gcycles/s" : "CPUs", ratio);
    for (size_t z = 0; z < r->nzones; z++) {
        const ReportZone *rz = &r->zones[z];

        g_string_append_printf(o, "%-12s %8.2f W = idle %.2f W (%s) + VMs "
                               "%.2f W + unattributed %.2f W + other %.2f W"
                               "   (%.1f J)\n",
                               rz->name, rz->watts, rz->idle_watts,
                               rz->idle_method,
                               rz->active_watts - rz->unattributed_watts -
                               rz->other_watts, rz->unattributed_watts,
                               rz->other_watts, rz->energy_j);
    }
    g_string_append_printf(o, "\n%-20s %-7s %7s", "VM", "STATUS", "SHARE");
    for (size_t z = 0; z < r->nzones; z++) {
        g_string_append_printf(o, " %12.12s W", r->zones[z].name);
    }
    g_string_append_printf(o, " %12s\n", r->nzones ? "ENERGY J" : "");
    for (guint i = 0; i < r->vms->len; i++) {
        const Vm *vm = g_ptr_array_index(r->vms, i);

        g_string_append_printf(o, "%-20.20s %-7s %6.1f%%",
                               vm->name ? vm->name : vm->key,
                               vm_status_name(vm->status), 100 * vm->share);
        for (size_t z = 0; z < r->nzones; z++) {
            g_string_append_printf(o, " %14.2f", vm->watts[z]);
        }
        g_string_append_printf(o, " %12.1f", r->nzones ? vm->energy_j[0] :
                               0.0);
        if (vm->status == VM_FAILED) {
            g_string_append_printf(o, "  (%s)", vm->status_error);
        } else if (vm->mode == VM_MODE_STOCK) {
            g_string_append(o, "  (stock QEMU: its CPU time from /proc)");
        }
        g_string_append_c(o, '\n');
    }
    return g_string_free(o, false);
}

char *report_csv(const Report *r, bool header)
{
    GString *o = g_string_new(header ?
                              "time,vm,uuid,zone,watts,share,energy_joules,"
                              "mode\n" :
                              "");

    for (guint i = 0; i < r->vms->len; i++) {
        const Vm *vm = g_ptr_array_index(r->vms, i);

        for (size_t z = 0; z < r->nzones; z++) {
            json_append_number(o, r->time);
            g_string_append_c(o, ',');
            json_append_string(o, vm->name ? vm->name : vm->key);
            g_string_append_c(o, ',');
            json_append_string(o, vm->uuid);
            g_string_append_printf(o, ",%s,", r->zones[z].name);
            json_append_number(o, vm->watts[z]);
            g_string_append_c(o, ',');
            json_append_number(o, vm->share);
            g_string_append_c(o, ',');
            json_append_number(o, vm->energy_j[z]);
            g_string_append_printf(o, ",%s\n", vm_mode_name(vm->mode));
        }
    }
    return g_string_free(o, false);
}

void report_metric_head(GString *o, const char *name, const char *type,
                        const char *help)
{
    g_string_append_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                           name, type);
}

/*
 * Two QMP VMs may have the same -name and no uuid (or the same one): the
 * socket, unique by construction, tells their series apart.  Every QMP VM
 * has it, so that a VM's series do not change when a twin appears.
 */
static void vm_labels(GString *o, const Vm *vm)
{
    g_string_append(o, "{vm=");
    report_label(o, vm->name ? vm->name : vm->key);
    g_string_append(o, ",uuid=");
    report_label(o, vm->uuid);
    if (vm->socket_path) {
        g_string_append(o, ",socket=");
        report_label(o, vm->socket_path);
    }
}

static double vm_up(const Vm *vm)
{
    return vm->status != VM_FAILED;
}

static double vm_share(const Vm *vm)
{
    return vm->share;
}

/* No sample yet: nothing known, no series. */
static double vm_kernel_excluded(const Vm *vm)
{
    return vm->prev.source ? vm->prev.kernel_excluded : NAN;
}

/* Never measured: no series rather than 1970. */
static double vm_last_ok(const Vm *vm)
{
    return vm->last_ok_time > 0 ? vm->last_ok_time : NAN;
}

static double vm_errors(const Vm *vm)
{
    return vm->errors;
}

/* A number as the text format writes it: NaN is a value there. */
static void metric_value(GString *o, double v)
{
    if (isnan(v)) {
        g_string_append(o, "NaN");
    } else {
        json_append_number(o, v);
    }
}

/* One value per VM; a VM whose value is NaN has no series. */
static void vm_metric(GString *o, const Report *r, const char *name,
                      const char *type, const char *help,
                      double (*value)(const Vm *))
{
    report_metric_head(o, name, type, help);
    for (guint i = 0; i < r->vms->len; i++) {
        const Vm *vm = g_ptr_array_index(r->vms, i);

        if (isnan(value(vm))) {
            continue;
        }
        g_string_append(o, name);
        vm_labels(o, vm);
        g_string_append(o, "} ");
        json_append_number(o, value(vm));
        g_string_append_c(o, '\n');
    }
}

char *report_metrics(const Report *r)
{
    GString *o = g_string_new("");
    static const struct {
        const char *name, *type, *help;
        size_t offset;
    } host_metrics[] = {
        { "qemu_power_host_watts", "gauge", "Measured power of the zone.",
          offsetof(ReportZone, watts) },
        { "qemu_power_host_idle_watts", "gauge", "Idle power of the zone.",
          offsetof(ReportZone, idle_watts) },
        { "qemu_power_host_active_watts", "gauge",
          "Power of the zone above its idle power.",
          offsetof(ReportZone, active_watts) },
        { "qemu_power_host_other_watts", "gauge",
          "Active power of the zone used outside the VMs.",
          offsetof(ReportZone, other_watts) },
        { "qemu_power_host_unattributed_watts", "gauge",
          "Active power estimated to be of VMs that were not measured.",
          offsetof(ReportZone, unattributed_watts) },
        { "qemu_power_host_energy_joules_total", "counter",
          "Energy of the zone since qemu-powerd started.",
          offsetof(ReportZone, energy_j) },
        { "qemu_power_host_idle_joules_total", "counter",
          "Idle energy of the zone since qemu-powerd started.",
          offsetof(ReportZone, idle_energy_j) },
        { "qemu_power_host_active_joules_total", "counter",
          "Active energy of the zone since qemu-powerd started.",
          offsetof(ReportZone, active_energy_j) },
    };

    report_metric_head(o, "qemu_power_info", "gauge",
                "Where the numbers come from (always 1).");
    g_string_append(o, "qemu_power_info{energy_source=");
    report_label(o, r->energy_source);
    g_string_append(o, ",counter_unit=");
    report_label(o, r->counter_unit ? r->counter_unit : "");
    g_string_append_printf(o, ",estimated=\"%s\"} 1\n",
                           r->estimated ? "true" : "false");

    for (int m = 0; m < ARRAY_SIZE(host_metrics); m++) {
        report_metric_head(o, host_metrics[m].name, host_metrics[m].type,
                    host_metrics[m].help);
        for (size_t z = 0; z < r->nzones; z++) {
            g_string_append_printf(o, "%s{zone=", host_metrics[m].name);
            report_label(o, r->zones[z].name);
            g_string_append(o, "} ");
            json_append_number(o, *(double *)((char *)&r->zones[z] +
                                      host_metrics[m].offset));
            g_string_append_c(o, '\n');
        }
    }

    report_metric_head(o, "qemu_power_build_info", "gauge",
                "The qemu-powerd that serves this page (always 1).");
    g_string_append(o, "qemu_power_build_info{version=");
    report_label(o, QEMU_VERSION);
    g_string_append(o, "} 1\n");

    report_metric_head(o, "qemu_power_last_update_timestamp_seconds", "gauge",
                "Unix time of the interval these numbers are of.");
    g_string_append(o, "qemu_power_last_update_timestamp_seconds ");
    json_append_number(o, r->time);
    g_string_append_c(o, '\n');

    report_metric_head(o, "qemu_power_vm_work_ratio", "gauge",
                "The measured VMs' work over the host's in the last interval "
                "(above 1: shares scaled down to fit; NaN: no host work).");
    g_string_append(o, "qemu_power_vm_work_ratio ");
    metric_value(o, r->vm_work_ratio);
    g_string_append_c(o, '\n');

    report_metric_head(o, "qemu_power_poll_duration_seconds", "gauge",
                "How long the last poll of all VMs took.");
    g_string_append(o, "qemu_power_poll_duration_seconds ");
    json_append_number(o, r->poll_s);
    g_string_append_c(o, '\n');

    if (r->libvirt) {
        report_metric_head(o, "qemu_power_libvirt_lists_total", "counter",
                    "Times libvirt's domains were listed: when its lifecycle "
                    "events said they changed, or once a minute.");
        g_string_append_printf(o, "qemu_power_libvirt_lists_total %" PRIu64
                               "\n", r->libvirt_lists);
    }

    report_metric_head(o, "qemu_power_vm_info", "gauge",
                "How the VM is measured (always 1): mode \"stock\" is a QEMU "
                "without query-power, measured from its CPU time in /proc.");
    for (guint i = 0; i < r->vms->len; i++) {
        const Vm *vm = g_ptr_array_index(r->vms, i);

        g_string_append(o, "qemu_power_vm_info");
        vm_labels(o, vm);
        g_string_append_printf(o, ",mode=\"%s\",counter_source=",
                               vm_mode_name(vm->mode));
        report_label(o, vm->prev.source ? vm->prev.source : "");
        g_string_append(o, "} 1\n");
    }
    vm_metric(o, r, "qemu_power_vm_up", "gauge",
              "1 if the VM answered the last poll.", vm_up);
    vm_metric(o, r, "qemu_power_vm_share_ratio", "gauge",
              "The VM's share of the host's work.", vm_share);
    vm_metric(o, r, "qemu_power_vm_last_success_timestamp_seconds", "gauge",
              "Unix time of the last interval the VM was measured in.",
              vm_last_ok);
    vm_metric(o, r, "qemu_power_vm_errors_total", "counter",
              "Intervals the VM was not measured in.", vm_errors);
    vm_metric(o, r, "qemu_power_vm_kernel_work_excluded", "gauge",
              "1 if the VM's counter misses kernel work (its share is "
              "too small).", vm_kernel_excluded);
    for (int energy = 0; energy < 2; energy++) {
        const char *name = energy ? "qemu_power_vm_energy_joules_total" :
            "qemu_power_vm_watts";

        report_metric_head(o, name, energy ? "counter" : "gauge", energy ?
                    "Energy attributed to the VM since qemu-powerd started." :
                    "Power attributed to the VM over the last interval.");
        for (guint i = 0; i < r->vms->len; i++) {
            const Vm *vm = g_ptr_array_index(r->vms, i);

            /* a VM that did not answer has no power, not 0 W */
            if (!energy && vm->status != VM_OK) {
                continue;
            }
            for (size_t z = 0; z < r->nzones; z++) {
                g_string_append(o, name);
                vm_labels(o, vm);
                g_string_append(o, ",zone=");
                report_label(o, r->zones[z].name);
                g_string_append(o, "} ");
                json_append_number(o, energy ? vm->energy_j[z] : vm->watts[z]);
                g_string_append_c(o, '\n');
            }
        }
    }
    if (r->power_cap_metrics) {
        g_string_append(o, r->power_cap_metrics);
    }
    return g_string_free(o, false);
}

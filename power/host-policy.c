/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QMP commands that show and change host power policy: cpufreq,
 * intel_pstate and RAPL power limits.  QEMU writes no host file: it
 * passes each request to qemu-power-helper, which validates it in full
 * against the knob's own limits before the first write, arbitrates
 * between VMs and reports what the host applied.  Changes also need a
 * host-power object with allow-policy=on: the helper decides what this
 * QEMU's user may do, the object what a QMP client of this VM may ask.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-power.h"
#include "qapi/qapi-events-power.h"
#include "qapi/qapi-visit-power.h"
#include "qapi/qobject-input-visitor.h"
#include "qapi/qobject-output-visitor.h"
#include "qapi/visitor.h"
#include "qobject/qobject.h"
#include "power-internal.h"

/* The helper to ask for a policy change, or NULL with @errp set. */
static PowerHelper *policy_helper(Error **errp)
{
    PowerHelper *h;

    if (!power_policy_allowed(errp)) {
        return NULL;
    }
    h = power_helper();
    if (!h) {
        error_setg(errp, "Changing host power policy needs "
                   "qemu-power-helper: add helper=PATH to the host-power "
                   "object");
    }
    return h;
}

typedef bool (*VisitMembers)(Visitor *, void *, Error **);
typedef bool (*VisitValue)(Visitor *, const char *, void **, Error **);

/*
 * Ask the helper @cmd with @args (NULL: none) and visit its reply into
 * *@result with @visit_reply.  False with @errp set when the helper
 * failed or refused, or its reply is not what @cmd returns.
 */
static bool ask(PowerHelper *h, const char *cmd, QDict *args,
                VisitValue visit_reply, void **result, Error **errp)
{
    QObject *ret = power_helper_call(h, cmd, args, errp);
    Visitor *v;
    bool ok;

    qobject_unref(args);
    if (!ret) {
        return false;
    }
    v = qobject_input_visitor_new(ret);
    ok = visit_reply(v, NULL, result, errp);
    if (!ok) {
        error_prepend(errp, "qemu-power-helper at '%s' sent a bad reply to "
                      "'%s': ", power_helper_path(h), cmd);
    }
    visit_free(v);
    qobject_unref(ret);
    return ok;
}

/* The policy change @cmd with the arguments @arg, as @visit_args has them. */
static bool ask_change(const char *cmd, void *arg, VisitMembers visit_args,
                       VisitValue visit_reply, void **result, Error **errp)
{
    PowerHelper *h = policy_helper(errp);
    QObject *obj = NULL;
    Visitor *v;

    if (!h) {
        return false;
    }
    v = qobject_output_visitor_new(&obj);
    visit_start_struct(v, NULL, NULL, 0, &error_abort);
    visit_args(v, arg, &error_abort);
    visit_check_struct(v, &error_abort);
    visit_end_struct(v, NULL);
    visit_complete(v, &obj);
    visit_free(v);
    return ask(h, cmd, qobject_to(QDict, obj), visit_reply, result, errp);
}

HostPowerPolicy *qmp_query_host_power_policy(Error **errp)
{
    PowerHelper *h = power_helper();
    HostPowerPolicy *policy = NULL;

    if (!h) {
        /* what QEMU cannot see is reported absent, with the reason */
        policy = g_new0(HostPowerPolicy, 1);
        policy->allowed = power_object_allows_policy();
        policy->cpufreq_unavailable = g_strdup(POWER_NO_HELPER);
        policy->pstate_unavailable = g_strdup(POWER_NO_HELPER);
        policy->zones_unavailable = g_strdup(POWER_NO_HELPER);
        return policy;
    }
    if (ask(h, "query-host-power-policy", NULL,
            (VisitValue)visit_type_HostPowerPolicy, (void **)&policy,
            errp) &&
        !power_object_allows_policy()) {
        /* the helper's answer is about this QEMU's user, not this VM */
        policy->allowed = false;
    }
    return policy;
}

HostCpufreqInfoList *qmp_set_host_cpufreq(bool has_cpus, uint32List *cpus,
                                          const char *governor,
                                          bool has_frequency_khz,
                                          uint64_t frequency_khz,
                                          bool has_min_khz, uint64_t min_khz,
                                          bool has_max_khz, uint64_t max_khz,
                                          Error **errp)
{
    q_obj_set_host_cpufreq_arg arg = {
        .has_cpus = has_cpus, .cpus = cpus,
        .governor = (char *)governor,
        .has_frequency_khz = has_frequency_khz,
        .frequency_khz = frequency_khz,
        .has_min_khz = has_min_khz, .min_khz = min_khz,
        .has_max_khz = has_max_khz, .max_khz = max_khz,
    };
    HostCpufreqInfoList *result = NULL;

    if (ask_change("set-host-cpufreq", &arg,
                   (VisitMembers)visit_type_q_obj_set_host_cpufreq_arg_members,
                   (VisitValue)visit_type_HostCpufreqInfoList,
                   (void **)&result, errp)) {
        HostPowerPolicyChanged ev = {
            .change = HOST_POWER_POLICY_CHANGE_CPUFREQ,
            .u.cpufreq.cpus = result,
        };

        qapi_event_send_host_power_policy_changed(&ev);
    }
    return result;
}

HostPstateInfo *qmp_set_host_pstate(bool has_max_perf_pct,
                                    uint64_t max_perf_pct,
                                    bool has_min_perf_pct,
                                    uint64_t min_perf_pct, Error **errp)
{
    q_obj_set_host_pstate_arg arg = {
        .has_max_perf_pct = has_max_perf_pct, .max_perf_pct = max_perf_pct,
        .has_min_perf_pct = has_min_perf_pct, .min_perf_pct = min_perf_pct,
    };
    HostPstateInfo *info = NULL;

    if (ask_change("set-host-pstate", &arg,
                   (VisitMembers)visit_type_q_obj_set_host_pstate_arg_members,
                   (VisitValue)visit_type_HostPstateInfo, (void **)&info,
                   errp)) {
        HostPowerPolicyChanged ev = {
            .change = HOST_POWER_POLICY_CHANGE_PSTATE,
            .u.pstate = *info,
        };

        qapi_event_send_host_power_policy_changed(&ev);
    }
    return info;
}

HostPowerZonePolicy *qmp_set_host_power_limit(const char *zone,
                                              const char *constraint,
                                              bool has_power_limit_uw,
                                              uint64_t power_limit_uw,
                                              bool has_time_window_us,
                                              uint64_t time_window_us,
                                              bool has_enabled, bool enabled,
                                              Error **errp)
{
    q_obj_set_host_power_limit_arg arg = {
        .zone = (char *)zone, .constraint = (char *)constraint,
        .has_power_limit_uw = has_power_limit_uw,
        .power_limit_uw = power_limit_uw,
        .has_time_window_us = has_time_window_us,
        .time_window_us = time_window_us,
        .has_enabled = has_enabled, .enabled = enabled,
    };
    HostPowerZonePolicy *zp = NULL;

    if (ask_change("set-host-power-limit", &arg,
                   (VisitMembers)
                   visit_type_q_obj_set_host_power_limit_arg_members,
                   (VisitValue)visit_type_HostPowerZonePolicy, (void **)&zp,
                   errp)) {
        HostPowerPolicyChanged ev = {
            .change = HOST_POWER_POLICY_CHANGE_ZONE,
            .u.zone = *zp,
        };

        qapi_event_send_host_power_policy_changed(&ev);
    }
    return zp;
}

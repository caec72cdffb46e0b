/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The host-power user-creatable object: how this instance accounts for
 * its work, which qemu-power-helper it asks for host energy and policy
 * changes, and whether it may ask for changes at all.
 *
 *   -object host-power,id=hp0[,counters=on][,counter-source=SOURCE]
 *           [,helper=PATH][,allow-policy=off][,restore-on-exit=on]
 *
 * Every property is fixed once the object is complete: what a QMP client
 * may do must not grow with a qom-set.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-types-power.h"
#include "qapi/qapi-visit-power.h"
#include "qom/object_interfaces.h"
#include "power-internal.h"

#define TYPE_HOST_POWER "host-power"
OBJECT_DECLARE_SIMPLE_TYPE(HostPower, HOST_POWER)

struct HostPower {
    Object parent_obj;

    bool counters;
    bool has_counter_source;
    PowerCounterSource counter_source;
    bool allow_policy;
    char *helper_path;
    bool restore_on_exit;
    bool complete;
    PowerHelper *helper;        /* with helper_path, once complete */
};

OBJECT_DEFINE_SIMPLE_TYPE_WITH_INTERFACES(HostPower, host_power, HOST_POWER,
                                          OBJECT, { TYPE_USER_CREATABLE },
                                          { })

/* The one host-power object of this instance, once complete. */
static HostPower *host_power;

PowerHelper *power_helper(void)
{
    return host_power ? host_power->helper : NULL;
}

bool power_policy_allowed(Error **errp)
{
    if (!host_power) {
        error_setg(errp, "Changing host power policy needs "
                   "-object host-power,id=ID,helper=PATH,allow-policy=on");
        return false;
    }
    if (!host_power->allow_policy) {
        error_setg(errp, "Host power policy changes are denied "
                   "(host-power object without allow-policy=on)");
        return false;
    }
    return true;
}

bool power_object_allows_policy(void)
{
    return host_power && host_power->allow_policy;
}

static bool host_power_settable(HostPower *hp, const char *name,
                                Error **errp)
{
    if (hp->complete) {
        error_setg(errp, "host-power property '%s' cannot be changed once "
                   "the object exists", name);
        return false;
    }
    return true;
}

static bool host_power_get_counters(Object *obj, Error **errp)
{
    return HOST_POWER(obj)->counters;
}

static void host_power_set_counters(Object *obj, bool value, Error **errp)
{
    if (host_power_settable(HOST_POWER(obj), "counters", errp)) {
        HOST_POWER(obj)->counters = value;
    }
}

static int host_power_get_counter_source(Object *obj, Error **errp)
{
    HostPower *hp = HOST_POWER(obj);

    if (!hp->has_counter_source) {
        error_setg(errp, "counter-source was not set; query-power names "
                   "the source in use");
        return -1;
    }
    return hp->counter_source;
}

static void host_power_set_counter_source(Object *obj, int value,
                                          Error **errp)
{
    HostPower *hp = HOST_POWER(obj);

    if (host_power_settable(hp, "counter-source", errp)) {
        hp->has_counter_source = true;
        hp->counter_source = value;
    }
}

static bool host_power_get_allow_policy(Object *obj, Error **errp)
{
    return HOST_POWER(obj)->allow_policy;
}

static void host_power_set_allow_policy(Object *obj, bool value,
                                        Error **errp)
{
    if (host_power_settable(HOST_POWER(obj), "allow-policy", errp)) {
        HOST_POWER(obj)->allow_policy = value;
    }
}

static char *host_power_get_helper(Object *obj, Error **errp)
{
    return g_strdup(HOST_POWER(obj)->helper_path ?: "");
}

static void host_power_set_helper(Object *obj, const char *value,
                                  Error **errp)
{
    HostPower *hp = HOST_POWER(obj);

    if (!host_power_settable(hp, "helper", errp) ||
        !power_helper_check_path(value, errp)) {
        return;
    }
    g_free(hp->helper_path);
    hp->helper_path = g_strdup(value);
}

static bool host_power_get_restore(Object *obj, Error **errp)
{
    return HOST_POWER(obj)->restore_on_exit;
}

static void host_power_set_restore(Object *obj, bool value, Error **errp)
{
    if (host_power_settable(HOST_POWER(obj), "restore-on-exit", errp)) {
        HOST_POWER(obj)->restore_on_exit = value;
    }
}

static void host_power_complete(UserCreatable *uc, Error **errp)
{
    HostPower *hp = HOST_POWER(uc);

    if (host_power) {
        error_setg(errp, "Only one host-power object may exist");
        return;
    }
    if (!hp->counters && hp->has_counter_source) {
        error_setg(errp, "host-power: counter-source needs counters=on");
        return;
    }
    if (!power_counters_configure(hp->counters, hp->has_counter_source,
                                  hp->counter_source, errp)) {
        return;
    }
    if (hp->helper_path) {
        /* connected on first need: the helper may start after QEMU */
        hp->helper = power_helper_new(hp->helper_path, !hp->restore_on_exit);
    }
    hp->complete = true;
    host_power = hp;
}

static void host_power_init(Object *obj)
{
    HostPower *hp = HOST_POWER(obj);

    hp->counters = true;
    /* an operator expects a VM's changes not to outlive the VM */
    hp->restore_on_exit = true;
}

static void host_power_finalize(Object *obj)
{
    HostPower *hp = HOST_POWER(obj);

    if (host_power == hp) {
        host_power = NULL;
    }
    /* object-del: the helper restores what this instance changed now */
    power_helper_free(hp->helper);
    g_free(hp->helper_path);
}

static void host_power_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = host_power_complete;
    object_class_property_add_bool(oc, "counters", host_power_get_counters,
                                   host_power_set_counters);
    object_class_property_set_description(oc, "counters",
        "Whether the work of this instance's threads is counted "
        "(default: on)");
    object_class_property_add_enum(oc, "counter-source",
                                   "PowerCounterSource",
                                   &PowerCounterSource_lookup,
                                   host_power_get_counter_source,
                                   host_power_set_counter_source);
    object_class_property_set_description(oc, "counter-source",
        "Counter of that work: cycles, task-clock or schedstat (default: "
        "the first that works and counts kernel work too)");
    object_class_property_add_bool(oc, "allow-policy",
                                   host_power_get_allow_policy,
                                   host_power_set_allow_policy);
    object_class_property_set_description(oc, "allow-policy",
        "Whether set-host-* commands may ask the helper to change host "
        "power policy (default: off)");
    object_class_property_add_str(oc, "helper", host_power_get_helper,
                                  host_power_set_helper);
    object_class_property_set_description(oc, "helper",
        "Absolute path of qemu-power-helper's socket, for host energy and "
        "host policy");
    object_class_property_add_bool(oc, "restore-on-exit",
                                   host_power_get_restore,
                                   host_power_set_restore);
    object_class_property_set_description(oc, "restore-on-exit",
        "Whether the helper puts back the host settings this instance "
        "changed when it disconnects (default on)");
}

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The host-power user-creatable object: how this instance accounts for
 * its work, and whether it may change host power policy.
 *
 *   -object host-power,id=hp0[,counters=auto][,policy=deny]
 *           [,sysfs-root=/sys][,restore-on-exit=off]
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-types-power.h"
#include "qapi/qapi-visit-power.h"
#include "qemu/error-report.h"
#include "qemu/host-sysfs.h"
#include "qom/object_interfaces.h"
#include "system/system.h"
#include "power-internal.h"

#define TYPE_HOST_POWER "host-power"
OBJECT_DECLARE_SIMPLE_TYPE(HostPower, HOST_POWER)

struct HostPower {
    Object parent_obj;

    PowerCounterMode counters;
    HostPowerPolicyMode policy;
    char *sysfs_root;
    bool restore_on_exit;
    HostSysfsUndo *undo;        /* with restore-on-exit */
    Notifier exit_notifier;
};

OBJECT_DEFINE_SIMPLE_TYPE_WITH_INTERFACES(HostPower, host_power, HOST_POWER,
                                          OBJECT, { TYPE_USER_CREATABLE },
                                          { })

/* The one host-power object of this instance, once complete. */
static HostPower *host_power;

const char *power_sysfs_root(void)
{
    return host_power ? host_power->sysfs_root : NULL;
}

bool power_policy_allowed(Error **errp)
{
    if (!host_power) {
        error_setg(errp, "Changing host power policy needs "
                   "-object host-power,id=ID,policy=allow");
        return false;
    }
    if (host_power->policy != HOST_POWER_POLICY_MODE_ALLOW) {
        error_setg(errp, "Host power policy changes are denied "
                   "(host-power object with policy=deny)");
        return false;
    }
    return true;
}

HostPowerPolicyMode power_policy_mode(void)
{
    return host_power ? host_power->policy : HOST_POWER_POLICY_MODE_DENY;
}

HostSysfsUndo *power_policy_undo(void)
{
    return host_power ? host_power->undo : NULL;
}

static int host_power_get_counters(Object *obj, Error **errp)
{
    return HOST_POWER(obj)->counters;
}

static void host_power_set_counters(Object *obj, int value, Error **errp)
{
    HOST_POWER(obj)->counters = value;
}

static int host_power_get_policy(Object *obj, Error **errp)
{
    return HOST_POWER(obj)->policy;
}

static void host_power_set_policy(Object *obj, int value, Error **errp)
{
    HOST_POWER(obj)->policy = value;
}

static char *host_power_get_sysfs_root(Object *obj, Error **errp)
{
    HostPower *hp = HOST_POWER(obj);

    return g_strdup(hp->sysfs_root ? hp->sysfs_root :
                    HOST_SYSFS_DEFAULT_ROOT);
}

static void host_power_set_sysfs_root(Object *obj, const char *value,
                                      Error **errp)
{
    HostPower *hp = HOST_POWER(obj);
    g_auto(GStrv) parts = g_strsplit(value, "/", -1);

    if (hp == host_power) {
        error_setg(errp, "sysfs-root can only be set at creation");
        return;
    }
    if (value[0] != '/' || g_strv_contains((const gchar *const *)parts,
                                           "..")) {
        error_setg(errp, "sysfs-root must be an absolute path without '..'");
        return;
    }
    g_free(hp->sysfs_root);
    hp->sysfs_root = g_strdup(value);
}

static bool host_power_get_restore(Object *obj, Error **errp)
{
    return HOST_POWER(obj)->restore_on_exit;
}

static void host_power_set_restore(Object *obj, bool value, Error **errp)
{
    HOST_POWER(obj)->restore_on_exit = value;
}

static void restore_report(Error *err)
{
    warn_report_err(err);
}

/* Put back every host setting this instance changed. */
static void host_power_restore(HostPower *hp)
{
    if (hp->undo && host_sysfs_undo_restore(hp->undo, restore_report)) {
        warn_report("host-power: some host settings could not be restored");
    }
}

static void host_power_exit(Notifier *n, void *data)
{
    host_power_restore(container_of(n, HostPower, exit_notifier));
}

static void host_power_complete(UserCreatable *uc, Error **errp)
{
    HostPower *hp = HOST_POWER(uc);

    if (host_power) {
        error_setg(errp, "Only one host-power object may exist");
        return;
    }
    if (hp->sysfs_root && !g_file_test(hp->sysfs_root, G_FILE_TEST_IS_DIR)) {
        error_setg(errp, "sysfs-root '%s' is not a directory",
                   hp->sysfs_root);
        return;
    }
    if (!power_counters_configure(hp->counters, errp)) {
        return;
    }
    if (hp->restore_on_exit) {
        hp->undo = host_sysfs_undo_new();
        hp->exit_notifier.notify = host_power_exit;
        qemu_add_exit_notifier(&hp->exit_notifier);
    }
    host_power = hp;
    power_host_energy_reset();
}

static void host_power_init(Object *obj)
{
    HostPower *hp = HOST_POWER(obj);

    hp->counters = POWER_COUNTER_MODE_AUTO;
    hp->policy = HOST_POWER_POLICY_MODE_DENY;
}

static void host_power_finalize(Object *obj)
{
    HostPower *hp = HOST_POWER(obj);

    if (host_power == hp) {
        host_power = NULL;
        power_host_energy_reset();
    }
    if (hp->undo) {
        /* object-del: what this object changed goes back now */
        qemu_remove_exit_notifier(&hp->exit_notifier);
        host_power_restore(hp);
        host_sysfs_undo_free(hp->undo);
    }
    g_free(hp->sysfs_root);
}

static void host_power_class_init(ObjectClass *oc, void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = host_power_complete;
    object_class_property_add_enum(oc, "counters", "PowerCounterMode",
                                   &PowerCounterMode_lookup,
                                   host_power_get_counters,
                                   host_power_set_counters);
    object_class_property_set_description(oc, "counters",
        "Counter of the vCPU threads' work: auto, cycles, task-clock, "
        "schedstat or off");
    object_class_property_add_enum(oc, "policy", "HostPowerPolicyMode",
                                   &HostPowerPolicyMode_lookup,
                                   host_power_get_policy,
                                   host_power_set_policy);
    object_class_property_set_description(oc, "policy",
        "Whether set-host-* commands may change host power policy: deny "
        "(default) or allow");
    object_class_property_add_str(oc, "sysfs-root",
                                  host_power_get_sysfs_root,
                                  host_power_set_sysfs_root);
    object_class_property_set_description(oc, "sysfs-root",
        "Directory that stands for the host's /sys (default /sys)");
    object_class_property_add_bool(oc, "restore-on-exit",
                                   host_power_get_restore,
                                   host_power_set_restore);
    object_class_property_set_description(oc, "restore-on-exit",
        "Put back every host setting this instance changed when QEMU exits");
}

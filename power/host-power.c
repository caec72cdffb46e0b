/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The host-power user-creatable object: how this instance accounts for
 * its work (-object host-power,id=hp0,counters=task-clock).
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

    PowerCounterMode counters;
};

OBJECT_DEFINE_SIMPLE_TYPE_WITH_INTERFACES(HostPower, host_power, HOST_POWER,
                                          OBJECT, { TYPE_USER_CREATABLE },
                                          { })

/* The one host-power object of this instance, once complete. */
static HostPower *host_power;

static int host_power_get_counters(Object *obj, Error **errp)
{
    return HOST_POWER(obj)->counters;
}

static void host_power_set_counters(Object *obj, int value, Error **errp)
{
    HOST_POWER(obj)->counters = value;
}

static void host_power_complete(UserCreatable *uc, Error **errp)
{
    HostPower *hp = HOST_POWER(uc);

    if (host_power) {
        error_setg(errp, "Only one host-power object may exist");
        return;
    }
    if (!power_counters_configure(hp->counters, errp)) {
        return;
    }
    host_power = hp;
}

static void host_power_init(Object *obj)
{
    HOST_POWER(obj)->counters = POWER_COUNTER_MODE_AUTO;
}

static void host_power_finalize(Object *obj)
{
    if (host_power == HOST_POWER(obj)) {
        host_power = NULL;
    }
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
}

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The host's RAPL energy counters as query-power and POWER_SAMPLE report
 * them: qemu-power-helper's totals.  QEMU reads no counter itself: the
 * helper runs as root (energy_uj is root's since CVE-2020-8694) and
 * samples on its own timer, so no wrap is lost between sparse queries.
 * Absent energy is never an error here: the snapshot says why instead,
 * so that the work counters of the same snapshot still reach the caller.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-visit-power.h"
#include "qapi/qobject-input-visitor.h"
#include "qapi/visitor.h"
#include "qobject/qobject.h"
#include "power-internal.h"

static PowerHostEnergy *unavailable(const char *why)
{
    PowerHostEnergy *out = g_new0(PowerHostEnergy, 1);

    out->reason = g_strdup(why);
    return out;
}

PowerHostEnergy *power_host_energy_snapshot(void)
{
    PowerHelper *h = power_helper();
    QObject *ret = NULL;
    PowerHostEnergy *out = NULL;
    Error *err = NULL;
    Visitor *v;

    if (!h) {
        return unavailable(POWER_NO_HELPER);
    }
    ret = power_helper_call(h, "query-energy", NULL, &err);
    if (!ret) {
        out = unavailable(error_get_pretty(err));
        error_free(err);
        return out;
    }
    v = qobject_input_visitor_new(ret);
    if (!visit_type_PowerHostEnergy(v, NULL, &out, &err)) {
        error_prepend(&err, "qemu-power-helper at '%s' sent a bad energy "
                      "reading: ", power_helper_path(h));
        out = unavailable(error_get_pretty(err));
        error_free(err);
    }
    visit_free(v);
    qobject_unref(ret);
    return out;
}

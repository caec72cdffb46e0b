/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-power-helper: the host power policy operations (cpufreq,
 * intel_pstate, RAPL power limits), validated in full before the first
 * write and read back after it.  Moved from QEMU's power/host-policy.c:
 * QEMU now asks the helper.
 */

#ifndef QEMU_POWER_HELPER_POLICY_H
#define QEMU_POWER_HELPER_POLICY_H

#include "qapi/qapi-types-power.h"
#include "qemu/host-sysfs.h"

/* The host's policy; @allowed: whether the asking peer may change it. */
HostPowerPolicy *policy_query(const char *root, bool allowed,
                              Error **errp);

/* Each writes through @undo, which records every file's value before. */
HostCpufreqInfoList *policy_set_cpufreq(const char *root,
                                        q_obj_set_host_cpufreq_arg *arg,
                                        HostSysfsUndo *undo, Error **errp);
HostPstateInfo *policy_set_pstate(const char *root,
                                  q_obj_set_host_pstate_arg *arg,
                                  HostSysfsUndo *undo, Error **errp);
HostPowerZonePolicy *policy_set_power_limit(const char *root,
                                            q_obj_set_host_power_limit_arg *a,
                                            HostSysfsUndo *undo,
                                            Error **errp);

#endif

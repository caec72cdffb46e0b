/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: a VM's CPU bandwidth, for --power-cap (docs/power-cap.rst).
 * A plain QMP VM through the CPU quota of its QEMU's own cgroup; a libvirt
 * domain through libvirt's vcpu_quota.  What was there before is kept and
 * put back.
 */

#ifndef QEMU_POWERD_THROTTLE_H
#define QEMU_POWERD_THROTTLE_H

#include "libvirt-pool.h"

typedef struct Throttle Throttle;

/*
 * How to limit the QEMU of pid @pid: its own cgroup, found from
 * /proc/PID/cgroup and the cgroup mounts of /proc/self/mountinfo.  NULL
 * with @errp saying why when it has none of its own (the root cgroup, or
 * one that other processes share) or no CPU controller is mounted.
 */
Throttle *throttle_cgroup(int pid, Error **errp);

/*
 * Libvirt domain @uuid through @pool: vcpu_quota, per vCPU.  The calls
 * run on a thread of their own, so that a domain whose QEMU hangs (and
 * holds libvirt's job) holds up nothing else; a call's failure is logged.
 */
Throttle *throttle_libvirt(LvPool *pool, const char *uuid);

/* Where: the cgroup's directory, or "libvirt vcpu_quota". */
const char *throttle_where(const Throttle *t);

/*
 * Limit the VM to @cpus CPUs in all (at least 0.01), spread over its
 * @nvcpus vCPUs where the limit is per vCPU.  The first call keeps
 * what was there, to put back.
 */
bool throttle_set(Throttle *t, double cpus, unsigned nvcpus, Error **errp);

/* Put back what was there before the first throttle_set(). */
bool throttle_release(Throttle *t, Error **errp);

/* Releases first if still set (errors logged), then frees. */
void throttle_free(Throttle *t);

/* Wait for the libvirt calls queued so far, up to @timeout_us. */
void throttle_flush(int64_t timeout_us);

#endif

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: measuring a QEMU without the power patch set from the
 * outside, from the kernel's accounting of its threads.
 */

#ifndef QEMU_POWERD_STOCK_H
#define QEMU_POWERD_STOCK_H

#include "sample.h"

/* The counter source of such a VM's samples, in every output. */
#define STOCK_SOURCE "process-cputime"

/* How often a stock VM's vCPU threads are asked for again, at least. */
#define STOCK_RECHECK_US (60 * G_USEC_PER_SEC)

/*
 * Whether @reply is QEMU's answer to a command it does not have (a QEMU
 * without the patch set).
 */
bool stock_command_not_found(const char *reply);

/*
 * The vCPU thread ids of a query-cpus-fast reply into @tids (an array of
 * int), strictly: any entry without a positive thread-id is an error.
 */
bool stock_parse_vcpus(const char *reply, GArray *tids, Error **errp);

/* The process that thread @tid belongs to, or 0 with @errp set. */
int stock_pid_of(int tid, Error **errp);

/*
 * A sample of process @pid: its instance count is the process's CPU
 * clock (the scheduler's run time of all its threads, those that have
 * exited included: what a patched QEMU's schedstat source counts), its
 * vCPU count the run time of @tids, which must all still be threads of
 * @pid.  Nanoseconds, CLOCK_MONOTONIC timestamp.
 */
bool stock_sample(int pid, GArray *tids, VmSample *s, Error **errp);

#endif

/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: the VMs, found through plain QMP sockets or libvirt, and
 * how one VM is asked for query-power.
 */

#ifndef QEMU_POWERD_VM_H
#define QEMU_POWERD_VM_H

#include "libvirt-pool.h"
#include "sample.h"

typedef enum VmStatus {
    VM_NEW,                     /* no interval to measure yet */
    VM_OK,
    VM_FAILED,
} VmStatus;

/* How a VM's samples reach us. */
typedef enum VmMode {
    VM_MODE_SETUP,              /* to be asked to push samples */
    VM_MODE_CHANNEL,            /* QEMU writes to our sampling channel */
    VM_MODE_EVENT,              /* QEMU pushes POWER_SAMPLE events */
    VM_MODE_POLL,               /* query-power every interval */
    VM_MODE_STOCK,              /* no query-power: measured from /proc */
} VmMode;

/* What a VM said to set-power-sampling. */
typedef enum VmSampling {
    VM_SAMPLING_ON,
    VM_SAMPLING_UNSUPPORTED,    /* a QEMU without the command */
    VM_SAMPLING_FAILED,
} VmSampling;

typedef struct Vm {
    char *key;                  /* socket path, or libvirt UUID */
    char *name;
    char *uuid;                 /* "" without libvirt */

    /* the way to it */
    char *socket_path;          /* plain QMP */
    int fd;                     /* QMP connection, -1: not connected */
    /*
     * The QEMU at the other end (SO_PEERCRED at connect), 0: not known;
     * written by the worker that connects, read by the main thread
     * (qatomic)
     */
    int pid;
    GString *inbuf;
    uint64_t next_id;
    int64_t stalled_since;      /* QMP: last call went unanswered */
    bool libvirt;               /* reached through libvirt, by uuid */
    LvBinding lv;

    /* only the worker that polls the VM touches these */
    char *qmp_name;             /* -name from query-name */
    char *qmp_uuid;             /* from query-uuid, "" if QEMU has none */

    /* shared under the poller's lock */
    bool inflight;
    uint64_t round;             /* the round the reply belongs to */
    bool answered;
    char *reply;                /* raw reply of the current round */
    char *error;                /* or why there is none */
    char *answer_name;          /* the VM's name as QMP told it */
    char *answer_uuid;          /* and its uuid */

    bool present;               /* found by the last discovery */

    /*
     * A stock QEMU (stock.h), under the poller's lock: its process (for
     * plain QMP the socket's peer) and vCPU threads, and when to ask
     * for them again
     */
    int stock_pid;
    GArray *stock_tids;
    int64_t stock_recheck_us;

    /* push mode, shared under the poller's lock */
    VmMode mode;
    int64_t renew_us;           /* when to renew the sampling lease */
    /*
     * The newest POWER_SAMPLE line not yet taken.  Plain QMP: written by
     * whoever reads the socket (the worker while the VM is in flight, else
     * the main thread).
     */
    char *event;
    /*
     * Our end of the VM's sampling channel, -1: none; only the main
     * thread reads it, a worker sets it up
     */
    int chan_fd;
    VmSample ev;                /* this round's pushed sample */
    bool has_ev;
    unsigned misses;            /* pushed samples late in a row */

    /* measurements, owned by the main thread */
    VmSample prev;
    bool have_prev;
    VmStatus status;
    char *status_error;
    double rate;                /* work per second over the interval */
    double share;
    double *watts;              /* per zone */
    double *energy_j;           /* per zone, since qemu-powerd started */

    /* reporting, main thread */
    double last_rate;           /* work per second when last measured */
    double last_ok_time;        /* Unix time of that interval, 0: never */
    uint64_t errors;            /* intervals it failed in */
} Vm;

Vm *vm_new(const char *key, size_t nzones);
void vm_free(Vm *vm);

/*
 * Ask @vm for @cmd (query-power, say; no arguments), answering by
 * @deadline (g_get_monotonic_time microseconds).  Runs in a worker
 * thread.  Returns the reply line.
 * Connecting never blocks; a QEMU that left the last call unanswered is
 * given VM_STALLED_WAIT_US at most to greet on a new connection, so that
 * a hung QEMU holds a worker for one timeout only.
 */
#define VM_STALLED_WAIT_US (50 * 1000)

char *vm_qmp_call(Vm *vm, const char *cmd, int64_t deadline, Error **errp);

/*
 * Ask @vm to push a sample every @interval_ms for @lease_ms (or, with
 * @interval_ms 0, to stop).  Worker thread.
 */
VmSampling vm_qmp_sampling(Vm *vm, unsigned interval_ms, unsigned lease_ms,
                           int64_t deadline, Error **errp);

/* Close @vm's QMP connection (the next call makes a new one). */
void vm_qmp_disconnect(Vm *vm);

/*
 * Read what @vm's socket holds, without waiting, keeping the newest
 * POWER_SAMPLE in vm->event.  False if the connection is lost.
 */
bool vm_qmp_drain(Vm *vm, Error **errp);

/*
 * Ask @vm to write a sample every @interval_ms to a new sampling channel
 * (set-power-sampling's 'channel'), our end of which is put in @chan.
 * UNSUPPORTED: a QEMU that cannot (no channel in its set-power-sampling,
 * or sampling already active): use events.  Worker thread.
 */
VmSampling vm_qmp_channel(Vm *vm, unsigned interval_ms, int64_t deadline,
                          int *chan, Error **errp);
VmSampling vm_libvirt_channel(Vm *vm, LvPool *pool, unsigned interval_ms,
                              int *chan, Error **errp);

/*
 * Read what @vm's channel holds, without waiting, keeping the newest
 * record in vm->event.  False if the channel closed (it is then closed
 * here too).  Main thread.
 */
bool vm_channel_drain(Vm *vm, Error **errp);
void vm_channel_close(Vm *vm);

/* libvirt, over a connection of @pool; no deadline can end these */
char *vm_libvirt_call(Vm *vm, LvPool *pool, const char *cmd, Error **errp);
VmSampling vm_libvirt_sampling(Vm *vm, LvPool *pool, unsigned interval_ms,
                               unsigned lease_ms, Error **errp);

#endif

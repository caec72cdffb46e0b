/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: the rounds.  Each finds the VMs, takes the samples that
 * they pushed as POWER_SAMPLE events and asks the others, or those that
 * must be (re)asked to push, in worker threads (each with a deadline, so
 * that a hung QEMU delays nobody), while the main thread measures the
 * host.
 */

#include "qemu/osdep.h"
#include <glob.h>
#include <math.h>
#include <poll.h>
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "log.h"
#include "powerd.h"
#include "stock.h"

/* Pushed samples missed in a row before a VM is asked to push again. */
#define MAX_MISSES 3
/* Waits end this often to see whether the daemon is asked to stop. */
#define STOP_CHECK_US (100 * 1000)

volatile sig_atomic_t powerd_stop;

/* g_cond_wait_until() that also ends on powerd_stop. */
static bool wait_until_or_stop(GCond *cond, GMutex *lock, int64_t deadline)
{
    int64_t slice = MIN(deadline, g_get_monotonic_time() + STOP_CHECK_US);

    powerd_watchdog();          /* a round may wait up to --timeout */

    return !powerd_stop && (g_cond_wait_until(cond, lock, slice) ||
                            slice < deadline);
}

typedef enum JobAction {
    JOB_QUERY,                  /* query-power */
    JOB_SETUP,                  /* set-power-sampling, then query-power */
    JOB_RENEW,                  /* set-power-sampling: a new lease */
    JOB_STOP,                   /* set-power-sampling: stop (at exit) */
} JobAction;

typedef struct Job {
    Powerd *pd;
    Vm *vm;
    JobAction action;
    uint64_t round;
    int64_t deadline;
} Job;

/* A VM's energy from the state file, if there is one. */
static void restore_vm_energy(Powerd *pd, Vm *vm)
{
    for (size_t z = 0; pd->state && z < pd->host.nzones; z++) {
        g_autofree char *key = state_vm_key(vm->name ? vm->name : vm->key,
                                         vm->uuid, pd->host.zone_names[z]);

        state_get_energy(pd->state, key, &vm->energy_j[z]);
    }
}

/* A VM found for the first time, with the energy saved under its name. */
static void add_vm(Powerd *pd, Vm *vm)
{
    vm->present = true;
    g_hash_table_insert(pd->vms, vm->key, vm);
    restore_vm_energy(pd, vm);
}

static bool has_glob_chars(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

/* Find the VMs now; forget those that went away. */
static void discover(Powerd *pd)
{
    GHashTableIter it;
    Vm *vm;

    g_hash_table_iter_init(&it, pd->vms);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&vm)) {
        vm->present = false;
    }

    if (pd->qmp_patterns->len) {
        for (guint p = 0; p < pd->qmp_patterns->len; p++) {
            const char *pat = g_ptr_array_index(pd->qmp_patterns, p);
            glob_t g = { 0 };

            if (!has_glob_chars(pat)) {
                /* a path given as such is polled (and fails) even if absent */
                vm = g_hash_table_lookup(pd->vms, pat);
                if (!vm) {
                    vm = vm_new(pat, pd->host.nzones);
                    vm->socket_path = g_strdup(pat);
                    vm->name = g_strdup(pat);
                    add_vm(pd, vm);
                }
                vm->present = true;
                continue;
            }
            if (glob(pat, 0, NULL, &g) == 0) {
                for (size_t i = 0; i < g.gl_pathc; i++) {
                    vm = g_hash_table_lookup(pd->vms, g.gl_pathv[i]);
                    if (!vm) {
                        vm = vm_new(g.gl_pathv[i], pd->host.nzones);
                        vm->socket_path = g_strdup(g.gl_pathv[i]);
                        vm->name = g_strdup(g.gl_pathv[i]);
                        add_vm(pd, vm);
                    }
                    vm->present = true;
                }
            }
            globfree(&g);
        }
    } else {
        Error *err = NULL;
        /* leave most of the round to the VMs */
        g_autoptr(GPtrArray) found =
            lvwatch_list(pd->watch, g_get_monotonic_time() +
                         pd->timeout_s * 1e6 / 4, &err);

        if (!found) {
            powerd_log_limited(LOG_WARNING, "libvirt-list", "%s",
                               error_get_pretty(err));
            error_free(err);
            /* keep the VMs we knew: they are measured as they can be */
            g_hash_table_iter_init(&it, pd->vms);
            while (g_hash_table_iter_next(&it, NULL, (gpointer *)&vm)) {
                vm->present = true;
            }
            return;
        }
        for (guint i = 0; i < found->len; i++) {
            LvDomain *d = g_ptr_array_index(found, i);

            vm = g_hash_table_lookup(pd->vms, d->uuid);
            if (!vm) {
                vm = vm_new(d->uuid, pd->host.nzones);
                vm->libvirt = true;
                vm->name = g_strdup(d->name);
                g_free(vm->uuid);
                vm->uuid = g_strdup(d->uuid);
                add_vm(pd, vm);
            }
            vm->present = true;
        }
    }

    /* VMs that went away: forget them once no worker holds them */
    g_hash_table_iter_init(&it, pd->vms);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&vm)) {
        bool busy;

        g_mutex_lock(&pd->lock);
        busy = vm->inflight;
        g_mutex_unlock(&pd->lock);
        if (!vm->present && !busy) {
            g_hash_table_iter_remove(&it);
        }
    }
}

unsigned poller_interval_ms(Powerd *pd)
{
    return lround(pd->interval_s * 1000);
}

/*
 * Ask @vm to push samples; its mode follows from the answer.  Returns
 * whether to go on with query-power (the first sample, or a QEMU that
 * cannot push).
 */
static bool start_sampling(Powerd *pd, Vm *vm, JobAction action,
                           int64_t deadline, Error **errp)
{
    unsigned lease_ms = lround(pd->lease_s * 1000);
    Error *chan_err = NULL;
    VmSampling r;
    int chan = -1;

    if (!pd->no_channel && action == JOB_SETUP) {
        r = vm->libvirt ?
            vm_libvirt_channel(vm, pd->lvpool, poller_interval_ms(pd), &chan,
                               &chan_err) :
            vm_qmp_channel(vm, poller_interval_ms(pd), deadline, &chan,
                           &chan_err);
        if (r == VM_SAMPLING_ON) {
            g_mutex_lock(&pd->lock);
            vm_channel_close(vm);
            vm->chan_fd = chan;
            vm->mode = VM_MODE_CHANNEL;
            vm->misses = 0;
            g_mutex_unlock(&pd->lock);
            return true;        /* and the first sample by query-power */
        }
        if (r == VM_SAMPLING_FAILED) {
            error_propagate(errp, chan_err);
            g_mutex_lock(&pd->lock);
            vm->mode = VM_MODE_SETUP;
            g_mutex_unlock(&pd->lock);
            return false;
        }
        error_free(chan_err);   /* not this QEMU: events, then */
    }
    r = vm->libvirt ?
        vm_libvirt_sampling(vm, pd->lvpool, poller_interval_ms(pd), lease_ms,
                            errp) :
        vm_qmp_sampling(vm, poller_interval_ms(pd), lease_ms, deadline, errp);
    VmMode mode = r == VM_SAMPLING_ON ? VM_MODE_EVENT :
        r == VM_SAMPLING_UNSUPPORTED ? VM_MODE_POLL : VM_MODE_SETUP;

    g_mutex_lock(&pd->lock);
    vm->mode = mode;
    vm->misses = 0;
    /* renew with two thirds of the lease left */
    vm->renew_us = g_get_monotonic_time() + pd->lease_s * 1e6 / 3;
    g_mutex_unlock(&pd->lock);
    return r == VM_SAMPLING_UNSUPPORTED ||
        (r == VM_SAMPLING_ON && action == JOB_SETUP);
}

/* @cmd (no arguments) to @vm's QEMU; its reply line. */
static char *vm_call(Powerd *pd, Vm *vm, const char *cmd, int64_t deadline,
                     Error **errp)
{
    return vm->libvirt ? vm_libvirt_call(vm, pd->lvpool, cmd, errp) :
        vm_qmp_call(vm, cmd, deadline, errp);
}

typedef struct StockFound {
    int pid;
    GArray *tids;
    VmSample sample;
} StockFound;

/*
 * @vm's QEMU has no query-power: find its process and vCPU threads, and
 * take its first sample.
 */
static bool learn_stock(Powerd *pd, Vm *vm, int64_t deadline,
                        StockFound *s, Error **errp)
{
    g_autofree char *reply = vm_call(pd, vm, "query-cpus-fast", deadline,
                                     errp);

    if (!reply || !stock_parse_vcpus(reply, s->tids, errp)) {
        return false;
    }
    /* a libvirt domain's QEMU is the process of its vCPU threads */
    s->pid = vm->libvirt ? stock_pid_of(g_array_index(s->tids, int, 0), errp) :
        qatomic_read(&vm->pid);
    if (!s->pid && !vm->libvirt) {
        error_setg(errp, "The kernel does not say which process serves "
                   "the QMP socket");
    }
    if (!s->pid || !stock_sample(s->pid, s->tids, &s->sample, errp)) {
        error_prepend(errp, "QEMU without query-power: ");
        return false;
    }
    return true;
}

void poller_job(gpointer data, gpointer opaque)
{
    Job *job = data;
    Vm *vm = job->vm;
    Powerd *pd = job->pd;
    Error *err = NULL;
    char *reply = NULL;
    g_autoptr(GArray) tids = g_array_new(false, false, sizeof(int));
    StockFound s = { .tids = tids };
    bool query, stock = false;

    if (job->action == JOB_STOP && vm->mode == VM_MODE_CHANNEL) {
        query = false;          /* closing our end is enough */
    } else if (job->action == JOB_STOP) {
        if (vm->libvirt) {
            vm_libvirt_sampling(vm, pd->lvpool, 0, 0, &err);
        } else {
            vm_qmp_sampling(vm, 0, 0, job->deadline, &err);
        }
        query = false;
    } else {
        query = job->action == JOB_QUERY ||
            start_sampling(pd, vm, job->action, job->deadline, &err);
    }
    if (query) {
        reply = vm_call(pd, vm, "query-power", job->deadline, &err);
        if (reply && stock_command_not_found(reply)) {
            g_clear_pointer(&reply, g_free);
            stock = learn_stock(pd, vm, job->deadline, &s, &err);
        }
    }
    if (!vm->libvirt && qatomic_read(&vm->mode) == VM_MODE_CHANNEL) {
        /*
         * The channel needs no monitor: one descriptor per VM, not two,
         * and no other event left unread in a socket buffer
         */
        vm_qmp_disconnect(vm);
    }

    g_mutex_lock(&pd->lock);
    if (stock) {
        vm->mode = VM_MODE_STOCK;
        vm->stock_pid = s.pid;
        g_array_set_size(vm->stock_tids, 0);
        g_array_append_vals(vm->stock_tids, s.tids->data, s.tids->len);
        vm->stock_recheck_us = g_get_monotonic_time() + STOCK_RECHECK_US;
    }
    if (job->round == pd->round && stock) {
        vm_sample_clear(&vm->ev);
        vm->ev = s.sample;
        memset(&s.sample, 0, sizeof(s.sample));
        vm->has_ev = true;
    }
    if (job->round == pd->round) {
        /* a renewed lease leaves the answer to the next sample */
        vm->answered = query || err;
        vm->reply = reply;
        vm->error = err ? g_strdup(error_get_pretty(err)) : NULL;
        if (vm->qmp_name) {
            g_free(vm->answer_name);
            vm->answer_name = g_strdup(vm->qmp_name);
            g_free(vm->answer_uuid);
            vm->answer_uuid = g_strdup(vm->qmp_uuid);
        }
    } else {
        g_free(reply);          /* too late for its round */
    }
    vm->inflight = false;
    g_cond_broadcast(&pd->cond);
    g_mutex_unlock(&pd->lock);
    vm_sample_clear(&s.sample);
    error_free(err);
    g_free(job);
}

static void fail(Powerd *pd, Vm *vm, const char *why)
{
    int64_t now_ns = g_get_real_time() * 1000;

    vm->status = VM_FAILED;
    g_free(vm->status_error);
    vm->status_error = g_strdup(why);
    if (vm->have_prev &&
        now_ns - (int64_t)vm->prev.timestamp_ns >
        MAX_GAP_INTERVALS * poller_step_us(pd) * 1000) {
        vm->have_prev = false;  /* too long ago: measure afresh */
    }
}

/* Turn this round's answer of @vm into its status and work rate. */
static void take_answer(Powerd *pd, Vm *vm)
{
    VmSample s = { 0 };
    Error *err = NULL;

    vm->rate = 0;
    if (!vm->answered) {
        if (vm->inflight) {
            fail(pd, vm, "no answer within the timeout");
        } else if (vm->mode == VM_MODE_EVENT ||
                   vm->mode == VM_MODE_CHANNEL) {
            fail(pd, vm, vm->mode == VM_MODE_EVENT ?
                 "no POWER_SAMPLE within the timeout" :
                 "no sample on the channel within the timeout");
            /*
             * A late sample is a failed interval, as a late answer is.
             * Several in a row: QEMU may have restarted without sampling;
             * ask again (and query meanwhile).
             */
            if (++vm->misses >= MAX_MISSES) {
                vm_channel_close(vm);
                vm->mode = VM_MODE_SETUP;
            }
        } else {
            fail(pd, vm, "not polled");
        }
        return;
    }
    if (vm->answer_name && (g_strcmp0(vm->name, vm->answer_name) ||
                            g_strcmp0(vm->uuid, vm->answer_uuid))) {
        /* its name as QEMU tells it: the energy saved under that name */
        g_free(vm->name);
        vm->name = g_strdup(vm->answer_name);
        g_free(vm->uuid);
        vm->uuid = g_strdup(vm->answer_uuid);
        restore_vm_energy(pd, vm);
    }
    if (vm->has_ev) {
        vm->misses = 0;
        s = vm->ev;
        memset(&vm->ev, 0, sizeof(vm->ev));
        vm->has_ev = false;
    } else if (!vm->reply) {
        fail(pd, vm, vm->error);
        return;
    } else if (!vm_sample_parse(vm->reply, &s, &err)) {
        fail(pd, vm, error_get_pretty(err));
        error_free(err);
        return;
    }
    /*
     * One unit for all: cycles only while every VM counts cycles, else
     * nanoseconds of CPU time (the host's work is measured in both), so
     * that the order in which VMs answer decides nothing.  A VM counting
     * cycles among VMs counting time cannot be compared with them.
     */
    if (!pd->unit_known || (pd->unit_cycles && !s.cycles)) {
        pd->unit_known = true;
        pd->unit_cycles = s.cycles;
    }
    if (s.cycles != pd->unit_cycles) {
        fail(pd, vm, "counts cycles while other VMs count CPU time: give "
             "it counter-source=task-clock or schedstat (host-power object)");
        vm_sample_clear(&s);
        return;
    }
    if (s.kernel_excluded) {
        /*
         * its work is short of the kernel's part: too small a share.  One
         * key for all VMs: on such a host they are all alike, and the
         * outputs mark each one.
         */
        powerd_log_limited(LOG_WARNING, "kernel-excluded", "VM '%s' counts "
                           "user mode only (perf_event_paranoid on the "
                           "host): its share of the power is too small by "
                           "its kernel work; counter_kernel_excluded marks "
                           "every such VM",
                           vm->name ? vm->name : vm->key);
    }
    if (!vm->have_prev || g_strcmp0(s.source, vm->prev.source) ||
        s.timestamp_ns <= vm->prev.timestamp_ns ||
        s.instance_count < vm->prev.instance_count) {
        /* first answer, or QEMU restarted: a new epoch, no delta */
        vm->status = VM_NEW;
    } else {
        vm->status = VM_OK;
        vm->rate = (double)(s.instance_count - vm->prev.instance_count) /
                   ((s.timestamp_ns - vm->prev.timestamp_ns) / 1e9);
    }
    vm_sample_clear(&vm->prev);
    vm->prev = s;
    vm->have_prev = true;
}

/* A VM that fails or comes back: a line, once a minute at most per VM. */
static void log_status(Vm *vm, VmStatus was)
{
    g_autofree char *key = g_strdup_printf("vm:%s", vm->key);
    const char *name = vm->name ? vm->name : vm->key;

    if (vm->status == VM_FAILED && was != VM_FAILED) {
        powerd_log_limited(LOG_NOTICE, key, "VM '%s' is not measured: %s",
                           name, vm->status_error ? vm->status_error : "");
    } else if (vm->status != VM_FAILED && was == VM_FAILED) {
        powerd_log_limited(LOG_NOTICE, key, "VM '%s' is measured again",
                           name);
    }
}

static gint cmp_vm_name(gconstpointer a, gconstpointer b)
{
    const Vm *x = *(Vm *const *)a, *y = *(Vm *const *)b;

    return g_strcmp0(x->name, y->name);
}

int64_t poller_step_us(Powerd *pd)
{
    return (int64_t)poller_interval_ms(pd) * 1000;
}

/*
 * Take @line, @vm's newest pushed sample, if it is this round's: taken
 * after @boundary_us, give or take half an interval.  The caller holds
 * the lock.  Returns whether @vm has its answer.
 */
static bool take_sample(Powerd *pd, Vm *vm, char *line, int64_t boundary_us)
{
    VmSample s = { 0 };
    Error *err = NULL;

    if (!line) {
        return false;
    }
    if (!(vm->mode == VM_MODE_CHANNEL ?
          vm_sample_parse_record(line, &s, &err) :
          vm_sample_parse_event(line, &s, &err))) {
        vm->answered = true;
        vm->error = g_strdup(error_get_pretty(err));
        error_free(err);
        g_free(line);
        return true;
    }
    g_free(line);
    if ((int64_t)(s.timestamp_ns / 1000) + poller_step_us(pd) / 2 <
        boundary_us) {
        vm_sample_clear(&s);    /* an older one: wait for this round's */
        return false;
    }
    vm_sample_clear(&vm->ev);
    vm->ev = s;
    vm->has_ev = true;
    vm->answered = true;
    return true;
}

/* Wait for the samples that @waiting push through libvirt. */
static void collect_libvirt(Powerd *pd, GPtrArray *waiting,
                            int64_t boundary_us, int64_t deadline)
{
    g_mutex_lock(&pd->lock);
    for (;;) {
        for (guint i = waiting->len; i-- > 0;) {
            Vm *vm = g_ptr_array_index(waiting, i);

            if (take_sample(pd, vm, inbox_take(pd->inbox, vm->key),
                            boundary_us)) {
                g_ptr_array_remove_index_fast(waiting, i);
            }
        }
        if (!waiting->len ||
            !wait_until_or_stop(&pd->cond, &pd->lock, deadline)) {
            break;
        }
    }
    inbox_clear(pd->inbox);
    g_mutex_unlock(&pd->lock);
}

/*
 * Wait for the samples that @waiting push on their QMP sockets, or (with
 * @channel) write to their sampling channels, which no worker uses now.
 */
static void collect_sockets(Powerd *pd, GPtrArray *waiting, bool channel,
                            int64_t boundary_us, int64_t deadline)
{
    g_autofree struct pollfd *pfds = g_new(struct pollfd, waiting->len);
    bool first = true;

    for (;;) {
        int64_t left;

        for (guint i = waiting->len; i-- > 0;) {
            Vm *vm = g_ptr_array_index(waiting, i);
            Error *err = NULL;
            bool ok, done;

            /* after the first pass, only the sockets that have news */
            if (!first && !pfds[i].revents) {
                continue;
            }
            /* a channel is closed under the lock, as the reports see it */
            if (channel) {
                g_mutex_lock(&pd->lock);
                ok = vm_channel_drain(vm, &err);
            } else {
                ok = vm_qmp_drain(vm, &err);
                g_mutex_lock(&pd->lock);
            }
            if (ok) {
                done = take_sample(pd, vm, g_steal_pointer(&vm->event),
                                   boundary_us);
            } else {
                /* its QEMU stopped or went away: ask again */
                vm->answered = done = true;
                vm->error = g_strdup(error_get_pretty(err));
                vm->mode = VM_MODE_SETUP;
                error_free(err);
            }
            g_mutex_unlock(&pd->lock);
            if (done) {
                g_ptr_array_remove_index_fast(waiting, i);
            }
        }
        left = MIN(deadline - g_get_monotonic_time(), STOP_CHECK_US);
        if (!waiting->len || left <= 0 || powerd_stop) {
            return;
        }
        for (guint i = 0; i < waiting->len; i++) {
            Vm *vm = g_ptr_array_index(waiting, i);

            pfds[i] = (struct pollfd) {
                .fd = channel ? vm->chan_fd : vm->fd, .events = POLLIN };
        }
        powerd_watchdog();
        poll(pfds, waiting->len, (left + 999) / 1000);
        first = false;
    }
}

/* The samples that VMs pushed for this round, by channel or events. */
static void collect_samples(Powerd *pd, GPtrArray *vms, int64_t boundary_us,
                            int64_t deadline)
{
    g_autoptr(GPtrArray) waiting = g_ptr_array_new();
    g_autoptr(GPtrArray) channels = g_ptr_array_new();

    g_mutex_lock(&pd->lock);
    for (guint i = 0; i < vms->len; i++) {
        Vm *vm = g_ptr_array_index(vms, i);

        if (vm->answered || vm->inflight) {
            continue;
        }
        if (vm->mode == VM_MODE_EVENT) {
            g_ptr_array_add(waiting, vm);
        } else if (vm->mode == VM_MODE_CHANNEL && vm->chan_fd >= 0) {
            g_ptr_array_add(channels, vm);
        }
    }
    g_mutex_unlock(&pd->lock);
    if (channels->len) {
        collect_sockets(pd, channels, true, boundary_us, deadline);
    }
    if (pd->inbox) {
        collect_libvirt(pd, waiting, boundary_us, deadline);
    } else if (waiting->len) {
        collect_sockets(pd, waiting, false, boundary_us, deadline);
    }
}

/*
 * A stock VM's sample, read now, at the round's start (as the host's
 * is), with no word to its QEMU; if its threads are gone, or it is time
 * to look again (a vCPU added, a QEMU restarted with the patch set), it
 * is asked afresh.  Under the lock.
 */
static void take_stock(Vm *vm, int64_t now)
{
    if (now >= vm->stock_recheck_us ||
        !stock_sample(vm->stock_pid, vm->stock_tids, &vm->ev, NULL)) {
        vm->mode = VM_MODE_SETUP;
        return;
    }
    vm->has_ev = true;
    vm->answered = true;
}

/* What @vm has to be asked this round, if anything; under the lock. */
static bool next_job(Powerd *pd, Vm *vm, int64_t now, JobAction *action)
{
    if (pd->poll_only && vm->mode != VM_MODE_STOCK) {
        vm->mode = VM_MODE_POLL;
    }
    switch (vm->mode) {
    case VM_MODE_POLL:
        *action = JOB_QUERY;
        return true;
    case VM_MODE_SETUP:
        *action = JOB_SETUP;
        return true;
    case VM_MODE_STOCK:
    case VM_MODE_CHANNEL:
        return false;           /* no lease to renew */
    default:
        *action = JOB_RENEW;
        return now >= vm->renew_us;
    }
}

/* Give @vm's @action to a worker; the caller holds the lock. */
static void push_job(Powerd *pd, Vm *vm, JobAction action, int64_t deadline)
{
    Job *job = g_new(Job, 1);

    *job = (Job) { .pd = pd, .vm = vm, .action = action,
                   .round = pd->round, .deadline = deadline };
    vm->inflight = true;
    vm->round = pd->round;
    g_thread_pool_push(pd->pool, job, NULL);
}

/*
 * Wait until no job of this round for @vms is left, or @deadline, or
 * (@stoppable) SIGTERM; the caller holds the lock.
 */
static void wait_jobs(Powerd *pd, GPtrArray *vms, int64_t deadline,
                      bool stoppable)
{
    for (;;) {
        bool waiting = false;

        for (guint i = 0; i < vms->len; i++) {
            Vm *vm = g_ptr_array_index(vms, i);

            waiting |= vm->inflight && vm->round == pd->round;
        }
        if (!waiting ||
            !(stoppable ? wait_until_or_stop(&pd->cond, &pd->lock, deadline) :
              g_cond_wait_until(&pd->cond, &pd->lock, deadline))) {
            break;
        }
    }
}

/* One round; returns the VMs measured, sorted by name. */
GPtrArray *poller_round(Powerd *pd, HostSample *hs, Error **errp)
{
    int64_t start = g_get_monotonic_time();
    int64_t deadline = start + pd->timeout_s * 1e6;
    int64_t boundary = start / poller_step_us(pd) * poller_step_us(pd);
    GPtrArray *vms = g_ptr_array_new();
    GHashTableIter it;
    JobAction action;
    Vm *vm;
    bool ok;

    /*
     * The host first, at the round's start, when pushed samples are
     * taken: discovery (a libvirt call) may take long, and must not
     * shorten or stretch the host's interval.
     */
    ok = host_sample(&pd->host, pd->unit_known && pd->unit_cycles, hs, errp);
    discover(pd);
    g_mutex_lock(&pd->lock);
    pd->round++;
    g_hash_table_iter_init(&it, pd->vms);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&vm)) {
        if (!vm->present) {
            continue;
        }
        g_ptr_array_add(vms, vm);
        vm->answered = false;
        g_clear_pointer(&vm->reply, g_free);
        g_clear_pointer(&vm->error, g_free);
        vm_sample_clear(&vm->ev);
        vm->has_ev = false;
        if (!vm->inflight && vm->mode == VM_MODE_STOCK) {
            take_stock(vm, start);
        }
        if (!vm->inflight && next_job(pd, vm, start, &action)) {
            push_job(pd, vm, action, deadline);
        }
    }
    wait_jobs(pd, vms, deadline, true);
    g_mutex_unlock(&pd->lock);
    collect_samples(pd, vms, boundary, deadline);
    g_mutex_lock(&pd->lock);
    pd->poll_s = (g_get_monotonic_time() - start) / 1e6;
    for (guint i = 0; i < vms->len; i++) {
        VmStatus was;

        vm = g_ptr_array_index(vms, i);
        was = vm->status;
        take_answer(pd, vm);
        log_status(vm, was);
    }
    g_mutex_unlock(&pd->lock);
    g_ptr_array_sort(vms, cmp_vm_name);
    if (!ok) {
        g_ptr_array_free(vms, true);
        return NULL;
    }
    return vms;
}

void poller_stop_sampling(Powerd *pd)
{
    int64_t deadline = g_get_monotonic_time() + G_USEC_PER_SEC;
    g_autoptr(GPtrArray) vms = g_ptr_array_new();
    GHashTableIter it;
    Vm *vm;

    g_mutex_lock(&pd->lock);
    pd->round++;                /* no answer of a round is taken now */
    g_hash_table_iter_init(&it, pd->vms);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&vm)) {
        if (!vm->inflight && vm->mode == VM_MODE_EVENT) {
            push_job(pd, vm, JOB_STOP, deadline);
            g_ptr_array_add(vms, vm);
        }
    }
    /* (SIGTERM brought us here: this wait is not ended by it) */
    wait_jobs(pd, vms, deadline, false);
    g_mutex_unlock(&pd->lock);
}

bool poller_start(Powerd *pd, Error **errp)
{
    pd->pool = g_thread_pool_new(poller_job, pd, POWERD_WORKERS, false,
                                 NULL);
    if (!pd->libvirt_uri) {
        return true;
    }
    /* also for the keepalive of the connections, in poll mode too */
    if (!events_start(errp)) {
        return false;
    }
    if (!pd->poll_only) {
        pd->inbox = inbox_new(&pd->lock, &pd->cond);
    }
    pd->watch = lvwatch_new(pd->libvirt_uri, pd->inbox);
    pd->lvpool = lvpool_new(pd->libvirt_uri);
    return lvwatch_connect(pd->watch, errp) && lvpool_check(pd->lvpool, errp);
}

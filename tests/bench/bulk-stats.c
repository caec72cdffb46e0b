/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * bulk-stats: the cost floor that push mode is measured against.  Every
 * interval it reads the perf task_clock of all running domains with one
 * virConnectGetAllDomainStats(VIR_DOMAIN_STATS_PERF) call, as a minimal
 * C consumer of libvirt's bulk stats would, and prints one JSON line per
 * interval with the fields the benchmarks read (time, poll_s and each
 * VM's name and status).  It attributes no power: it only gets the
 * per-VM counts, which is the part qemu-powerd's push mode replaces.
 *
 * Usage: bulk-stats URI INTERVAL_S COUNT
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

static double now(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    virConnectPtr conn;
    double interval, next;
    long count;

    if (argc != 4 || sscanf(argv[2], "%lf", &interval) != 1 ||
        sscanf(argv[3], "%ld", &count) != 1 || interval <= 0 || count <= 0) {
        fprintf(stderr, "usage: bulk-stats URI INTERVAL_S COUNT\n");
        return 1;
    }
    conn = virConnectOpen(argv[1]);
    if (!conn) {
        fprintf(stderr, "bulk-stats: cannot connect to %s\n", argv[1]);
        return 1;
    }
    next = now(CLOCK_MONOTONIC);
    for (long i = 0; i < count; i++) {
        virDomainStatsRecordPtr *recs = NULL;
        double t0 = now(CLOCK_MONOTONIC), poll_s;
        unsigned flags = VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE;
        int n = virConnectGetAllDomainStats(conn, VIR_DOMAIN_STATS_PERF,
                                            &recs, flags);

        if (n < 0) {
            fprintf(stderr, "bulk-stats: %s\n", virGetLastErrorMessage());
            return 1;
        }
        poll_s = now(CLOCK_MONOTONIC) - t0;
        printf("{\"time\": %.6f, \"poll_s\": %.6f, \"vms\": [",
               now(CLOCK_REALTIME), poll_s);
        for (int d = 0; d < n; d++) {
            unsigned long long clock = 0;
            int found = 0;

            for (int p = 0; p < recs[d]->nparams; p++) {
                if (!strcmp(recs[d]->params[p].field, "perf.task_clock")) {
                    clock = recs[d]->params[p].value.ul;
                    found = 1;
                }
            }
            printf("%s{\"name\": \"%s\", \"status\": \"%s\", "
                   "\"task_clock\": %llu}", d ? ", " : "",
                   virDomainGetName(recs[d]->dom), found ? "ok" : "failed",
                   clock);
        }
        printf("]}\n");
        fflush(stdout);
        virDomainStatsRecordListFree(recs);
        next += interval;
        while (now(CLOCK_MONOTONIC) < next) {
            struct timespec ts;
            double left = next - now(CLOCK_MONOTONIC);

            ts.tv_sec = (time_t)left;
            ts.tv_nsec = (long)((left - floor(left)) * 1e9);
            nanosleep(&ts, NULL);
        }
    }
    virConnectClose(conn);
    return 0;
}

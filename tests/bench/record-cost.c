/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * What carrying one sample costs, two ways side by side (not a test: it
 * prints what it measures, with ratios): the record QEMU sends on a
 * SOCK_SEQPACKET sampling channel, against the same record written under
 * a seqlock into a shared memfd page that the consumer maps.  Writer and
 * reader are two processes, as QEMU and qemu-powerd are; each side's CPU
 * per record is its own CPU time (getrusage) over the records.  Taking
 * the counts, which both would do alike, is left out: what differs is
 * only the carrying.
 *
 * Usage: record-cost [RECORDS]
 */

#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RECORD_MAX 512

typedef struct Page {
    _Atomic uint64_t seq;       /* odd while the writer is in the record */
    uint32_t len;
    char rec[RECORD_MAX];
} Page;

static double cpu_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
}

/* The record as power/power-sampling.c formats it. */
static int format(char *buf, uint64_t seq)
{
    return snprintf(buf, RECORD_MAX, "{\"version\": 2, \"seq\": %" PRIu64
                    ", \"timestamp-ns\": %" PRIu64 ", \"counter-source\": "
                    "\"task-clock\", "
                    "\"counter-kernel-excluded\": false, \"instance-count\": "
                    "%" PRIu64 ", \"vcpu-count\": %" PRIu64 ", \"vcpus\": 2, "
                    "\"dropped\": 0}\n", seq, seq * UINT64_C(1000000000),
                    seq * UINT64_C(31337), seq * UINT64_C(27183));
}

/* Both sides' CPU per record, in us, through a socket pair. */
static void socket_way(long n, double *writer, double *reader)
{
    int sv[2], pipefd[2];
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0 || pipe(pipefd) < 0) {
        perror("socketpair");
        exit(1);
    }
    pid = fork();
    if (pid == 0) {
        char buf[RECORD_MAX];
        double t0 = cpu_us(), per;
        long got = 0;

        close(sv[0]);
        while (got < n) {
            struct pollfd p = { .fd = sv[1], .events = POLLIN };

            poll(&p, 1, -1);
            if (recv(sv[1], buf, sizeof(buf), 0) <= 0) {
                break;
            }
            got++;
        }
        per = (cpu_us() - t0) / (got ? got : 1);
        if (write(pipefd[1], &per, sizeof(per)) != sizeof(per)) {
            _exit(1);
        }
        _exit(0);
    }
    close(sv[1]);
    {
        char buf[RECORD_MAX];
        double t0 = cpu_us();

        for (long i = 1; i <= n; i++) {
            int len = format(buf, i);

            /* as QEMU does: never block; a full channel would drop */
            while (send(sv[0], buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
                   errno == EAGAIN) {
                sched_yield();
            }
        }
        *writer = (cpu_us() - t0) / n;
    }
    if (read(pipefd[0], reader, sizeof(*reader)) != sizeof(*reader)) {
        exit(1);
    }
    waitpid(pid, NULL, 0);
    close(sv[0]);
}

/*
 * Both sides' CPU per record, in us, through a memfd page.  The reader
 * has no wake-up: it reads when its own interval comes, never while the
 * writer is in the record, so each side is measured alone.
 */
static void memfd_way(long n, double *writer, double *reader)
{
    int fd = memfd_create("record-cost", MFD_CLOEXEC);
    char buf[RECORD_MAX];
    Page *pg;
    double t0;

    if (fd < 0 || ftruncate(fd, sizeof(Page)) < 0) {
        perror("memfd");
        exit(1);
    }
    pg = mmap(NULL, sizeof(Page), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (pg == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    t0 = cpu_us();
    for (long i = 1; i <= n; i++) {
        int len = format(buf, i);
        uint64_t s = atomic_load_explicit(&pg->seq, memory_order_relaxed);

        atomic_store_explicit(&pg->seq, s + 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_release);
        memcpy(pg->rec, buf, len);
        pg->len = len;
        atomic_store_explicit(&pg->seq, s + 2, memory_order_release);
    }
    *writer = (cpu_us() - t0) / n;

    t0 = cpu_us();
    for (long i = 1; i <= n; i++) {
        uint64_t s1, s2;

        do {
            s1 = atomic_load_explicit(&pg->seq, memory_order_acquire);
            memcpy(buf, pg->rec, pg->len);
            atomic_thread_fence(memory_order_acquire);
            s2 = atomic_load_explicit(&pg->seq, memory_order_relaxed);
        } while ((s1 & 1) || s1 != s2);
    }
    *reader = (cpu_us() - t0) / n;
    munmap(pg, sizeof(Page));
    close(fd);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    double sw, sr, mw, mr;

    socket_way(n, &sw, &sr);
    memfd_way(n, &mw, &mr);
    printf("CPU per record, us (%ld records)\n", n);
    printf("%-22s %8s %8s\n", "", "writer", "reader");
    printf("%-22s %8.2f %8.2f\n", "socket (SEQPACKET)", sw, sr);
    printf("%-22s %8.2f %8.2f\n", "memfd page (seqlock)", mw, mr);
    printf("socket / memfd: writer %.1fx\n", mw > 0 ? sw / mw : 0.0);
    return 0;
}

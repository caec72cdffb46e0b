/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The workloads of the qemu-power test guest (see tests/guest/init): a
 * STREAM-like memory-bandwidth kernel, a busy loop, a duty cycle and
 * O_DIRECT writes to a block device.  Built static by
 * scripts/build-guest.sh, so the guest needs no libc of its own.
 *
 *   stream [--cpu N] [--seconds S] [--report S] spin
 *   stream [--cpu N] [--seconds S] [--report S] mem
 *   stream [--cpu N] [--seconds S] duty PERCENT
 *   stream [--cpu N] [--seconds S] [--report S] io DEVICE
 *
 * Each runs forever unless --seconds is given; --report prints a rate every
 * S seconds (the default is to stay silent, so the serial console does not
 * add exits to the guest being measured).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Three arrays of 16 MiB: far larger than any last-level cache a vCPU sees. */
#define MEM_ELEMS   (16 * 1024 * 1024 / sizeof(double))
#define DUTY_PERIOD_NS  100000000LL
#define IO_BLOCK    (1024 * 1024)

/* Keeps the compiler from folding the busy loops away. */
#define barrier() __asm__ volatile("" : : : "memory")

static double a[MEM_ELEMS], b[MEM_ELEMS], c[MEM_ELEMS];

static int64_t deadline_ns;     /* 0: run forever */
static int64_t report_ns;       /* 0: never report */

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool expired(int64_t now)
{
    return deadline_ns && now >= deadline_ns;
}

/*
 * A decimal number in [min, max], the whole string and nothing else (the
 * guest has no QEMU utility library; digits only, so no sign or space).
 */
static bool parse_long(const char *s, long min, long max, long *out)
{
    long v = 0;

    if (!*s) {
        return false;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (max - (*s - '0')) / 10) {
            return false;
        }
        v = v * 10 + (*s - '0');
    }
    if (v < min) {
        return false;
    }
    *out = v;
    return true;
}

/*
 * Rate reporting shared by the loops: count units of work, and every
 * report_ns print units per second.
 */
struct meter {
    const char *what;
    const char *unit;
    double per_unit;            /* counted items per reported unit */
    int64_t since;
    double count;
};

static void meter_init(struct meter *m, const char *what, const char *unit,
                       double per_unit)
{
    m->what = what;
    m->unit = unit;
    m->per_unit = per_unit;
    m->since = now_ns();
    m->count = 0;
}

static void meter_add(struct meter *m, double items, int64_t now)
{
    m->count += items;
    if (report_ns && now - m->since >= report_ns) {
        printf("stream: %s %.0f %s\n", m->what,
               m->count / m->per_unit * 1e9 / (double)(now - m->since),
               m->unit);
        fflush(stdout);
        m->since = now;
        m->count = 0;
    }
}

static int run_spin(void)
{
    struct meter m;
    int64_t now;

    meter_init(&m, "spin", "Mloops/s", 1e6);
    do {
        /* Check the clock seldom: the loop should be all user time. */
        for (long i = 0; i < (1L << 22); i++) {
            barrier();
        }
        now = now_ns();
        meter_add(&m, 1L << 22, now);
    } while (!expired(now));
    return 0;
}

static int run_mem(void)
{
    const double s = 3.0;
    struct meter m;
    int64_t now;

    for (size_t i = 0; i < MEM_ELEMS; i++) {
        a[i] = 1.0;
        b[i] = 2.0;
        c[i] = 0.0;
    }
    meter_init(&m, "mem", "MB/s", 1e6);
    do {
        /* copy: one array read, one written; 8 arrays moved in all */
        for (size_t i = 0; i < MEM_ELEMS; i++) {
            c[i] = a[i];
        }
        /* triad: two read, one written */
        for (size_t i = 0; i < MEM_ELEMS; i++) {
            a[i] = b[i] + s * c[i];
        }
        /* keep the values bounded so the loop never meets inf or NaN */
        for (size_t i = 0; i < MEM_ELEMS; i++) {
            b[i] = a[i] - s * c[i];
        }
        now = now_ns();
        meter_add(&m, 8.0 * sizeof(a), now);
    } while (!expired(now));
    return 0;
}

/*
 * Busy until the monotonic clock reaches STOP, reading it only every 20 to
 * 100 us.  Where the guest's clock is an emulated device (the HPET under
 * TCG) each read exits to QEMU and takes its global lock: vCPUs polling the
 * clock would spend their busy phase waiting for that lock, not running.
 */
static int64_t spin_until(int64_t stop)
{
    static long chunk = 1000;
    int64_t before = now_ns();

    for (;;) {
        int64_t now;

        for (long i = 0; i < chunk; i++) {
            barrier();
        }
        now = now_ns();
        if (now >= stop) {
            return now;
        }
        if (now - before < 20000 && chunk < LONG_MAX / 2) {
            chunk *= 2;
        } else if (now - before > 100000 && chunk > 1) {
            chunk /= 2;
        }
        before = now;
    }
}

/*
 * Busy for PERCENT of every 100 ms period, asleep for the rest.  Periods
 * are on a fixed grid of the monotonic clock.  The busy phase is timed
 * from the actual wakeup, not from the grid point, so wakeup latency comes
 * out of the idle phase and the CPU time stays at PERCENT; only a busy
 * phase that would run into the next period is cut short.
 */
static int run_duty(long percent)
{
    int64_t busy_ns = DUTY_PERIOD_NS * percent / 100;
    int64_t start = now_ns() / DUTY_PERIOD_NS * DUTY_PERIOD_NS;

    for (;;) {
        int64_t now = now_ns();
        int64_t stop = now + busy_ns;
        struct timespec next;

        if (stop > start + DUTY_PERIOD_NS) {
            stop = start + DUTY_PERIOD_NS;
        }
        now = spin_until(stop);
        if (expired(now)) {
            return 0;
        }
        start += DUTY_PERIOD_NS;
        if (start < now) {
            /* stalled for whole periods: go on with the current one */
            start = now / DUTY_PERIOD_NS * DUTY_PERIOD_NS;
        }
        next.tv_sec = start / 1000000000LL;
        next.tv_nsec = start % 1000000000LL;
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL)
               == EINTR) {
            /* a signal: sleep on to the same point */
        }
    }
}

/*
 * Write 1 MiB blocks from start to end of DEVICE and wrap around, with
 * O_DIRECT so every write reaches the virtual disk instead of the guest's
 * page cache.
 */
static int run_io(const char *dev)
{
    struct meter m;
    void *buf;
    off_t size, off = 0;
    int64_t now;
    int fd, err;

    fd = open(dev, O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "stream: error: could not open '%s': %s\n", dev,
                strerror(errno));
        return 1;
    }
    size = lseek(fd, 0, SEEK_END);
    if (size < IO_BLOCK) {
        fprintf(stderr, "stream: error: '%s' is smaller than %d bytes\n",
                dev, IO_BLOCK);
        return 1;
    }
    size -= size % IO_BLOCK;
    err = posix_memalign(&buf, 4096, IO_BLOCK);
    if (err) {
        fprintf(stderr, "stream: error: no memory for the buffer: %s\n",
                strerror(err));
        return 1;
    }
    memset(buf, 0xa5, IO_BLOCK);
    meter_init(&m, "io", "MB/s", 1e6);
    do {
        ssize_t n = pwrite(fd, buf, IO_BLOCK, off);

        if (n < 0 && errno == EINTR) {
            n = 0;
        } else if (n != IO_BLOCK) {
            fprintf(stderr, "stream: error: write to '%s' at %lld: %s\n",
                    dev, (long long)off,
                    n < 0 ? strerror(errno) : "short write");
            return 1;
        }
        off += n;
        if (off >= size) {
            off = 0;
        }
        now = now_ns();
        meter_add(&m, n, now);
    } while (!expired(now));
    return 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: stream [--cpu N] [--seconds S] [--report S] spin|mem\n"
            "       stream [--cpu N] [--seconds S] duty PERCENT\n"
            "       stream [--cpu N] [--seconds S] [--report S] io DEVICE\n");
    return 2;
}

int main(int argc, char **argv)
{
    long cpu = -1, seconds = 0, report = 0, percent;
    const char *mode;
    int i;

    for (i = 1; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
        long *opt;

        if (!strcmp(argv[i], "--cpu")) {
            opt = &cpu;
        } else if (!strcmp(argv[i], "--seconds")) {
            opt = &seconds;
        } else if (!strcmp(argv[i], "--report")) {
            opt = &report;
        } else {
            return usage();
        }
        if (!parse_long(argv[i + 1], 0, INT_MAX, opt)) {
            fprintf(stderr, "stream: error: bad value '%s' for %s\n",
                    argv[i + 1], argv[i]);
            return 2;
        }
    }
    if (i >= argc) {
        return usage();
    }
    mode = argv[i++];

    if (cpu >= 0) {
        cpu_set_t set;

        if (cpu >= CPU_SETSIZE) {
            fprintf(stderr, "stream: error: CPU %ld is out of range\n", cpu);
            return 1;
        }
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set)) {
            fprintf(stderr, "stream: error: could not pin to CPU %ld: %s\n",
                    cpu, strerror(errno));
            return 1;
        }
    }
    if (seconds) {
        deadline_ns = now_ns() + seconds * 1000000000LL;
    }
    report_ns = report * 1000000000LL;

    if (!strcmp(mode, "spin") && i == argc) {
        return run_spin();
    }
    if (!strcmp(mode, "mem") && i == argc) {
        return run_mem();
    }
    if (!strcmp(mode, "duty") && i + 1 == argc) {
        if (!parse_long(argv[i], 1, 99, &percent)) {
            fprintf(stderr, "stream: error: duty wants a percentage 1..99, "
                    "not '%s'\n", argv[i]);
            return 2;
        }
        return run_duty(percent);
    }
    if (!strcmp(mode, "io") && i + 1 == argc) {
        return run_io(argv[i]);
    }
    return usage();
}

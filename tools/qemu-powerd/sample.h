/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-powerd: one VM's query-power reply or POWER_SAMPLE event, parsed
 * strictly.
 */

#ifndef QEMU_POWERD_SAMPLE_H
#define QEMU_POWERD_SAMPLE_H

typedef struct VmSample {
    uint64_t timestamp_ns;      /* CLOCK_MONOTONIC */
    char *source;               /* "cycles", "task-clock", "schedstat" */
    bool cycles;                /* unit: cycles, else nanoseconds */
    bool kernel_excluded;       /* host (and guest) kernel work not in it */
    uint64_t instance_count;    /* work of the whole QEMU process */
    uint64_t vcpu_count;
    unsigned nvcpus;            /* vCPUs listed, 0 if none is */
} VmSample;

void vm_sample_clear(VmSample *s);

/*
 * Parse a QMP reply line, {"return": {...}} of query-power, into @s.
 * Malformed JSON, an error reply, missing members, wrong types, negative
 * or too large numbers, and a VM without counters are errors.
 */
bool vm_sample_parse(const char *reply, VmSample *s, Error **errp);

/*
 * The same for a POWER_SAMPLE event line, {"event": "POWER_SAMPLE",
 * "data": {...}}, whose data has query-power's counter members.
 */
bool vm_sample_parse_event(const char *line, VmSample *s, Error **errp);

/*
 * The same for a record of a sampling channel (docs/qmp.rst, "The
 * sampling channel"): a flat object with those members and "version".
 */
#define SAMPLE_RECORD_VERSION 2
bool vm_sample_parse_record(const char *rec, VmSample *s, Error **errp);

#endif

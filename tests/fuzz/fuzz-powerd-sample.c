/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * libFuzzer target for qemu-powerd's parsers of query-power replies and
 * POWER_SAMPLE events, vm_sample_parse() and vm_sample_parse_event():
 * the daemon reads them from QEMU processes it does not trust.  Besides
 * crashes and leaks it checks the parser's promises: a failure says why
 * and leaves the previous sample as it was, a success has a source, and
 * a sample written back as a reply parses to itself.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qobject/qjson.h"
#include "qobject/qstring.h"
#include "sample.h"
#include "fuzz.h"

static void assert_same(const VmSample *a, const VmSample *b)
{
    g_assert_cmpuint(a->timestamp_ns, ==, b->timestamp_ns);
    g_assert_cmpstr(a->source, ==, b->source);
    g_assert_cmpint(a->cycles, ==, b->cycles);
    g_assert_cmpuint(a->instance_count, ==, b->instance_count);
    g_assert_cmpuint(a->vcpu_count, ==, b->vcpu_count);
}

/* @s as the reply QEMU would send, with the members the parser ignores. */
static char *reply_of(const VmSample *s)
{
    g_autoptr(QString) src = qstring_from_str(s->source);
    g_autoptr(GString) json = qobject_to_json(QOBJECT(src));

    return g_strdup_printf("{\"return\": {\"timestamp-ns\": %" PRIu64 ", "
                           "\"counter-source\": %s, "
                           "\"instance-count\": %" PRIu64 ", "
                           "\"vcpu-count\": %" PRIu64 ", \"vcpus\": [], "
                           "\"host-energy\": {\"available\": false, "
                           "\"zones\": []}}}",
                           s->timestamp_ns, json->str,
                           s->instance_count, s->vcpu_count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a reply is one line of text: it ends at a NUL */
    g_autofree char *reply = g_strndup((const char *)data, size);
    const VmSample old = {
        .timestamp_ns = 1, .source = (char *)"old", .cycles = true,
        .instance_count = 2, .vcpu_count = 3,
    };
    VmSample s = old;
    Error *err = NULL;

    s.source = g_strdup(old.source);
    if (!vm_sample_parse(reply, &s, &err)) {
        g_assert_nonnull(err);
        g_assert_cmpstr(error_get_pretty(err), !=, "");
        g_clear_pointer(&err, error_free);
        assert_same(&s, &old);
    } else {
        g_autofree char *again = NULL;
        VmSample t = { 0 };

        g_assert_null(err);
        g_assert_nonnull(s.source);
        again = reply_of(&s);
        if (!vm_sample_parse(again, &t, &err)) {
            g_error("'%s' parsed, but not '%s': %s", reply, again,
                    error_get_pretty(err));
        }
        assert_same(&s, &t);
        vm_sample_clear(&t);
    }
    vm_sample_clear(&s);

    /* the same input as an event line: a failure leaves nothing behind */
    if (!vm_sample_parse_event(reply, &s, &err)) {
        g_assert_nonnull(err);
        g_assert_null(s.source);
        error_free(err);
    } else {
        g_assert_nonnull(s.source);
    }
    vm_sample_clear(&s);
    return 0;
}

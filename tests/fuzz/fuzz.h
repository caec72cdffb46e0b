/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The entry points that libFuzzer and its sanitizers look up in a
 * target of tests/fuzz; see tests/fuzz/build.sh.
 */

#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H

/* Runs one input; returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LeakSanitizer's built-in suppressions and options, if a target has any. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_options(void);

#endif

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# test-targets.py BUILDDIR SUITE|TEST...: print the ninja targets of the
# executables that the named meson suites or tests run, so that 'make
# check' builds what it runs and nothing else.
import json
import os
import sys


def main():
    build, wanted = sys.argv[1], set(sys.argv[2:])
    with open(os.path.join(build, 'meson-info', 'intro-tests.json')) as f:
        tests = json.load(f)
    targets = set()
    for t in tests:
        # suites are listed as 'project:suite'
        suites = {s.split(':', 1)[-1] for s in t['suite']}
        if t['name'] in wanted or wanted & suites:
            exe = t['cmd'][0]
            if exe.startswith(build + '/'):
                targets.add(os.path.relpath(exe, build))
    if not targets:
        sys.exit('test-targets: no test matches ' + ' '.join(sorted(wanted)))
    print(' '.join(sorted(targets)))


if __name__ == '__main__':
    main()

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the libFuzzer targets of tests/fuzz into build/fuzz/ with clang,
# -fsanitize=fuzzer,address,undefined.  The code under test (qemu-powerd's
# sample.c and QEMU's JSON parser, util/host-*.c) is compiled here with the
# same instrumentation; the rest of QEMU it needs (error, cutils...) comes
# uninstrumented from the gcc-built libqemuutil.a of build/qemu/build.
# Include paths and defines are those that its compile_commands.json
# gives the same files.
# A target is rebuilt only when one of its inputs is newer.
# Usage: tests/fuzz/build.sh [--force]
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
qbuild="$top/build/qemu/build"
out="$top/build/fuzz"
CC=${FUZZ_CC:-clang}
force=${1:-}

die() {
    echo "fuzz build: $*" >&2
    exit 1
}

need="install clang and libclang-rt-14-dev (scripts/install-deps.sh)"
command -v "$CC" >/dev/null 2>&1 ||
    die "no '$CC': $need"
if [ ! -f "$qbuild/libqemuutil.a" ] ||
   [ ! -f "$qbuild/compile_commands.json" ]; then
    die "no QEMU build in $qbuild (run make first)"
fi
mkdir -p "$out/obj"

# Can this clang link a fuzzer at all?  Debian ships libFuzzer separately.
probe="$out/obj/probe"
echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' \
    > "$probe.c"
"$CC" -fsanitize=fuzzer "$probe.c" -o "$probe" > "$probe.log" 2>&1 ||
    die "'$CC' cannot link a libFuzzer target: $need;" \
        "$CC said: $(head -n 3 "$probe.log")"

# -I/-iquote/-isystem/-D/-std of one file's compile command, made absolute.
# Only these: QEMU's gcc warning flags are not all known to clang.
flags_of() {
    python3 - "$qbuild" "$1" <<'EOF'
import json, os, shlex, sys
build, want = sys.argv[1], sys.argv[2]
for c in json.load(open(os.path.join(build, 'compile_commands.json'))):
    if not c['file'].endswith(want):
        continue
    args = shlex.split(c['command'])
    out = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ('-iquote', '-isystem', '-I'):
            i += 1
            out += [a, os.path.normpath(os.path.join(c['directory'], args[i]))]
        elif a.startswith('-I'):
            out.append('-I' + os.path.normpath(os.path.join(c['directory'],
                                                            a[2:])))
        elif a.startswith(('-D', '-std=')) or a in ('-m64', '-mcx16',
                                                    '-msse2', '-pthread'):
            out.append(a)
        i += 1
    print(' '.join(shlex.quote(x) for x in out))
    sys.exit(0)
sys.exit('fuzz build: %s is not in compile_commands.json' % want)
EOF
}

sample_flags=$(flags_of tools/qemu-powerd/sample.c)
util_flags=$(flags_of util/host-sysfs.c)
helper_flags="$(flags_of tools/qemu-power-helper/proto.c)
              -I$top/tools/qemu-power-helper -I$top/tests/unit"
cflags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
        -fno-sanitize-recover=undefined -Wall -Wno-unused-function
        -Wno-initializer-overrides"
# what the unit tests link besides libqemuutil.a (see tests/unit)
link="$qbuild/libevent-loop-base.a.p/event-loop-base.c.o
      $qbuild/libqom.a.p/qom_container.c.o $qbuild/libqom.a.p/qom_object.c.o
      $qbuild/libqom.a.p/qom_object_interfaces.c.o
      $qbuild/libqom.a.p/qom_qom-qobject.c.o
      -Wl,--start-group $qbuild/libqemuutil.a -Wl,--end-group
      $(pkg-config --libs glib-2.0) -lrt -lm -pthread"

# build NAME "FLAGS" SOURCES...: build/fuzz/fuzz-NAME, made of
# tests/fuzz/fuzz-NAME.c and SOURCES
build() {
    name=$1
    flags=$2
    shift 2
    bin="$out/fuzz-$name"
    srcs="$top/tests/fuzz/fuzz-$name.c $*"
    if [ "$force" != --force ] && [ -x "$bin" ]; then
        # shellcheck disable=SC2086
        stale=$(find $srcs "$top/include/qemu" "$top/tools/qemu-powerd" \
                "$top/tools/qemu-power-helper" \
                "$qbuild/libqemuutil.a" "$0" -newer "$bin" -print | head -n 1)
        [ -z "$stale" ] && return 0
    fi
    echo "fuzz build: fuzz-$name"
    objs=""
    for s in $srcs; do
        o="$out/obj/$name-$(basename "$s" .c).o"
        # shellcheck disable=SC2086
        "$CC" $cflags $flags -c "$s" -o "$o"
        objs="$objs $o"
    done
    # shellcheck disable=SC2086
    "$CC" $cflags $objs $link -o "$bin"
}

# QEMU's JSON parser too, so that libFuzzer sees its branches and leak
# reports have whole stacks (the gcc build has no frame pointers)
qobject=""
for f in qnull qnum qstring qdict qlist qbool qjson qobject json-writer \
         json-lexer json-streamer json-parser; do
    qobject="$qobject $top/build/qemu/qobject/$f.c"
done
# shellcheck disable=SC2086
build powerd-sample "$sample_flags" "$top/tools/qemu-powerd/sample.c" \
    $qobject
build host-sysfs "$util_flags" "$top/util/host-sysfs.c"
build host-cpufreq "$util_flags" "$top/util/host-cpufreq.c" \
    "$top/util/host-sysfs.c"
build host-rapl "$util_flags" "$top/util/host-rapl.c" "$top/util/host-sysfs.c"
h="$top/tools/qemu-power-helper"
build power-helper "$helper_flags" "$h/proto.c" "$h/policy.c" "$h/arbiter.c" \
    "$h/energy.c" "$top/util/host-sysfs.c" "$top/util/host-rapl.c" \
    "$top/util/host-cpufreq.c" "$top/tests/unit/fake-sysfs.c"

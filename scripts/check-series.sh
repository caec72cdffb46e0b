#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Check the generated series (build/series-fixes, then build/series, see
# scripts/make-series.sh) one patch at a time, as a reviewer or a
# bisection meets them.  Starting from a fresh copy of pristine QEMU in
# build/series-check/qemu, each patch
# must apply with git am, pass QEMU's checkpatch, and build incrementally
# with ninja -j2 in this check's own build directory,
# build/series-check/build; the power qtests run at the patches that add
# or change them, and at the last patch.  One line per patch, "ok N
# SUBJECT" or "not ok N SUBJECT (what failed)", then "check-series: N
# passed, N failed"; the logs are in build/series-check/log.  A patch
# that does not apply stops the check (the rest cannot apply either);
# any other failure is reported and the check goes on.
#
# It builds QEMU from scratch once and then after every patch: expect
# more than 30 minutes of two CPUs.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
series="$top/build/series"
fixes="$top/build/series-fixes"
src="$top/build/qemu-src"
chk="$top/build/series-check"
tree="$chk/qemu"
bld="$chk/build"
log="$chk/log"

die() {
    echo "check-series: $*" >&2
    exit 1
}

[ -f "$src/VERSION" ] || die "no pristine tree in $src (run scripts/fetch-qemu.sh)"
[ -f "$series/0000-cover-letter.patch" ] &&
    [ -f "$fixes/0000-cover-letter.patch" ] ||
    die "no series in build/series and build/series-fixes (run scripts/make-series.sh)"

# The same QEMU as scripts/build-qemu.sh builds (keep the two in step).
fwpath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu
opts="--target-list=x86_64-softmmu --without-default-features
      --enable-kvm --enable-tcg --disable-docs --disable-install-blobs
      --enable-fdt=system --python=/usr/bin/python3
      --firmwarepath=$fwpath"

g() {
    git -C "$tree" -c user.name=check-series -c user.email=check-series@localhost \
        -c core.autocrlf=false -c gc.auto=0 "$@"
}

rm -rf "$chk"
mkdir -p "$log"
echo "check-series: copying pristine QEMU $(cat "$src/VERSION") to $tree"
cp -a "$src" "$tree"
g init -q
g add -A -f .
g commit -q -m "QEMU $(cat "$src/VERSION") (pristine)"

# The power qtests that exist in the build directory, by meson's name.
power_qtests() {
    meson test -C "$bld" --list --suite qtest-x86_64 2>/dev/null |
        sed -n 's|^.* / \(qtest-x86_64/power-[a-z-]*test\)$|\1|p'
}

# Before the first qtests: QEMU run from a build tree finds firmware only
# under qemu-bundle/ (as in scripts/build-qemu.sh), and the KVM cases of
# power-test run with the probe's CPU model, or skip with its reason (as
# in scripts/run-qtests.sh).
qtest_setup() {
    [ -z "${POWER_PROBE:-}" ] || return 0
    for d in $(echo "$fwpath" | tr ':' ' '); do
        mkdir -p "$bld/qemu-bundle$(dirname "$d")"
        ln -sfn "$d" "$bld/qemu-bundle$d"
    done
    eval "$(sh "$top/scripts/kvm-probe.sh" "$bld/qemu-system-x86_64")" || return 1
    export POWER_ACCEL POWER_CPU POWER_PROBE
    echo "check-series: $POWER_PROBE"
}

for last in "$series"/[0-9][0-9][0-9][0-9]-*.patch; do :; done
passed=0
failed=0
# the fixes series first (as f0001...), then the series based on it
for p in "$fixes"/[0-9][0-9][0-9][0-9]-*.patch "$series"/[0-9][0-9][0-9][0-9]-*.patch; do
    n=$(basename "$p" | cut -c1-4)
    [ "$n" != 0000 ] || continue    # the cover letters
    [ "$(dirname "$p")" != "$fixes" ] || n=f$n
    subj=$(awk '/^Subject: / { s = $0; while ((getline l) > 0 && l ~ /^ /) s = s l
                                 sub(/^Subject: \[PATCH [0-9]+\/[0-9]+\] /, "", s)
                                 print s; exit }' "$p")
    t0=$(date +%s)
    why=""
    built=""

    if ! g am -q "$p" > "$log/$n-am.log" 2>&1; then
        g am --abort > /dev/null 2>&1
        echo "not ok $n $subj (does not apply, see build/series-check/log/$n-am.log)"
        failed=$((failed + 1))
        break
    fi

    (cd "$tree" && ./scripts/checkpatch.pl -q "$p") > "$log/$n-checkpatch.log" 2>&1 ||
        why="$why checkpatch"

    # Configured only now: pristine 10.0.13 does not configure from a
    # source tree without edk2 images (Debian's), which the first patch
    # fixes.  After that, ninja re-runs meson itself when needed.
    if [ ! -f "$bld/build.ninja" ]; then
        mkdir -p "$bld"
        # shellcheck disable=SC2086
        (cd "$bld" && "$tree/configure" $opts) > "$log/$n-configure.log" 2>&1 ||
            why="$why configure"
    fi
    if [ -f "$bld/build.ninja" ]; then
        if ninja -C "$bld" -j2 > "$log/$n-build.log" 2>&1; then
            built=1
        else
            why="$why build"
        fi
    fi

    if [ -n "$built" ] &&
       { grep -q '^diff --git a/tests/qtest/power' "$p" || [ "$p" = "$last" ]; }; then
        tests=$(power_qtests)
        if [ -n "$tests" ] && ! qtest_setup > "$log/$n-kvm-probe.log" 2>&1; then
            why="$why kvm-probe"
        elif [ -n "$tests" ]; then
            # one at a time: power-test compares CPU time with wall time
            # shellcheck disable=SC2086
            meson test -C "$bld" --print-errorlogs --num-processes 1 $tests \
                > "$log/$n-qtest.log" 2>&1 || why="$why qtest"
        fi
    fi

    t=$(($(date +%s) - t0))
    if [ -z "$why" ]; then
        echo "ok $n $subj (${t} s)"
        passed=$((passed + 1))
    else
        echo "not ok $n $subj (${why# }; ${t} s, see build/series-check/log/$n-*)"
        failed=$((failed + 1))
    fi
done
echo "check-series: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

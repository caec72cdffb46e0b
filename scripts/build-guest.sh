#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build-guest.sh: build the Linux test guest, build/guest/vmlinuz and
# build/guest/initrd.gz, from Debian packages: the kernel that
# linux-image-cloud-amd64 depends on, busybox-static, and the guest side in
# tests/guest/ (init, cpu-online, stream.c).  The .debs stay in
# build/guest/debs/; a stamp of every input (this script, tests/guest/*,
# the package versions) makes a second run with nothing changed a no-op.
#
# Boot it with, for example:
#   qemu-system-x86_64 -M q35 -m 256 -kernel build/guest/vmlinuz \
#       -initrd build/guest/initrd.gz \
#       -append "console=ttyS0 quiet work=cpu1" -serial ...
# and wait for "qemu-power-guest: ready work=SPEC cpus=N" on the serial port.
# SPEC is words joined by '+':
#   idle      nothing; the vCPUs halt
#   cpu       a busy loop pinned to each vCPU online at boot
#   cpu1      a busy loop pinned to vCPU 0, the others idle
#   busy=P    on each vCPU, busy P % (1..99) of every 100 ms, asleep the rest
#   mem       a STREAM-like copy/triad loop over 3 x 16 MiB, pinned to the
#             last vCPU (needs -m 256 or more)
#   io        1 MiB O_DIRECT writes to /dev/vda, wrapping at its end (needs
#             -drive file=DISK,if=virtio,format=raw)
# A SPEC with an unknown word, or io without /dev/vda, starts nothing: the
# guest prints "qemu-power-guest: error: ..." and then the ready line with
# work=idle.  Hot-added vCPUs are onlined; device_del ejects them.
set -eu

t0=$(date +%s)
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/guest
debs=$out/debs
src=$top/tests/guest
# Drivers for the virtio disk, loaded as modules when not built in.
want_modules="virtio_pci virtio_blk"

say() {
    echo "build-guest: $*"
}

die() {
    echo "build-guest: error: $*" >&2
    exit 1
}

mkdir -p "$debs"
# Parallel test runs share build/guest: one builds, the others wait.
if command -v flock >/dev/null; then
    exec 9>"$out/.lock"
    flock 9
fi

# apt-cache takes most of a second here (no binary cache), so resolve the
# package versions only when apt's lists or configuration changed.
apt_state() {
    find /var/lib/apt/lists /etc/apt -maxdepth 2 -type f ! -name lock \
         -printf '%p %s %T@\n' 2>/dev/null | sort | cksum
}

resolve() {
    kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
           awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
    [ -n "$kpkg" ] ||
        die "apt knows no linux-image-cloud-amd64 (run scripts/apt-setup.sh)"
    apt-cache policy "$kpkg" busybox-static | awk '
        /^[^ ]/ { pkg = $1; sub(/:$/, "", pkg) }
        $1 == "Candidate:" && $2 != "(none)" { print pkg, $2 }'
}

state=$(apt_state)
if [ -f "$out/packages" ] && [ "$(sed -n 1p "$out/packages")" = "$state" ]; then
    packages=$(sed 1d "$out/packages")
else
    packages=$(resolve)
    printf '%s\n%s\n' "$state" "$packages" > "$out/packages"
fi
kpkg=$(echo "$packages" | awk '$1 ~ /^linux-image-/ { print $1 }')
kver=$(echo "$packages" | awk '$1 ~ /^linux-image-/ { print $2 }')
bver=$(echo "$packages" | awk '$1 == "busybox-static" { print $2 }')
if [ -z "$kpkg" ] || [ -z "$kver" ] || [ -z "$bver" ]; then
    rm -f "$out/packages"
    die "no candidate for $kpkg or busybox-static (run scripts/apt-setup.sh)"
fi
krel=${kpkg#linux-image-}

stamp=$(
    {
        cat "$top/scripts/build-guest.sh"
        for f in "$src"/*; do
            [ -f "$f" ] || continue
            printf '%s\n' "${f##*/}"
            cat "$f"
        done
        printf '%s\n' "$packages"
    } | sha256sum
)
if [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.gz" ] && [ -f "$out/stamp" ] &&
   [ "$(cat "$out/stamp")" = "$stamp" ]; then
    say "build/guest up to date (kernel $krel)"
    exit 0
fi

rm -f "$out/stamp"

# Build tools, installed only if missing.
missing=
for p in cpio gcc libc6-dev; do
    case $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) in
    ii*) ;;
    *) missing="$missing $p" ;;
    esac
done
if [ -n "$missing" ]; then
    [ "$(id -u)" = 0 ] || die "please install:$missing"
    say "installing$missing"
    # shellcheck disable=SC2086
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends $missing > "$out/apt.log" 2>&1; then
        cat "$out/apt.log" >&2
        die "apt-get install$missing failed"
    fi
fi

# fetch PKG VERSION OLD: print the path of PKG's .deb in build/guest/debs,
# downloading it if it is not there yet and then dropping the .debs of the
# packages OLD (a glob) matches, which it replaces.
fetch() {
    deb=$debs/${1}_$(echo "$2" | sed 's/:/%3a/g')_$arch.deb
    if [ ! -f "$deb" ]; then
        say "downloading $1 $2" >&2
        dl=$(mktemp -d)
        # apt's sandbox user must be able to write where it downloads.
        if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then
            chown _apt "$dl"
        fi
        (cd "$dl" && apt-get download -q=2 "$1=$2") >&2 ||
            { rm -rf "$dl"; die "could not download $1 $2"; }
        rm -f "$debs/$3"_*.deb
        mv "$dl"/*.deb "$deb"
        rm -rf "$dl"
    fi
    echo "$deb"
}

arch=$(dpkg --print-architecture)
kdeb=$(fetch "$kpkg" "$kver" 'linux-image-*')
bdeb=$(fetch busybox-static "$bver" busybox-static)

work=$out/work
rm -rf "$work"
mkdir -p "$work/kernel" "$work/busybox"
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$kdeb" "$work/kernel"
dpkg-deb -x "$bdeb" "$work/busybox"
bb=$work/busybox/bin/busybox
mods=$work/kernel/lib/modules/$krel
[ -x "$bb" ] || die "no bin/busybox in $bdeb"
[ -f "$work/kernel/boot/vmlinuz-$krel" ] || die "no boot/vmlinuz-$krel in $kdeb"

root=$work/root
mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/lib/modules"
cp "$bb" "$root/bin/busybox"
for a in $("$bb" --list-full); do
    case "$a" in
    bin/busybox|linuxrc) continue ;;
    esac
    [ -d "$root/${a%/*}" ] || mkdir -p "$root/${a%/*}"
    ln -s /bin/busybox "$root/$a"
done

# The virtio disk drivers: the package ships no modules.dep (its postinst
# runs depmod), so busybox's depmod writes one into the extracted tree.
[ -f "$mods/modules.dep" ] || "$bb" depmod -b "$work/kernel" "$krel"
for m in $want_modules; do
    if grep -q "/$m\.ko\$" "$mods/modules.builtin"; then
        continue
    fi
    # Dependencies before the modules that need them, each once.
    awk -v m="$m" '
        function base(p) { sub(/.*\//, "", p); sub(/\.ko.*/, "", p); return p }
        function visit(n,    i, d, k) {
            if (n in seen) return
            seen[n] = 1
            if (!(n in deps)) { print "missing " n; return }
            k = split(deps[n], d, " ")
            for (i = 1; i <= k; i++) visit(base(d[i]))
            print n, path[n]
        }
        {
            n = base($1)
            sub(/:$/, "", $1)
            path[n] = $1
            deps[n] = ""
            for (i = 2; i <= NF; i++) deps[n] = deps[n] " " $i
        }
        END { visit(m) }' "$mods/modules.dep"
done | awk '!seen[$1]++' > "$work/modules"
if grep -q '^missing ' "$work/modules"; then
    die "no module $(awk '$1 == "missing" { print $2; exit }' \
                          "$work/modules") in $kpkg"
fi
while read -r name path; do
    ko=$root/lib/modules/$name.ko
    # busybox insmod reads plain .ko files only: decompress here.
    case "$path" in
    *.ko) cp "$mods/$path" "$ko" ;;
    *.ko.xz) "$bb" xzcat "$mods/$path" > "$ko" ;;
    *.ko.gz) "$bb" zcat "$mods/$path" > "$ko" ;;
    *.ko.zst)
        command -v zstd >/dev/null || die "zstd is needed for $path"
        zstd -q -d -c "$mods/$path" > "$ko"
        ;;
    *) die "unknown module format: $path" ;;
    esac
    echo "$name" >> "$root/lib/modules/load-order"
done < "$work/modules"

gcc -static -O2 -Wall -o "$root/bin/stream" "$src/stream.c"
cp "$src/init" "$root/init"
cp "$src/cpu-online" "$root/bin/cpu-online"
chmod 755 "$root/init" "$root/bin/cpu-online"

# Replace the outputs only once both are complete.
cp "$work/kernel/boot/vmlinuz-$krel" "$work/vmlinuz"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet |
    gzip -1) > "$work/initrd.gz"
mv "$work/vmlinuz" "$out/vmlinuz"
mv "$work/initrd.gz" "$out/initrd.gz"
echo "$stamp" > "$out/stamp"

mb() {
    awk -v n="$(wc -c < "$1")" 'BEGIN { printf "%.1f MB", n / 1e6 }'
}
say "build/guest ready (kernel $krel, vmlinuz $(mb "$out/vmlinuz")," \
    "initrd $(mb "$out/initrd.gz"), $(($(date +%s) - t0)) s)"

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make-guest-bios.sh spin|half|halt|count|exit OUT: write a 64 KiB -bios image that
# runs one of the tiny guests of tests/qtest/power/guest.S.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
mode=$1
out=$2
case "$mode" in
spin|half|halt|count|exit) ;;
*) echo "make-guest-bios: unknown guest '$mode' (spin, half, halt, count or exit)" >&2; exit 1 ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
as --32 -o "$tmp/g.o" "$top/tests/qtest/power/guest.S"
ld -m elf_i386 -Ttext=0 -e 0 -o "$tmp/g.elf" "$tmp/g.o"
objcopy -O binary "$tmp/g.elf" "$tmp/g.bin"
entry=$(nm "$tmp/g.elf" | awk -v m="$mode" '$3 == m { print $1 }')
# The reset vector at 0xfff0 is "ljmp $0xf000, $entry": patch the offset.
python3 - "$tmp/g.bin" "$out" "$entry" <<'PY'
import sys
img = bytearray(open(sys.argv[1], 'rb').read())
assert len(img) == 0x10000 and img[0xfff0] == 0xea
entry = int(sys.argv[3], 16)
img[0xfff1:0xfff3] = entry.to_bytes(2, 'little')
open(sys.argv[2], 'wb').write(img)
PY

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Assemble guest.S into guest.h: the 64 KiB -bios image as a sparse list
# of byte runs, and the offset of each guest's entry point.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
as --32 -o "$tmp/guest.o" guest.S
ld -m elf_i386 -Ttext=0 -e 0 -o "$tmp/guest.elf" "$tmp/guest.o"
objcopy -O binary "$tmp/guest.elf" "$tmp/guest.bin"
python3 - "$tmp/guest.bin" "$tmp/guest.elf" > guest.h <<'PY'
import subprocess, sys
data = open(sys.argv[1], 'rb').read()
assert len(data) == 0x10000, len(data)
syms = {}
for line in subprocess.check_output(['nm', sys.argv[2]], text=True).split('\n'):
    f = line.split()
    if len(f) == 3 and f[2] in ('spin', 'halt', 'half', 'count',
                                'exit', 'ap_spin'):
        syms[f[2]] = int(f[0], 16)
print('/*\n * SPDX-' + 'License-Identifier: GPL-2.0-or-later\n *')
print(' * Generated from guest.S by gen-guest.sh; do not edit.\n */\n')
print('#define POWER_GUEST_IMAGE_SIZE 0x10000')
for k in ('spin', 'halt', 'half', 'count', 'exit'):
    print('#define POWER_GUEST_%s 0x%04x' % (k.upper(), syms[k]))
print('\n/* the image\'s non-zero runs: offset, then bytes */')
runs, i = [], 0
while i < len(data):
    if data[i] == 0:
        i += 1
        continue
    j = i
    while j < len(data) and any(data[j:j + 8]):
        j += 1
    runs.append((i, data[i:j].rstrip(b'\0')))
    i = j
print('static const struct {\n    unsigned offset;\n    unsigned len;')
print('    unsigned char bytes[%d];\n} power_guest_runs[] = {' %
      max(len(r[1]) for r in runs))
for off, b in runs:
    print('    { 0x%04x, %d, {' % (off, len(b)))
    for k in range(0, len(b), 12):
        print('        ' + ' '.join('0x%02x,' % c for c in b[k:k + 12]))
    print('    } },')
print('};')
PY

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# power_cap_plot.py FILE.dat...: a PNG beside each run of
# test_power_cap.py: the meter's power per interval against the cap and
# the release threshold, over time, drawn by gnuplot.  A .dat file has
# the columns "seconds watts cap release" after a '#' header line.
import os
import subprocess
import sys


def plot(dat):
    png = os.path.splitext(dat)[0] + '.png'
    title = os.path.basename(os.path.splitext(dat)[0]).replace('_', ' ')
    script = """set terminal png size 900,500
set output '%s'
set title '%s: meter power against the cap'
set xlabel 'seconds since qemu-powerd started'
set ylabel 'W'
set key top right
set grid
plot '%s' using 1:2 with linespoints title 'power (meter)', \\
     '' using 1:3 with lines dashtype 2 title 'cap', \\
     '' using 1:4 with lines dashtype 3 title 'release threshold'
""" % (png, title, dat)
    subprocess.run(['gnuplot'], input=script, text=True, check=True)
    return png


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit('usage: power_cap_plot.py FILE.dat...')
    for a in sys.argv[1:]:
        print(plot(a))

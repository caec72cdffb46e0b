# SPDX-License-Identifier: GPL-2.0-or-later
#
# The folders of this repository that mirror QEMU's tree.  Files in them are
# new files of the patch set and are linked into build/qemu.
OVERLAY_DIRS="accel configs hw include monitor power qapi stats system tests tools util"

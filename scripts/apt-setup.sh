#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Make Debian's trixie sources (for QEMU 10.0's source package) and
# bookworm-backports (for meson >= 1.5, libvirt 11) visible to apt, reusing
# the archive this machine is already configured for.  Idempotent: it only
# writes its own list file and runs 'apt-get update' when it changed.
set -eu

list=/etc/apt/sources.list.d/qemu-power.sources

# The first deb URI configured for the main Debian suite; we never name a host.
uri=$(
    {
        cat /etc/apt/sources.list.d/*.sources 2>/dev/null
    } | awk '
        /^URIs:/ { u = $2 }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i ~ /^(bookworm|stable)$/) { print u; exit } }
    '
)
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $3 ~ /^(bookworm|stable)$/ { print $2; exit }' \
              /etc/apt/sources.list)
fi
if [ -z "$uri" ]; then
    echo "apt-setup: no Debian bookworm archive configured in /etc/apt" >&2
    exit 1
fi

want=$(cat <<EOT
# Written by qemu-power's scripts/apt-setup.sh
Types: deb-src
URIs: $uri
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
)

stamp=/var/lib/apt/lists/.qemu-power-updated
if [ -f "$list" ] && [ "$(cat "$list")" = "$want" ] && [ -f "$stamp" ]; then
    exit 0
fi
printf '%s\n' "$want" > "$list"
apt-get update -q
touch "$stamp"

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# qmp.py SOCKET COMMAND [ARGUMENTS-JSON]: run one QMP command on a QEMU's
# QMP UNIX socket and print the reply's "return" as JSON.  Exits 1 with the
# error's description on an error reply.
import json
import socket
import sys


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: qmp.py SOCKET COMMAND [ARGUMENTS-JSON]")
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sys.argv[1])
    f = s.makefile('rw')
    json.loads(f.readline())                      # greeting
    for cmd in ({'execute': 'qmp_capabilities'},
                {'execute': sys.argv[2],
                 'arguments': json.loads(sys.argv[3]) if len(sys.argv) > 3
                 else {}}):
        f.write(json.dumps(cmd) + '\n')
        f.flush()
        while True:
            reply = json.loads(f.readline())
            if 'event' not in reply:
                break
        if 'error' in reply:
            sys.exit('%s: %s' % (sys.argv[2], reply['error']['desc']))
    print(json.dumps(reply['return'], indent=2))


if __name__ == '__main__':
    main()

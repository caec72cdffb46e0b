# SPDX-License-Identifier: GPL-2.0-or-later
#
# QMP argument fuzzing of the host power commands through
# qemu-power-helper (qmpfuzz.py): 2000 random requests in make check, 20000
# in make check-stress.  Each run prints its seed; QMP_ARGS_SEED=S replays
# it.  Needs root: the helper runs as root over a fake tree.
import os

import pytest

from machines import QEMU
from qmpfuzz import Fuzz


@pytest.mark.parametrize('requests', [
    pytest.param(2000, id='2000'),
    pytest.param(20000, id='20000', marks=pytest.mark.stress)])
def test_qmp_args(tmpdir_short, requests):
    """
    QEMU answers every request; known-valid requests change exactly
    their files before and after the fuzzing; a failed request, a query
    or a malformed request changes nothing; a success changes only knob
    files, as its reply says; the tree keeps its invariants; nothing
    outside the tree is created or changed; QEMU quits cleanly.
    """
    seed = int(os.environ.get('QMP_ARGS_SEED') or
               int.from_bytes(os.urandom(4), 'little'))
    print('seed %d (replay: QMP_ARGS_SEED=%d)' % (seed, seed))
    # the directory's 0700 keeps others out; QEMU runs as root here
    run = Fuzz(QEMU, os.path.join(tmpdir_short, 't'), requests, seed)
    try:
        run.setup()
        run.valid('before')
        run.fuzz()
        if run.qemu.alive():
            run.valid('after')
    finally:
        rc = run.close()
    problems = run.failures()
    assert not problems, '\n'.join(problems)
    assert rc == 0, 'QEMU exited with %s at quit' % rc

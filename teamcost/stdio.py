"""The process's standard streams, made safe before anything else opens a file."""

from __future__ import annotations

import os
import sys


def standard_streams() -> None:
    """Open /dev/null on a closed stdin, stdout or stderr (``teamcost record ... >&-``).

    Otherwise Python leaves ``sys.stdout`` None, so a command that has done its work (a
    call recorded) fails printing its confirmation and a retrying script records the call
    twice; and the next file opened (the ledger) would get descriptor 1, where any stray
    write would land in it.
    """
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        null = os.open(os.devnull, os.O_RDWR)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, mode, closefd=False))

"""The ``teamcost`` command (and ``python -m teamcost``).

``teamcost statusline`` runs on every Claude Code assistant message, so it starts here
without the CLI (typer, rich, every command module, pandas and the Firestore stack load
with it); everything else, ``statusline --help`` included, goes to ``teamcost.cli``.
"""

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


def main() -> None:
    standard_streams()
    if sys.argv[1:] == ["statusline"]:
        from teamcost.commands.statusline import print_status_line

        sys.exit(print_status_line())
    from teamcost.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()

"""The ``teamcost`` command (and ``python -m teamcost``).

``teamcost statusline`` runs on every Claude Code assistant message, so it starts here
without the CLI (typer, rich, every command module, pandas and the Firestore stack load
with it); everything else, ``statusline --help`` included, goes to ``teamcost.cli``.
"""

from __future__ import annotations

import os
import sys

from teamcost.stdio import standard_streams


def _collect_later(after_s: float = 1.0) -> None:
    """No cyclic garbage collection for the command's first second.

    Those first moments load typer, pyarrow and pandas: hundreds of thousands of objects
    that live as long as the process, which the collector scans again and again while
    they load (175 collections, about 30 ms of a report's CPU) and never frees. A report
    is done within the second; a server, an agent or a long import collects as usual
    after it. teamcost never forks, so no child is left without the timer.
    """
    import gc
    import threading

    gc.disable()
    timer = threading.Timer(after_s, gc.enable)
    timer.daemon = True   # never holds the process open at exit
    timer.start()


def main() -> None:
    # teamcost multiplies no matrices, but numpy's OpenBLAS starts a thread per core when
    # pandas or pyarrow load it, and those threads spin: about 0.05 s of CPU on every report
    # (2 cores), a fifth of what the report itself computes. One thread unless the user
    # says otherwise; teamcost starts no program of the user's that would inherit it.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    standard_streams()
    if sys.argv[1:] == ["statusline"]:
        from teamcost.commands.statusline import print_status_line

        sys.exit(print_status_line())
    _collect_later()
    from teamcost.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()

"""The ``teamcost`` command (and ``python -m teamcost``).

``teamcost statusline`` runs on every Claude Code assistant message, so it starts here
without the CLI (typer, rich, every command module, pandas and the Firestore stack load
with it); everything else, ``statusline --help`` included, goes to ``teamcost.cli``.
"""

from __future__ import annotations

import os
import sys

from teamcost.stdio import standard_streams


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
    from teamcost.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()

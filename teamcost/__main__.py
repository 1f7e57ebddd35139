"""The ``teamcost`` command (and ``python -m teamcost``).

``teamcost statusline`` runs on every Claude Code assistant message, so it starts here
without the CLI (typer, rich, every command module, pandas and the Firestore stack load
with it); everything else, ``statusline --help`` included, goes to ``teamcost.cli``.
"""

from __future__ import annotations

import sys

from teamcost.stdio import standard_streams


def main() -> None:
    standard_streams()
    if sys.argv[1:] == ["statusline"]:
        from teamcost.commands.statusline import print_status_line

        sys.exit(print_status_line())
    from teamcost.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()

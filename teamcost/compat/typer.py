"""typer internals the CLI relies on (tests/unit/test_compat.py).

typer vendors click as ``typer._click`` from 0.2x on; the CLI catches click's usage and
"no arguments" exceptions to print one line and exit 2 (typer's own handler prints a box).
"""

from __future__ import annotations

from typer._click import exceptions as click_exceptions

__all__ = ["click_exceptions"]

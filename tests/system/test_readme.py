"""The docs cannot drift: every CLI command is in README.md or docs/ with help text, and
their commands run.

README.md and every docs/*.md page (found here, so a new page is tested without a line of
this file changing) are run one file at a time. A file's fenced ```sh blocks run as bash
scripts (``set -euo pipefail``), in document order, in one scratch directory with one
fresh TEAMCOST_HOME, as a person following that page would. ``teamcost`` and ``.venv/bin/teamcost`` both resolve to this checkout's, and
``tests/`` to its tests (the import examples read the sample logs in tests/fixtures). Lines
starting with ``make`` are not run here (``make test`` is this suite; ``make demo`` is
``teamcost demo``, run by tests/system/test_demo.py and by the README's demo block).

A block that needs Firestore is marked by an HTML comment on the line before its fence:

    <!-- readme-test: emulator -->

and gets FIRESTORE_EMULATOR_HOST pointing at the test emulator; unmarked blocks run
without it, which proves they do not need one. ``<!-- readme-test: skip REASON -->``
skips a block (say why). ```python blocks run with this checkout's interpreter.
``<!-- readme-test: tour -->`` marks the README's tour, which tests/system/test_tour.py runs
on a fresh clone.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [README, *DOCS]
VENV_BIN = Path(sys.executable).parent
_FENCE = re.compile(r"^```(\w*)\s*$")
_MARK = re.compile(r"^<!--\s*readme-test:\s*(\w+)\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    lang: str
    code: str
    line: int          # 1-based line of the opening fence
    mark: str = ""     # "", "emulator", "skip"
    why: str = ""


def readme_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m:
            start = i
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            prev = lines[start - 1] if start else ""
            mk = _MARK.match(prev)
            blocks.append(Block(m.group(1), "\n".join(lines[start + 1:j]), start + 1,
                                mk.group(1) if mk else "", mk.group(2) if mk else ""))
            i = j + 1
        else:
            i += 1
    return blocks


def cli_commands() -> dict[str, str]:
    """Every command path ('sync push', 'demo', ...) -> its help text."""
    import typer

    from teamcost.cli import app

    root = typer.main.get_command(app)
    out: dict[str, str] = {}

    def walk(cmd, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if path:
            out[" ".join(path)] = (cmd.help or cmd.short_help or "").strip()
        for name, sub in (subs or {}).items():
            if not getattr(sub, "hidden", False):
                walk(sub, [*path, name])

    walk(root, [])
    return out


def test_the_block_parser_reads_marks_and_languages():
    text = "x\n<!-- readme-test: emulator -->\n```sh\na\nb\n```\n```python\nc\n```\n"
    blocks = readme_blocks(text)
    assert [(b.lang, b.code, b.mark, b.line) for b in blocks] == [
        ("sh", "a\nb", "emulator", 3), ("python", "c", "", 7)]


def test_every_command_is_in_the_readme_with_help_text():
    readme = "\n".join(p.read_text() for p in PAGES)
    commands = cli_commands()
    assert {"demo", "watch", "sync push"} <= set(commands)
    no_help = sorted(c for c, h in commands.items() if not h)
    assert not no_help, f"commands without help text: {no_help}"
    # a group counts as documented through its subcommands ("teamcost ledger status")
    missing = sorted(c for c in commands
                     if not re.search(rf"teamcost {re.escape(c)}(?![\w-])", readme))
    assert not missing, ("commands not shown in README.md or docs/ (add them to their page "
                         f"as `teamcost <command> ...`): {missing}")


def test_the_docs_tour_is_the_readme_tour():
    tours = {p.name: [b.code for b in readme_blocks(p.read_text()) if b.mark == "tour"]
             for p in PAGES}
    assert len(tours["README.md"]) == 1
    assert tours["tour.md"] == tours["README.md"], "docs/tour.md's tour block differs"
    assert all(not t for name, t in tours.items() if name not in ("README.md", "tour.md"))


def _script(block: Block) -> str:
    kept = [ln for ln in block.code.splitlines() if not ln.lstrip().startswith("make ")]
    return "set -euo pipefail\n" + "\n".join(kept) + "\n"


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_readme_commands_run(page, firestore_emulator, tmp_path, teamcost_home):
    name = str(page.relative_to(REPO))
    blocks = [b for b in readme_blocks(page.read_text()) if b.lang in ("sh", "bash", "python")]
    if not blocks:
        return   # a page of prose
    work = tmp_path / "work"
    work.mkdir()
    (work / ".venv").symlink_to(VENV_BIN.parent)      # `.venv/bin/teamcost` works here too
    (work / "tests").symlink_to(REPO / "tests")       # the README's examples read its fixtures
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("TEAMCOST_", "FIRESTORE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT"))}
    base |= {"TEAMCOST_HOME": str(teamcost_home), "PATH": f"{VENV_BIN}:{base.get('PATH', '')}",
             "TEAMCOST_MEMBER": "reader@example.com", "COLUMNS": "120", "NO_COLOR": "1"}
    projects: set[str] = set()
    ran = 0
    try:
        for b in blocks:
            if b.mark == "skip":
                assert b.why, f"{name}:{b.line}: a skipped block must say why"
                continue
            if b.mark == "tour":   # tests/system/test_tour.py runs it, on a fresh clone
                continue
            env = dict(base)
            if b.mark == "emulator":
                env["FIRESTORE_EMULATOR_HOST"] = firestore_emulator.host
            if b.lang == "python":
                cmd = [sys.executable, "-c", b.code]
            else:
                cmd = ["bash", "-c", _script(b)]
            proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True,
                                  timeout=180)
            projects |= set(re.findall(r"--project\s+(\S+)", b.code))
            assert proc.returncode == 0, (
                f"{name}:{b.line} ({b.lang} block{', ' + b.mark if b.mark else ''}) "
                f"exited {proc.returncode}\n--- block\n{b.code}\n--- stdout (tail)\n"
                f"{proc.stdout[-1500:]}\n--- stderr (tail)\n{proc.stderr[-1500:]}")
            ran += 1
    finally:
        for p in projects | {"demo-teamcost"}:
            try:
                firestore_emulator.emulator.wipe(p)
            except Exception:
                pass
    assert ran >= 1 or all(b.mark in ("skip", "tour") for b in blocks)

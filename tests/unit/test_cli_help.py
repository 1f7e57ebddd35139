"""The first things a newcomer types: `teamcost --help` lists every command once, in a
deliberate order, each on one whole line at 80 columns; `teamcost --version`; `teamcost
rules`; export's JSON Lines format; an import whose every line is refused (issue 26)."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

from typer.testing import CliRunner

from teamcost.cli import COMMANDS, HELP_SECTIONS, app
from tests.cli_support import one_error_line, run


def test_help_lists_every_command_once_in_sections_on_whole_lines() -> None:
    listed = [name for _, rows in HELP_SECTIONS for name, _ in rows]
    assert sorted(listed) == sorted(COMMANDS) and len(listed) == len(set(listed))
    res = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert res.exit_code == 0
    out = res.stdout
    listing = out.split("Options:", 1)[1]        # the usage line's "[ARGS]..." is click's
    assert "..." not in listing and "…" not in listing
    lines = out.splitlines()
    for title, rows in HELP_SECTIONS:
        assert f"{title}:" in lines
        for name, text in rows:
            line = next(ln for ln in lines if ln.split()[:1] == [name])
            assert line.strip().endswith(text) and len(line) <= 80, line
    # the sections come in the order of HELP_SECTIONS, starting with the demo
    positions = [lines.index(f"{t}:") for t, _ in HELP_SECTIONS]
    assert positions == sorted(positions)
    assert out.index("  demo ") < out.index("  report ") < out.index("  reconcile ")


def test_version() -> None:
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.stdout == f"teamcost {version('teamcost')}\n"


def test_rules_writes_the_shipped_files_and_never_overwrites_an_edit(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "deploy"
    res = run("rules", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert (out / "firestore.rules").read_bytes() == (repo / "firestore.rules").read_bytes()
    assert (out / "firestore.indexes.json").read_bytes() == \
        (repo / "firestore.indexes.json").read_bytes()
    assert json.loads((out / "firebase.json").read_text())["firestore"]["rules"] == \
        "firestore.rules"
    again = run("rules", "--out", str(out), "--format", "json")
    assert [r["status"] for r in json.loads(again.stdout)] == ["unchanged"] * 3
    (out / "firestore.rules").write_text("// my edit\n")
    (out / "firebase.json").unlink()
    refused = run("rules", "--out", str(out))
    assert refused.exit_code == 2
    assert "firestore.rules is already there with other content" in one_error_line(refused)
    assert (out / "firestore.rules").read_text() == "// my edit\n"     # untouched
    assert not (out / "firebase.json").exists()                        # nothing written


def test_export_jsonl_and_the_old_json_name(tmp_path: Path) -> None:
    assert run("record", "-m", "gpt-4o", "-i", "100", "-o", "10").exit_code == 0
    new = run("export", "--week", "this", "--format", "jsonl", "--out", str(tmp_path / "a"))
    assert new.exit_code == 0, new.output
    old = run("export", "--week", "this", "--format", "json", "--out", str(tmp_path / "b"))
    assert old.exit_code == 0, old.output
    assert "export --format json is now --format jsonl" in old.stderr
    a = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert a == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert any(n.endswith("-calls.jsonl") for n in a) and not any(n.endswith(".csv") for n in a)
    bad = run("export", "--format", "xml")
    assert bad.exit_code == 2
    assert one_error_line(bad) == ("teamcost: error: invalid --format: 'xml'; expected csv, "
                                   "jsonl, json, both or focus (see 'teamcost export --help')")


def test_an_import_whose_every_line_is_refused_exits_1(tmp_path: Path) -> None:
    f = tmp_path / "calls.jsonl"
    f.write_text('{"foo": 1}\n{"call_id": "x"}\n')
    res = run("import", "jsonl", str(f))
    assert res.exit_code == 1
    assert "calls.jsonl:1: not a teamcost call record (it has none of call_id, ts" in res.stderr
    assert "calls.jsonl:2: call record without the fields ts, team, member" in res.stderr
    assert res.stderr.splitlines()[-1].startswith(
        "teamcost: error: every line read was refused (2 bad lines): nothing was imported from")

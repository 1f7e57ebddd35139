"""Any label a teammate can record survives the whole trip (issue 18): arbitrary unicode,
control bytes and rich markup as model, agent, session, task and tag values go through
`record` -> `sync push` -> `sync pull` -> `report` (JSON, CSV), `export` (CSV, JSONL) and
`watch --once --format json` on the real emulator: no exception, and every label comes
back exactly (in CSV after undoing the one documented change, the leading ' of a cell
that would start a formula). Printing them in tables is tested with the terminal views.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teamcost.reports.render import FORMULA_START
from tests.cli_support import run

pytestmark = pytest.mark.emulator

MARKUP = ["[/]", "planner[/]", "[bold]x", "[red]", "[link=http://x.test]y[/link]", "\x1b[31m",
          "\x1b]0;title\x07", "a\x00b", "=1+1", "+x", "-y", "@z", "\tt", "\rr", "line\nbreak",
          'q"uo,te', "'already", "ünï😀", "\u202eevil", "\ufeffbom", " padded "]

label = st.one_of(
    st.sampled_from(MARKUP),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40),
    st.builds(lambda a, b: a + b, st.sampled_from(MARKUP),
              st.text(st.characters(blacklist_categories=("Cs",)), max_size=10)),
).filter(lambda s: s.strip() != "" and len(s) <= 60)

call_labels = st.fixed_dictionaries({"model": label, "agent": label, "session": label,
                                     "task": label, "tag": label})

_teams = itertools.count()


def parse_csv(text: str) -> list[list[str]]:
    """RFC 4180 by hand (a second implementation; Python's reader refuses NUL bytes)."""
    rows: list[list[str]] = []
    row: list[str] = []
    cell: list[str] = []
    i, quoted = 0, False
    while i < len(text):
        c = text[i]
        if quoted:
            if c == '"' and text[i + 1:i + 2] == '"':
                cell.append('"')
                i += 1
            elif c == '"':
                quoted = False
            else:
                cell.append(c)
        elif c == '"':
            quoted = True
        elif c == ",":
            row.append("".join(cell))
            cell = []
        elif c == "\r" and text[i + 1:i + 2] == "\n":
            row.append("".join(cell))
            rows.append(row)
            row, cell = [], []
            i += 1
        else:
            cell.append(c)
        i += 1
    assert not quoted and not cell and not row, "the CSV ends inside a row"
    return rows


def unneutralise(cell: str) -> str:
    """The documented CSV rule undone: ' before a cell that would start a formula or that
    starts with ' itself (so a label ``'=`` and a label ``=`` stay apart)."""
    if cell.startswith("'") and cell[1:].startswith((*FORMULA_START, "'")):
        return cell[1:]
    return cell


def ok(result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    # the bytes as written (click's Result.stdout folds CRLF, which CSV rows end with)
    return result.stdout_bytes.decode("utf-8")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(calls=st.lists(call_labels, min_size=1, max_size=3))
def test_labels_round_trip_through_push_pull_report_export_and_watch(firestore_emulator,
                                                                     monkeypatch, calls):
    team = f"prop{next(_teams)}"
    with tempfile.TemporaryDirectory() as tmp, monkeypatch.context() as m:
        home = Path(tmp) / "home"
        home.mkdir()
        m.setenv("TEAMCOST_HOME", str(home))
        m.setenv("TEAMCOST_TEAM", team)
        m.setenv("TEAMCOST_PROJECT", firestore_emulator.project)
        for i, c in enumerate(calls):
            ok(run("record", "-m", c["model"], "--agent", c["agent"], "--session", c["session"],
                   "--task", c["task"], "--tag", f"note={c['tag']}", "-i", "100", "-o", "10",
                   "--cost-usd", f"0.00{i + 1}", "--call-id", f"{team}-{i}"))
        assert "pushed" in ok(run("sync", "push"))
        ok(run("sync", "pull"))
        (home / "ledger.db").unlink()          # from here on, only what came back from Firestore
        for f in home.glob("ledger.db-*"):
            f.unlink()

        want = {dim: {c[key] for c in calls} for dim, key in
                (("model", "model"), ("agent", "agent"), ("session", "session"),
                 ("task", "task"))}
        doc = json.loads(ok(run("report", "--since", "1d", "--format", "json", "--source",
                                "team", "--offline", "--by", "model,agent,session,task")))
        for dim, labels in want.items():
            assert {r[dim] for r in doc["breakdowns"][dim]} == labels, dim
        assert doc["summary"]["calls"] == len(calls)

        table = parse_csv(ok(run("report", "--since", "1d", "--format", "csv", "--source",
                                 "team", "--offline", "--by", "model,agent,session,task")))
        assert table[0][:2] == ["dimension", "key"]
        for dim, labels in want.items():
            got = {unneutralise(r[1]) for r in table[1:] if r[0] == dim}
            assert got == labels, dim
            for r in table[1:]:
                assert not r[1].startswith(FORMULA_START), r[1]

        out = Path(tmp) / "out"
        ok(run("export", "--week", "this", "--out", str(out), "--offline", "--source", "team"))
        [jsonl] = out.glob("*-calls.jsonl")
        back = {d["call_id"]: d for d in map(json.loads, jsonl.read_text().splitlines())}
        assert len(back) == len(calls)
        for i, c in enumerate(calls):
            d = back[f"{team}-{i}"]
            assert (d["model"], d["agent"], d["session_id"], d["task_id"], d["tags"]) == (
                c["model"], c["agent"], c["session"], c["task"], {"note": c["tag"]})
        [csv_file] = out.glob("*-calls.csv")
        rows = parse_csv(csv_file.read_bytes().decode("utf-8"))
        header = rows[0]
        by_id = {r[0]: dict(zip(header, r)) for r in rows[1:]}
        for i, c in enumerate(calls):
            r = by_id[f"{team}-{i}"]
            assert (unneutralise(r["model"]), unneutralise(r["agent"]),
                    unneutralise(r["session_id"]), unneutralise(r["task_id"])) == (
                c["model"], c["agent"], c["session"], c["task"])
            assert json.loads(r["tags"]) == {"note": c["tag"]}

        snap = json.loads(ok(run("watch", "--once", "--format", "json")))
        assert {x["model"] for x in snap["latest"]} == want["model"]
        assert {x["agent"] for x in snap["latest"]} == want["agent"]

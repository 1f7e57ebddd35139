"""No label adds a line: a model, member, agent, session, task, tag or path holding
newlines, carriage returns, ESC, Unicode line separators or rich markup is shown on the
line it belongs to (teamcost.labels.one_line escapes what could break it), in every table
(report, watch --once, ledger status, sync status), record's confirmation, a JSON Lines
export line and a log line. Each view is drawn twice, once with the hostile label and once
with a plain one: at natural width (not a terminal) both have the same number of lines.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from teamcost.labels import one_line
from teamcost.ledger import Ledger
from teamcost.models import CallRecord

from tests.cli_support import run

NASTY = ["x\ntotal    $0.00  over 0 calls", "a\rb", "\x1b[2Jwiped", "a\u2028b\u2029c",
         "[bold]x[/bold]", "[/]", "tab\there", "nel\x85x", "vt\x0bff\x0c", "\x1c\x1d\x1e",
         "bidi\u202eevil", "\n", "\r\n\r\n", "e\u0301\u200d\U0001f600"]
# any text without lone surrogates (not text a file or a terminal can hold)
LABELS = st.one_of(st.sampled_from(NASTY),
                   st.text(st.characters(blacklist_categories=("Cs",)), min_size=1,
                           max_size=30),
                   st.text(alphabet="\n\r\x1b\u2028\u2029[]/bold \x85\t", min_size=1,
                           max_size=12))
# what a call record accepts as a label: not blank (str.strip())
RECORDABLE = LABELS.filter(lambda s: s.strip() != "")
PLAIN = "plain-label"
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def test_one_line_escapes_what_could_break_a_line() -> None:
    assert one_line("x\ntotal") == "x\\ntotal"
    assert one_line("a\r\x1b[2J\x00\x7f\x9b\u2028\u2029\u202e") == \
        "a\\r\\x1b[2J\\x00\\x7f\\x9b\\u2028\\u2029\\u202e"
    assert one_line("[bold]é 中文 😀") == "[bold]é 中文 😀"    # printable: as it is
    assert one_line(Path("/a/b")) == "/a/b"


@given(LABELS)
def test_one_line_is_one_line_and_keeps_printable_text(label: str) -> None:
    shown = one_line(label)
    assert len(shown.splitlines()) <= 1 and "\n" not in shown
    # no control character, line or paragraph separator, bidi override is left
    assert not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") or 0x202A <= ord(c) <= 0x202E
                   or 0x2066 <= ord(c) <= 0x2069 for c in shown), repr(shown)
    if label.isprintable():
        assert shown == label


@contextmanager
def home_with(label: str) -> Iterator[Path]:
    """A TEAMCOST_HOME whose ledger holds two calls with ``label`` in every label field."""
    saved = {k: os.environ.get(k) for k in ("TEAMCOST_HOME", "TEAMCOST_LEDGER", "COLUMNS")}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["TEAMCOST_HOME"] = str(home)
        os.environ.pop("TEAMCOST_LEDGER", None)
        os.environ.pop("COLUMNS", None)
        now = datetime.now(UTC)
        with Ledger(home / "ledger.db") as led:
            led.record_many([CallRecord(
                call_id=f"c{i}", ts=now - timedelta(minutes=5 + i), team="default",
                member=label[:128], ledger_id=led.ledger_id, provider="openai", model=label,
                input_tokens=10, output_tokens=5, cost_nanos=1_000_000 * (i + 1),
                priced=i == 0, price_source="test", agent=label, session_id=label,
                task_id=label, tags={"k": label}) for i in range(2)])
        try:
            yield home
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


VIEWS = {
    "report": ["report", "--since", "1d", "--by", "member,model,agent,session,task"],
    "watch": ["watch", "--once"],
    "ledger status": ["ledger", "status"],
    "sync status": ["sync", "status"],
}


def _lines(args: list[str]) -> int:
    r = run(*args)
    assert r.exit_code == 0, (args, r.output, r.exception)
    return len(r.stdout.splitlines())


@SETTINGS
@given(label=RECORDABLE)
@example(label="x\ntotal    $0.00  over 0 calls")
def test_no_label_adds_a_line_to_a_table(teamcost_home: Path, label: str) -> None:
    with home_with(PLAIN):
        plain = {name: _lines(args) for name, args in VIEWS.items()}
    with home_with(label):
        for name, args in VIEWS.items():
            assert _lines(args) == plain[name], (name, label)


@SETTINGS
@given(label=LABELS)
@example(label="a\nb")
def test_no_path_adds_a_line_to_ledger_status(teamcost_home: Path, label: str) -> None:
    name = label.replace("/", "_").replace("\x00", "_")[:100]
    for shown in (PLAIN, name):
        ledger = teamcost_home / f"{shown}.db"
        os.environ["TEAMCOST_LEDGER"] = str(ledger)
        try:
            lines = _lines(["ledger", "status"])
        finally:
            os.environ.pop("TEAMCOST_LEDGER", None)
        if shown == PLAIN:
            plain = lines
    assert lines == plain, label


@SETTINGS
@given(label=LABELS)
@example(label="x\ntotal    $0.00  over 0 calls")
@example(label="a\u2028b")
def test_record_confirms_on_one_line_and_logs_one_line(teamcost_home: Path, label: str) -> None:
    r = run("record", "-m", label, "-i", "10", "-o", "5", "--agent", label, "--session", label,
            "--tag", f"k={label}")
    if r.exit_code != 0:          # a label record refuses: one line naming it
        assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1, (label, r.stderr)
        return
    assert len(r.stdout.splitlines()) == 1, (label, r.stdout)
    # the unpriced model's warning is one log line
    assert all(ln.startswith("no price known") for ln in r.stderr.splitlines()), r.stderr
    assert len(r.stderr.splitlines()) <= 1, r.stderr


@SETTINGS
@given(label=RECORDABLE)
def test_a_json_lines_export_line_is_one_call(label: str) -> None:
    from teamcost.reports.export import write_calls_jsonl

    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    calls = [CallRecord(call_id=f"c{i}", ts=now, team="default", member=label[:128],
                        ledger_id="lap", provider="openai", model=label, agent=label,
                        tags={"k": label}, cost_nanos=i) for i in range(3)]
    buf = io.StringIO()
    write_calls_jsonl(buf, calls)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 3
    assert [json.loads(ln)["model"] for ln in lines] == [label] * 3


@SETTINGS
@given(label=LABELS)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_an_agent_log_line_is_one_line(fmt: str, label: str) -> None:
    from teamcost.commands.agent import _log_line

    err = io.StringIO()
    with redirect_stderr(err):
        _log_line(fmt)("tail-error", source="claude-code", root=label, error=label)
    assert len(err.getvalue().splitlines()) == 1, repr(err.getvalue())


@SETTINGS
@given(label=LABELS)
def test_a_library_warning_is_one_log_line(label: str) -> None:
    """What the CLI's log handler prints for the library's warnings (the agent's log)."""
    import logging

    from teamcost.cli import _StderrLog

    err = io.StringIO()
    with redirect_stderr(err):
        _StderrLog().emit(logging.LogRecord("teamcost", logging.WARNING, __file__, 1,
                                            "no price known for model %s", (label,), None))
    assert len(err.getvalue().splitlines()) == 1, repr(err.getvalue())

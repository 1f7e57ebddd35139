"""The month-partitioned mirrors: backfilled calls land in their months, a window opens only
the months it overlaps, every crash point of refresh and compaction leaves a mirror that
reads exactly, and reports over it equal a plain-Python sum of the same calls."""

from __future__ import annotations

import json
import random
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.reports import columnar
from teamcost.sync.cache import TeamCache

from tests.cli_support import run

NOW = datetime.now(UTC).replace(microsecond=0)
MEMBERS = ("ana@x.io", "bo@x.io", "cy@x.io")
MODELS = ("gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash")


def calls_over(days: int, n: int, seed: int, prefix: str, team: str = "core",
               end: datetime = NOW) -> list[CallRecord]:
    """n calls at random times in the `days` before `end`, in random (arrival) order."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append(CallRecord(
            call_id=f"{prefix}-{i:05d}", team=team,
            ts=end - timedelta(microseconds=rng.randrange(days * 86_400_000_000)),
            member=MEMBERS[rng.randrange(3)], ledger_id="lap", provider="p",
            model=MODELS[rng.randrange(3)], input_tokens=rng.randrange(5000),
            output_tokens=rng.randrange(900), cost_nanos=rng.randrange(1, 10**9) * 7 + 1,
            priced=True, price_source="test", session_id=f"s{i % 9}",
            agent=None if i % 5 == 0 else "coder", success=i % 13 != 0,
            tags={"n": str(i)}))
    return out


def plain_sums(calls: list[CallRecord], since: datetime, until: datetime,
               member: str | None = None) -> dict:
    """The figures a report must show, by plain Python over the same calls."""
    inside = [c for c in calls if since <= c.ts < until and (member is None or c.member == member)]
    by_member: dict[str, int] = defaultdict(int)
    by_model: dict[str, int] = defaultdict(int)
    by_day: dict[str, int] = defaultdict(int)
    for c in inside:
        by_member[c.member] += c.cost_nanos
        by_model[c.model] += c.cost_nanos
        by_day[c.ts.date().isoformat()] += c.cost_nanos
    return {"calls": len(inside), "cost": sum(c.cost_nanos for c in inside),
            "tokens": sum(c.input_tokens for c in inside), "by_member": dict(by_member),
            "by_model": dict(by_model), "by_day": dict(by_day)}


def report_sums(args: list[str]) -> dict:
    res = run("report", *args, "--format", "json", "--offline", "--tz", "UTC")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    s = doc["summary"]
    return {"calls": s["calls"], "cost": s["cost_nanos"], "tokens": s["input_tokens"],
            "by_member": {r["member"]: r["cost_nanos"] for r in doc["breakdowns"]["member"]},
            "by_model": {r["model"]: r["cost_nanos"] for r in doc["breakdowns"]["model"]},
            "by_day": {d["day"]: d["cost_nanos"] for d in doc["trend"]["day"] if d["calls"]}}


def month_of(ts: datetime) -> str:
    return f"month={ts.year:04d}-{ts.month:02d}"


def check_layout(directory: Path, mark: int) -> int:
    """Every live part holds only calls of its own month, sorted by ts; returns the rows."""
    rows = 0
    for d in columnar._month_dirs(directory):
        for part in columnar.live_parts(d, mark):
            t = pq.read_table(part.path, schema=columnar.SCHEMA)
            ts = t.column("ts").to_pylist()
            assert ts == sorted(ts)
            assert {month_of(x) for x in ts} <= {d.name}, (d.name, part.path.name)
            rows += t.num_rows
    return rows


@pytest.fixture
def team_home(teamcost_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TEAMCOST_PROJECT", "demo-offline")
    monkeypatch.setenv("TEAMCOST_TEAM", "core")
    return teamcost_home


def test_a_backfilled_out_of_order_cache_reports_exactly(team_home: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(columnar, "CHUNK_ROWS", 700)  # several chunks, each over many months
    recent = calls_over(20, 1500, 1, "recent")
    backfill = calls_over(400, 2500, 2, "old", end=NOW - timedelta(days=20))
    other_team = calls_over(30, 300, 3, "other", team="elsewhere")
    everything: list[CallRecord] = []
    with TeamCache(team_home / "team-cache.db") as cache:
        # recent calls arrive first, then last year's logs, then more of both, reports between
        for batch in (recent[:900], backfill[:1200], other_team, recent[900:], backfill[1200:]):
            cache.upsert((c, 1) for c in batch)
            everything += [c for c in batch if c.team == "core"]
            columnar.read(cache, "core", NOW - timedelta(days=1), NOW)
        mark = int(cache.get_state(columnar.STATE_KEY))
        assert check_layout(columnar.mirror_dir(cache), mark) == len(everything) + len(other_team)
        assert len(columnar._month_dirs(columnar.mirror_dir(cache))) >= 13
    for days in (1, 7, 30, 45, 200, 420):
        since = NOW - timedelta(days=days)
        got = report_sums(["--since", since.isoformat(), "--until", NOW.isoformat()])
        assert got == plain_sums(everything, since, NOW), days
    # an old window across a month boundary, and a filter
    since, until = NOW - timedelta(days=190), NOW - timedelta(days=150)
    assert report_sums(["--since", since.isoformat(), "--until", until.isoformat()]) == \
        plain_sums(everything, since, until)
    assert report_sums(["--since", since.isoformat(), "--until", until.isoformat(), "--member",
                        "bo@x.io"]) == plain_sums(everything, since, until, "bo@x.io")


def test_a_window_opens_only_the_months_it_overlaps(tmp_path: Path) -> None:
    cache = TeamCache(tmp_path / "team-cache.db")
    calls = calls_over(120, 800, 4, "c")
    cache.upsert((c, 1) for c in calls)
    columnar.refresh(cache)
    directory = columnar.mirror_dir(cache)
    week = (NOW - timedelta(days=7), NOW + timedelta(seconds=1))
    wanted = {month_of(week[0]), month_of(NOW)}
    for d in columnar._month_dirs(directory):  # every other month becomes unreadable
        if d.name not in wanted:
            for part in columnar._parts(d):
                part.path.write_bytes(b"not parquet")
    got = columnar.read(cache, "core", *week)
    assert got.num_rows == sum(1 for c in calls if week[0] <= c.ts < week[1])
    with pytest.raises(pa.ArrowInvalid):
        columnar.read(cache, "core", NOW - timedelta(days=119), NOW)
    cache.close()


def _crash_after(monkeypatch: pytest.MonkeyPatch, target: object, name: str, k: int) -> None:
    """Make the k-th call of target.name raise: the process dies there."""
    real = getattr(target, name)
    calls = {"n": 0}

    def dying(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] > k:
            raise KeyboardInterrupt("crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, dying)


@pytest.mark.parametrize("k", range(8))
def test_every_crash_point_of_a_refresh_reads_exactly(tmp_path: Path, k: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A refresh that dies after its k-th part file (before or after a chunk's mark)."""
    monkeypatch.setattr(columnar, "CHUNK_ROWS", 150)
    cache = TeamCache(tmp_path / "team-cache.db")
    first = calls_over(90, 200, 5, "a")
    cache.upsert((c, 1) for c in first)
    columnar.refresh(cache)
    more = calls_over(90, 400, 6, "b")
    cache.upsert((c, 1) for c in more)
    with monkeypatch.context() as m:
        _crash_after(m, columnar, "_write", k)
        with pytest.raises(KeyboardInterrupt):
            columnar.refresh(cache)
    window = (NOW - timedelta(days=91), NOW + timedelta(seconds=1))
    got = columnar.read(cache, "core", *window)
    assert sorted(got.column("call_id").to_pylist()) == sorted(c.call_id for c in first + more)
    assert sum(got.column("cost_nanos").to_pylist()) == sum(c.cost_nanos for c in first + more)
    mark = int(cache.get_state(columnar.STATE_KEY))
    assert check_layout(columnar.mirror_dir(cache), mark) == 600
    cache.close()


@pytest.mark.parametrize("step", ["merged part written, none deleted",
                                  "merged part written, some deleted",
                                  "dies while writing the merged part"])
def test_a_compaction_that_dies_never_double_counts(tmp_path: Path, step: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    cache = TeamCache(tmp_path / "team-cache.db")
    everything = []
    month_end = NOW.replace(day=1, hour=0, minute=0, second=0)  # all calls in one month
    for batch in range(columnar.COMPACT_AT - 1):
        calls = calls_over(1, 30, 100 + batch, f"m{batch}", end=month_end)
        cache.upsert((c, 1) for c in calls)
        everything += calls
        columnar.refresh(cache)
    last = calls_over(1, 30, 99, "last", end=month_end)
    cache.upsert((c, 1) for c in last)
    everything += last
    with monkeypatch.context() as m:
        if step == "dies while writing the merged part":
            real = columnar.pq.write_table

            def half(table: object, where: object, **kw: object) -> None:
                if len(columnar.live_parts(Path(str(where)).parent, 10**9)) >= \
                        columnar.COMPACT_AT:
                    Path(str(where)).write_bytes(b"PAR1 half a file")
                    raise KeyboardInterrupt("crash")
                real(table, where, **kw)

            m.setattr(columnar.pq, "write_table", half)
        else:
            _crash_after(m, Path, "unlink", 0 if "none" in step else 5)
        with pytest.raises(KeyboardInterrupt):
            columnar.refresh(cache)
    got = columnar.read(cache, "core", month_end - timedelta(days=2), month_end)
    assert got.num_rows == len(everything)
    assert sum(got.column("cost_nanos").to_pylist()) == sum(c.cost_nanos for c in everything)
    d = columnar.month_dir(columnar.mirror_dir(cache), (month_end - timedelta(days=1)).year,
                           (month_end - timedelta(days=1)).month)
    assert not [p for p in d.iterdir() if p.name.startswith(".part-")]  # temp files cleaned
    cache.close()


def test_a_removed_or_old_layout_mirror_is_rebuilt_not_read_as_empty(tmp_path: Path) -> None:
    cache = TeamCache(tmp_path / "team-cache.db")
    calls = calls_over(60, 300, 7, "c")
    cache.upsert((c, 1) for c in calls)
    window = (NOW - timedelta(days=61), NOW + timedelta(seconds=1))
    assert columnar.read(cache, "core", *window).num_rows == 300
    import shutil
    shutil.rmtree(columnar.mirror_dir(cache))
    assert columnar.read(cache, "core", *window).num_rows == 300
    # the arrival-ordered layout: flat parts, and no mark of this layout
    d = columnar.mirror_dir(cache)
    shutil.rmtree(d)
    d.mkdir()
    columnar._write(d, columnar._table(cache.conn.execute(
        f"SELECT {', '.join(columnar.COLUMNS)} FROM team_calls").fetchall()), 1, 300)
    cache.delete_state(columnar.STATE_KEY)
    cache.set_state("parquet:rowid", "300")
    assert columnar.read(cache, "core", *window).num_rows == 300
    assert not columnar._parts(d)   # the old layout's file is gone, and its mark: an older
    assert cache.get_state("parquet:rowid") is None   # teamcost would rebuild, not read none
    cache.close()


def test_readers_and_refreshers_in_threads_see_whole_refreshes(tmp_path: Path) -> None:
    path = tmp_path / "team-cache.db"
    batches = [calls_over(40, 100, 20 + i, f"t{i}") for i in range(12)]
    errors: list[BaseException] = []
    stop = threading.Event()
    window = (NOW - timedelta(days=41), NOW + timedelta(seconds=1))

    def reader() -> None:
        cache = TeamCache(path)
        try:
            while not stop.is_set():
                n = columnar.read(cache, "core", *window).num_rows
                assert n % 100 == 0    # whole batches: a batch commits in one transaction
        except BaseException as exc:
            errors.append(exc)
        finally:
            cache.close()

    TeamCache(path).close()
    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    writer = TeamCache(path)
    for b in batches:
        writer.upsert((c, 1) for c in b)
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert columnar.read(writer, "core", *window).num_rows == 1200
    writer.close()


def test_local_ledger_reports_read_their_own_mirror(teamcost_home: Path) -> None:
    calls = calls_over(70, 900, 8, "l", team="default")
    with Ledger(teamcost_home / "ledger.db") as ledger:
        ledger.record_many(calls[:500])
    since = NOW - timedelta(days=30)
    args = ["--since", since.isoformat(), "--until", NOW.isoformat(), "--source", "local"]
    assert report_sums(args) == plain_sums(calls[:500], since, NOW)
    assert (teamcost_home / "ledger.parquet" / "LAYOUT").exists()
    with Ledger(teamcost_home / "ledger.db") as ledger:
        ledger.record_many(calls[500:])   # only these are copied by the next report
    assert report_sums(args) == plain_sums(calls, since, NOW)
    # a new ledger in the same place (another ledger_id): its mirror starts afresh
    for p in teamcost_home.glob("ledger.db*"):
        p.unlink()
    with Ledger(teamcost_home / "ledger.db") as ledger:
        ledger.record_many(calls[:10])
    assert report_sums(args) == plain_sums(calls[:10], since, NOW)


def test_a_mirror_that_cannot_be_kept_falls_back_to_sqlite(teamcost_home: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    calls = calls_over(20, 200, 9, "f", team="default")
    with Ledger(teamcost_home / "ledger.db") as ledger:
        ledger.record_many(calls)
    (teamcost_home / "ledger.parquet").write_text("a file where the mirror belongs")
    since = NOW - timedelta(days=21)
    got = report_sums(["--since", since.isoformat(), "--until", NOW.isoformat()])
    assert got == plain_sums(calls, since, NOW)
    assert (teamcost_home / "ledger.parquet").read_text() == "a file where the mirror belongs"


def test_a_cache_we_may_only_read_reads_its_mirror_and_the_rows_above_its_mark(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache opened read-only (as a read-only home opens it) cannot move the mirror's
    mark: the months the mirror holds are read up to the mark, the rest from SQLite."""
    from teamcost.ledger import _connect_read_only

    calls = calls_over(90, 3000, 13, "ro")
    path = tmp_path / "team-cache.db"
    with TeamCache(path) as cache:
        cache.upsert((c, 1) for c in calls[:2000])
        columnar.refresh(cache)
        mark = int(cache.get_state(columnar.STATE_KEY))
        cache.upsert((c, 2) for c in calls[2000:])   # pulled later, not mirrored yet
    cache = TeamCache(path)
    cache.conn.close()
    cache.conn = _connect_read_only(path, None)
    tails: list[int] = []
    real = columnar._read_sqlite

    def read_sqlite(*args: object, **kw: object) -> pa.Table:
        tails.append(int(kw.get("after", 0)))  # type: ignore[call-overload]
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(columnar, "_read_sqlite", read_sqlite)
    for days, member in ((1, None), (10, "bo@x.io"), (45, None), (91, "cy@x.io")):
        since = NOW - timedelta(days=days)
        table = columnar.read(cache, "core", since, NOW + timedelta(seconds=1),
                              {"member": member})
        want = plain_sums(calls, since, NOW + timedelta(seconds=1), member)
        assert (table.num_rows, sum(table.column("cost_nanos").to_pylist())) == (
            want["calls"], want["cost"]), days
    assert tails and set(tails) == {mark}
    assert int(cache.get_state(columnar.STATE_KEY)) == mark
    cache.close()


def test_export_rows_from_columns_are_record_to_json(tmp_path: Path) -> None:
    """What export writes, made from the mirror's columns, equals record_to_json of the
    records: every field kind (None, unicode, tags, floats, booleans, estimated)."""
    from teamcost.models import record_to_json
    from teamcost.reports.export import json_rows

    calls = calls_over(30, 400, 12, "x")
    calls = [c.replace(error="boom: \u00e9\u2603 \"q\"" if i % 7 == 0 else None,
                       correlation_id=f"corr-{i}" if i % 3 else None,
                       duration_s=None if i % 5 == 0 else i / 7,
                       estimated=i % 11 == 0, tags={"z": "1", "a": "\u00fc"} if i % 2 else {})
             for i, c in enumerate(calls)]
    cache = TeamCache(tmp_path / "team-cache.db")
    cache.upsert((c, 1) for c in calls)
    table = columnar.read(cache, "core", NOW - timedelta(days=31), NOW + timedelta(seconds=1))
    # the records as the store gives them back (tags in key order, as stored), oldest first
    stored = cache.calls(team="core")
    assert sorted(stored, key=lambda c: c.call_id) == sorted(
        [c.replace(tags=dict(sorted(c.tags.items()))) for c in calls], key=lambda c: c.call_id)
    want = [record_to_json(c) for c in stored]
    got = json_rows(table)
    assert got == want
    assert [list(r) for r in got] == [list(r) for r in want]        # same key order too
    assert [json.dumps(r) for r in got] == [json.dumps(r) for r in want]
    cache.close()

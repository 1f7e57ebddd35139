"""Packs (teamcost/sync/rollup_packs.py) against the real emulator: a reader's copy built
from packs plus the cells after them equals the sums of the call documents, to the
nano-dollar, after late cell updates, two admins packing at once, a reader whose watermark
falls inside a pack, and a kill -9 while a pack is written."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from teamcost.ledger import Ledger
from teamcost.sync import rollup_packs
from teamcost.sync.migrate import build_rollups
from teamcost.sync.push import push
from teamcost.sync.retry import Backoff
from teamcost.sync.rollup_admin import pack_team as pack
from teamcost.sync.rollup_cache import RollupCache, refresh, unpack
from teamcost.sync.rollup_packs import PACKS
from tests.rollup_support import oracle_slots, stored_calls
from tests.sync_support import config_for, make_calls

pytestmark = pytest.mark.emulator
FAST = Backoff(attempts=4, base_s=0.01, cap_s=0.05)
TEAM = "core"


@pytest.fixture(autouse=True)
def _always_look_packs_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # a test's refreshes are seconds apart; real ones look packs up past five minutes
    monkeypatch.setattr(rollup_packs, "LOOKUP_AFTER", timedelta(0))


def cache_slots(cache: RollupCache) -> dict[tuple[str, str, int], list[int]]:
    """The copy's numbers per (ledger, UTC day, quarter-hour), summed with plain loops."""
    out: dict[tuple[str, str, int], list[int]] = defaultdict(lambda: [0] * 10)
    for r in cache.conn.execute("SELECT ledger_id, day, slots FROM cells WHERE team = ?",
                                (TEAM,)):
        flat = unpack(r[2])
        for i in range(0, len(flat), 11):
            acc = out[(r[0], r[1], flat[i])]
            for k in range(10):
                acc[k] += flat[i + 1 + k]
    return {k: v for k, v in out.items() if v[0]}


class Member:
    def __init__(self, tmp_path: Path, project: str, name: str) -> None:
        self.cfg = config_for(tmp_path / name, project, member=f"{name}@example.com")
        self.ledger = Ledger.for_config(self.cfg)
        self.seed = 0

    def push_more(self, client: Any, n: int) -> None:
        # calls spread over two days, so later pushes update cells packed earlier
        self.seed += 1
        self.ledger.record_many(make_calls(n, self.cfg.member, self.ledger.ledger_id,
                                           seed=self.seed,
                                           prefix=f"{self.cfg.member[:3]}{self.seed}"))
        push(self.cfg, self.ledger, client, in_flight=1, backoff=FAST)


def _team(tmp_path: Path, project: str, client: Any) -> list[Member]:
    assert build_rollups(client, TEAM, FAST).complete
    return [Member(tmp_path, project, n) for n in ("ana", "bo")]


def _assert_exact(client: Any, cache: RollupCache) -> None:
    calls = stored_calls(client, TEAM)
    assert cache_slots(cache) == oracle_slots(calls)


def _pack_docs(client: Any) -> list[dict[str, Any]]:
    return [s.to_dict() for s in client.collection(PACKS).where(
        filter=FieldFilter("team", "==", TEAM)).stream()]


def test_a_reader_from_packs_and_late_cells_equals_the_calls(firestore_emulator,
                                                             firestore_client,
                                                             tmp_path: Path) -> None:
    ana, bo = _team(tmp_path, firestore_emulator.project, firestore_client)
    admin = RollupCache(tmp_path / "admin" / "rollups.sqlite")
    ana.push_more(firestore_client, 300)
    bo.push_more(firestore_client, 200)
    first = pack(firestore_client, admin, TEAM, FAST)
    assert [w["level"] for w in first.written] == [2]     # the team's first pack: all
    ana.push_more(firestore_client, 120)                   # updates cells packed above
    second = pack(firestore_client, admin, TEAM, FAST)
    assert [(w["level"], w["start"]) for w in second.written] == [(0, first.written[0]["end"])]
    assert pack(firestore_client, admin, TEAM, FAST).written == []   # nothing changed
    bo.push_more(firestore_client, 90)                     # after the last pack: cells
    reader = RollupCache(tmp_path / "reader" / "rollups.sqlite")
    read = refresh(firestore_client, reader, TEAM, FAST)
    _assert_exact(firestore_client, reader)
    # headers of both packs, their chunks, and only the cells bo's last push changed
    changed = second.written[0]["cells"] + first.written[0]["cells"]
    assert read < changed
    # and a second refresh reads nothing new
    assert refresh(firestore_client, reader, TEAM, FAST) == 0
    _assert_exact(firestore_client, reader)


def test_two_admins_packing_at_once(firestore_emulator, firestore_client,
                                    tmp_path: Path) -> None:
    ana, bo = _team(tmp_path, firestore_emulator.project, firestore_client)
    ana.push_more(firestore_client, 200)
    admins = [RollupCache(tmp_path / f"admin{i}" / "rollups.sqlite") for i in range(2)]
    errors: list[BaseException] = []

    def run(c: RollupCache, barrier: threading.Barrier) -> None:
        try:
            barrier.wait()
            pack(firestore_client, c, TEAM, FAST)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    for _ in range(2):
        bo.push_more(firestore_client, 150)
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=run, args=(c, barrier)) for c in admins]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
    # the same (level, start, end) chunk is one document: the second create() kept the first
    docs = _pack_docs(firestore_client)
    keys = [(d["level"], d["start"], d["end"], d["chunk"]) for d in docs]
    assert len(keys) == len(set(keys))
    reader = RollupCache(tmp_path / "reader" / "rollups.sqlite")
    refresh(firestore_client, reader, TEAM, FAST)
    _assert_exact(firestore_client, reader)


def test_a_reader_whose_watermark_falls_inside_a_pack(firestore_emulator, firestore_client,
                                                      tmp_path: Path) -> None:
    ana, bo = _team(tmp_path, firestore_emulator.project, firestore_client)
    admin = RollupCache(tmp_path / "admin" / "rollups.sqlite")
    ana.push_more(firestore_client, 200)
    pack(firestore_client, admin, TEAM, FAST)
    bo.push_more(firestore_client, 100)
    reader = RollupCache(tmp_path / "reader" / "rollups.sqlite")
    refresh(firestore_client, reader, TEAM, FAST)          # its watermark: after bo's push
    inside = reader.watermark(TEAM)
    ana.push_more(firestore_client, 100)
    bo.push_more(firestore_client, 100)
    res = pack(firestore_client, admin, TEAM, FAST)        # (before bo's push, now]
    (w,) = res.written
    from teamcost.sync.rollup_packs import to_us
    assert inside is not None and w["start"] < to_us(inside) < w["end"]
    refresh(firestore_client, reader, TEAM, FAST)
    assert reader.watermark(TEAM) is not None and to_us(reader.watermark(TEAM)) >= w["end"]
    _assert_exact(firestore_client, reader)


KILL_SCRIPT = r"""
import os, signal, sys
from teamcost.sync import rollup_packs
from teamcost.sync.retry import Backoff
from teamcost.sync.rollup_admin import pack_team
from teamcost.sync.rollup_cache import RollupCache
from google.cloud import firestore

rollup_packs.CHUNK_BYTES = 200            # many chunks, so the kill lands mid-pack
written = []
real = firestore.DocumentReference.create
def create(self, *a, **k):
    if len(written) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    written.append(self.id)
    return real(self, *a, **k)
firestore.DocumentReference.create = create
client = firestore.Client(project=sys.argv[1])
with RollupCache(__import__("pathlib").Path(sys.argv[2])) as cache:
    pack_team(client, cache, "core", Backoff(attempts=2, base_s=0.01, cap_s=0.02))
"""


def test_kill_9_while_a_pack_is_written(firestore_emulator, firestore_client,
                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ana, bo = _team(tmp_path, firestore_emulator.project, firestore_client)
    ana.push_more(firestore_client, 300)
    bo.push_more(firestore_client, 300)
    admin_path = tmp_path / "admin" / "rollups.sqlite"
    admin_path.parent.mkdir()
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, firestore_emulator.project,
                           str(admin_path)], env=dict(os.environ), timeout=120,
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    docs = _pack_docs(firestore_client)
    assert len(docs) == 3 and all(d["chunk"] != 0 for d in docs)   # cut short: no chunk 0
    reader = RollupCache(tmp_path / "reader" / "rollups.sqlite")
    refresh(firestore_client, reader, TEAM, FAST)          # ignores it, reads the cells
    _assert_exact(firestore_client, reader)
    # the admin again, same copy, nothing changed since: the same pack, completed
    monkeypatch.setattr(rollup_packs, "CHUNK_BYTES", 200)
    with RollupCache(admin_path) as admin:
        res = pack(firestore_client, admin, TEAM, FAST)
    (w,) = res.written
    assert w["chunks"] > 3 and len(_pack_docs(firestore_client)) == w["chunks"]
    bo.push_more(firestore_client, 50)
    late = RollupCache(tmp_path / "late" / "rollups.sqlite")
    read = refresh(firestore_client, late, TEAM, FAST)
    _assert_exact(firestore_client, late)
    assert read < w["chunks"] * 2 + w["cells"]


def test_verify_checks_packs_against_the_cells(firestore_emulator, firestore_client,
                                               tmp_path: Path) -> None:
    import zlib
    from array import array
    from datetime import date

    from teamcost.sync.rollup_packs import Pack, decode, read_pack, write_pack
    from teamcost.sync.verify import verify

    ana, bo = _team(tmp_path, firestore_emulator.project, firestore_client)
    admin = RollupCache(tmp_path / "admin" / "rollups.sqlite")
    ana.push_more(firestore_client, 200)
    (w,) = pack(firestore_client, admin, TEAM, FAST).written
    bo.push_more(firestore_client, 100)                    # cells newer than the pack: fine
    since, until = date(2026, 11, 15), date(2026, 11, 19)
    assert verify(firestore_client, TEAM, since, until, FAST).ok
    # an admin's pack that says a cell held one more call than it did
    p = Pack(w["level"], w["start"], w["end"], w["chunks"])
    rows = decode(TEAM, read_pack(firestore_client, TEAM, p, FAST) or b"", p.end)
    target = next(r for r in rows if r[2] == "ana@example.com")
    flat = array("q")
    flat.frombytes(zlib.decompress(target[-2]))
    flat[1] += 1
    forged = (*target[:-2], zlib.compress(flat.tobytes()), target[-1])
    write_pack(firestore_client, TEAM, 0, p.end - 1, p.end, [forged], FAST)
    res = verify(firestore_client, TEAM, since, until, FAST)
    assert [(d.metric, d.rollups - d.calls) for d in res.differences] == [("n", 1)]
    assert target[0] in res.differences[0].where


def test_the_admin_agent_packs_a_members_does_not(firestore_emulator, firestore_client,
                                                   tmp_path: Path) -> None:
    from teamcost.agent.loop import Agent, AgentOptions
    from tests.system.test_rules_writers import sign_in

    ana, _ = _team(tmp_path, firestore_emulator.project, firestore_client)
    ana.push_more(firestore_client, 100)
    opts = AgentOptions(otlp_port=0, claude_dirs=[], codex_dirs=[], gemini_dirs=[],
                        pack_every=60)
    events: list[str] = []
    member = sign_in(tmp_path / "cy", firestore_emulator.project, "cy@example.com", TEAM)
    for cfg in (member, config_for(tmp_path / "boss", firestore_emulator.project,
                                   member="boss@example.com")):
        agent = Agent(cfg, opts, emit=lambda event, **f: events.append(event))
        try:
            assert agent.pack_job is not None and not agent.pack_job.due(agent.clock())
            agent.pack()
            assert agent.pack_job.last["ok"], agent.pack_job.last
            if cfg is member:
                assert agent.pack_job.last["result"] == {"skipped": "not an admin"}
                assert _pack_docs(firestore_client) == []
        finally:
            agent.close()
    assert events.count("packed") == 1
    assert [d["level"] for d in _pack_docs(firestore_client)] == [2]


def test_consolidation_and_pruning_keep_every_reader_exact(firestore_emulator,
                                                           firestore_client, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    # a "day" and a "month" of a microsecond, kept for none: every run consolidates
    # and prunes, as days and months of real time would
    monkeypatch.setattr(rollup_packs, "DAY_US", 1)
    monkeypatch.setattr(rollup_packs, "MONTH_US", 10**18)
    monkeypatch.setattr(rollup_packs, "KEEP_L0_US", 0)
    ana, bo = _team(tmp_path, firestore_emulator.project, firestore_client)
    admin = RollupCache(tmp_path / "admin" / "rollups.sqlite")
    ana.push_more(firestore_client, 150)
    assert [w["level"] for w in pack(firestore_client, admin, TEAM, FAST).written] == [2]
    early = RollupCache(tmp_path / "early" / "rollups.sqlite")
    refresh(firestore_client, early, TEAM, FAST)               # watermark: the first pack's end
    levels = []
    for _ in range(3):
        bo.push_more(firestore_client, 60)
        ana.push_more(firestore_client, 40)
        res = pack(firestore_client, admin, TEAM, FAST)
        levels.append([w["level"] for w in res.written])
    assert levels == [[0, 1]] * 3
    # the level-0 packs a day pack covers are gone; the day packs and the month pack stay
    left = sorted({(d["level"], d["start"], d["end"]) for d in _pack_docs(firestore_client)})
    assert [lv for lv, _, _ in left] == [1, 1, 1, 2]
    ana.push_more(firestore_client, 30)
    for name, cache in (("new", RollupCache(tmp_path / "new" / "rollups.sqlite")),
                        ("early", early)):
        read = refresh(firestore_client, cache, TEAM, FAST)
        _assert_exact(firestore_client, cache)
        assert read > 0, name


def test_the_pack_command(firestore_emulator, firestore_client, tmp_path: Path) -> None:
    import json

    from tests.hostile_support import cli_env, run_cli

    ana, _ = _team(tmp_path, firestore_emulator.project, firestore_client)
    ana.push_more(firestore_client, 80)
    env = cli_env(tmp_path / "boss", TEAMCOST_PROJECT=firestore_emulator.project,
                  TEAMCOST_TEAM=TEAM, TEAMCOST_MEMBER="boss@example.com")
    proc = run_cli(["rollups", "pack", "--format", "json"], env)
    assert proc.returncode == 0, proc.stderr
    (w,) = json.loads(proc.stdout)["written"]
    assert w["level"] == 2 and w["cells"] == len(_cell_ids(firestore_client))
    proc = run_cli(["rollups", "pack"], env)
    assert proc.returncode == 0 and proc.stdout.startswith("nothing to pack"), proc.stdout
    # no project: one line, the config error's exit code
    proc = run_cli(["rollups", "pack"], cli_env(tmp_path / "nobody"))
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def _cell_ids(client: Any) -> list[str]:
    return [s.id for s in client.collection("teamcost_rollups").where(
        filter=FieldFilter("team", "==", TEAM)).stream()]

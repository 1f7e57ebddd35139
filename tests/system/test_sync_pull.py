"""pull against the real emulator: the union of three members, incremental, resumable."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from teamcost.sync.cache import TeamCache
from teamcost.sync.pull import OVERLAP_S, pull
from teamcost.sync.push import push

from tests.sync_support import config_for, fill, make_calls, server_totals, spy_reads

pytestmark = pytest.mark.emulator
MEMBERS = ["ana@example.com", "bo@example.com", "cy@example.com"]


def test_pull_union_of_three_members_then_only_new(firestore_emulator, firestore_client,
                                                   tmp_path: Path) -> None:
    project = firestore_emulator.project
    everyone = {}
    ledgers = {}
    for i, member in enumerate(MEMBERS):
        cfg = config_for(tmp_path / f"home-{i}", project, member=member)
        ledger, calls = fill(cfg, 150 + 40 * i, seed=i)
        push(cfg, ledger, firestore_client)
        ledgers[member] = (cfg, ledger)
        everyone.update({c.call_id: c for c in calls})
    # another team's calls share the collection and must never reach this cache
    other = config_for(tmp_path / "home-x", project, member="zed@example.com", team="other")
    push(other, fill(other, 25, seed=9)[0], firestore_client)

    # the first pull starts after the overlap window, so what it saw is settled
    time.sleep(OVERLAP_S + 0.2)
    reader = config_for(tmp_path / "reader", project, member="dee@example.com")
    reads = spy_reads(firestore_client)
    cache = TeamCache.for_config(reader)
    first = pull(reader, firestore_client, cache, page_size=200)
    assert reads.documents == len(everyone) == 150 + 190 + 230
    assert (first.read, first.new, first.cached) == (570, 570, 570)
    assert {c.call_id: c for c in cache.calls()} == everyone  # the union, exactly once each
    assert cache.totals("core") == (570, sum(c.cost_nanos for c in everyone.values()))
    assert cache.count("other") == 0

    # new calls from one member: the next pull reads only them
    cfg, ledger = ledgers["bo@example.com"]
    fresh = make_calls(30, cfg.member, ledger.ledger_id, seed=42)
    ledger.record_many(fresh)
    push(cfg, ledger, firestore_client)
    reads.documents = 0
    second = pull(reader, firestore_client, cache, page_size=200)
    assert reads.documents == 30
    assert (second.read, second.new, second.cached) == (30, 30, 600)
    assert cache.totals("core") == server_totals(firestore_client, "core")

    # that pull ran right after the push, so the next one re-reads those 30 in case a
    # commit in flight lands late; they are deduplicated, and after it nothing is re-read
    reads.documents = 0
    third = pull(reader, firestore_client, cache)
    assert (reads.documents, third.new, third.cached) == (30, 0, 600)
    time.sleep(OVERLAP_S + 0.2)
    pull(reader, firestore_client, cache)
    reads.documents = 0
    fourth = pull(reader, firestore_client, cache)
    assert (reads.documents, fourth.new, fourth.cached) == (0, 0, 600)


def test_overlap_rereads_are_not_double_counted(firestore_emulator, firestore_client,
                                                tmp_path: Path) -> None:
    cfg = config_for(tmp_path / "home", firestore_emulator.project)
    ledger, calls = fill(cfg, 40)
    push(cfg, ledger, firestore_client)
    cache = TeamCache.for_config(cfg)
    pull(cfg, firestore_client, cache)
    again = pull(cfg, firestore_client, cache)  # immediately: all 40 are in the overlap
    assert again.read == 40 and again.new == 0
    assert cache.totals("core") == (40, sum(c.cost_nanos for c in calls))


def test_interrupted_first_pull_resumes_without_rereading(firestore_emulator, firestore_client,
                                                         tmp_path: Path) -> None:
    cfg = config_for(tmp_path / "home", firestore_emulator.project)
    ledger, calls = fill(cfg, 350)
    push(cfg, ledger, firestore_client)
    reader = config_for(tmp_path / "reader", firestore_emulator.project, member="r@example.com")
    cache = TeamCache.for_config(reader)
    reads = spy_reads(firestore_client)
    part = pull(reader, firestore_client, cache, page_size=100, max_pages=2)  # "interrupted"
    assert (part.read, cache.count()) == (200, 200)
    from teamcost.sync.pull import Watermark
    assert Watermark.load(cache, "core").complete is False

    reads.documents = 0
    rest = pull(reader, firestore_client, cache, page_size=100)
    assert reads.documents == 150 == rest.read  # not one document read twice
    assert cache.totals("core") == (350, sum(c.cost_nanos for c in calls))
    assert Watermark.load(cache, "core").complete is True


def test_progress_reports_count_up_to_server_count(firestore_emulator, firestore_client,
                                                   tmp_path: Path) -> None:
    cfg = config_for(tmp_path / "home", firestore_emulator.project)
    ledger, _ = fill(cfg, 250)
    seen: list[tuple[int, int]] = []
    push(cfg, ledger, firestore_client, progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 250) and seen[-1] == (250, 250)
    pulled: list[tuple[int, object]] = []
    pull(cfg, firestore_client, progress=lambda d, t: pulled.append((d, t)), page_size=100)
    assert pulled == [(0, 250), (100, 250), (200, 250), (250, 250)]


def test_a_commit_landing_late_inside_the_overlap_is_still_pulled(firestore_emulator,
                                                                  firestore_client,
                                                                  tmp_path: Path) -> None:
    from datetime import timedelta
    from google.cloud import firestore
    from teamcost.sync.mapping import COLLECTION, record_to_doc

    cfg = config_for(tmp_path / "home", firestore_emulator.project)
    ledger, calls = fill(cfg, 10)
    push(cfg, ledger, firestore_client)
    cache = TeamCache.for_config(cfg)
    first = pull(cfg, firestore_client, cache)  # right after the push: not yet settled
    # a commit that started before the newest one we saw becomes visible only now
    late = make_calls(1, cfg.member, ledger.ledger_id, seed=77)[0]
    firestore_client.collection(COLLECTION).document(late.call_id).create(
        {**record_to_doc(late), "pushed_at": first.watermark - timedelta(milliseconds=500)})
    second = pull(cfg, firestore_client, cache)
    assert second.new == 1 and cache.count() == 11
    assert cache.totals() == server_totals(firestore_client)

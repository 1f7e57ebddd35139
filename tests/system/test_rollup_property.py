"""Property: whatever the sequence of recordings, pushes and faults (lost responses, a
crash between commit and mark, a differing copy pushed by someone else, two pushers of
one ledger), once everything is pushed and the migration has run, every rollup number
equals the sum of the call documents Firestore holds."""

from __future__ import annotations

import itertools
import tempfile
import threading
from pathlib import Path

import pytest
from google.api_core.exceptions import AlreadyExists
from google.cloud import firestore
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teamcost.ledger import Ledger
from teamcost.sync.mapping import COLLECTION, record_to_doc
from teamcost.sync.migrate import build_rollups
from teamcost.sync.push import push
from teamcost.sync.retry import Backoff

from tests.rollup_support import assert_rollups_match_calls
from tests.sync_support import config_for, make_calls, spy_commits

pytestmark = pytest.mark.emulator
FAST = Backoff(attempts=4, base_s=0.01, cap_s=0.05)
_teams = itertools.count()

OPS = st.lists(st.tuples(
    st.sampled_from(["record", "push", "lost", "crash", "conflict", "race"]),
    st.integers(0, 1),                 # which ledger
    st.integers(1, 60)), min_size=1, max_size=8)


class Crash(Exception):
    pass


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_rollups_equal_the_calls_after_any_pushes_and_faults(firestore_emulator, ops) -> None:
    team = f"prop{next(_teams)}"
    client = firestore.Client(project=firestore_emulator.project)
    spy = spy_commits(client)
    work = Path(tempfile.mkdtemp(prefix="teamcost-prop-"))
    cfgs = [config_for(work / n, firestore_emulator.project, f"{n}@example.com", team)
            for n in ("ana", "bo")]
    ledgers = [Ledger.for_config(c) for c in cfgs]
    seq = [0, 0]
    try:
        for op, who, n in ops:
            cfg, ledger = cfgs[who], ledgers[who]
            if op == "record":
                # call ids unique to this example's team (examples share one emulator)
                recs = make_calls(n, cfg.member, ledger.ledger_id, team, seed=seq[who],
                                  prefix=f"{team}-{who}")
                seq[who] += 1
                ledger.record_many(recs)
            elif op == "push":
                push(cfg, ledger, client, backoff=FAST)
            elif op == "lost":
                spy.lose_responses = 1
                push(cfg, ledger, client, in_flight=1, backoff=FAST)
                spy.lose_responses = 0
            elif op == "crash":
                real = ledger.mark_pushed

                def die(*a, **k):  # type: ignore[no-untyped-def]
                    raise Crash("killed between commit and mark")
                ledger.mark_pushed = die  # type: ignore[method-assign]
                try:
                    push(cfg, ledger, client, in_flight=1, backoff=FAST)
                except Crash:
                    pass
                finally:
                    ledger.mark_pushed = real  # type: ignore[method-assign]
            elif op == "conflict":
                rows = ledger.unpushed(limit=1)
                if rows:   # someone else's differing copy, written without rollups
                    rec = rows[0][1]
                    try:
                        client.collection(COLLECTION).document(rec.call_id).create(
                            {**record_to_doc(rec), "cost_nanos": rec.cost_nanos + n,
                             "pushed_at": firestore.SERVER_TIMESTAMP})
                    except AlreadyExists:
                        pass   # a crashed push landed it already: nothing to race

            elif op == "race":
                other = Ledger(cfg.ledger_file)
                ts = [threading.Thread(target=push, args=(cfg, lg, client),
                                       kwargs={"backoff": FAST}) for lg in (ledger, other)]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join(60)
                other.close()
        for cfg, ledger in zip(cfgs, ledgers, strict=True):
            push(cfg, ledger, client, backoff=FAST)
        build_rollups(client, team, FAST)
        calls = assert_rollups_match_calls(client, team)
        assert len(calls) == sum(sum(1 for _ in ledger.calls()) for ledger in ledgers)
    finally:
        for ledger in ledgers:
            ledger.close()
        client.close()

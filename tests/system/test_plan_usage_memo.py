"""The agent's budget check reads plan usage only when it can have changed (issue 24).

Against the emulator: the agent's check (`check_with_today`) after pushes of plan and
metered calls (late ones too), an idle check, an unpushed plan call, a plan change (seen
within BUDGET_TTL_S) and a period change. Every value is compared with a sum computed here
from the call documents themselves and a hand-written rule, and the plan-usage RPCs are
counted at the client.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from teamcost.budget.check import BUDGET_TTL_S, check_with_today, set_team_budget
from teamcost.config import Config
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.plans.model import Cover, Plan, Plans, Seat
from teamcost.plans.store import put_plans
from teamcost.sync.migrate import build_rollups
from teamcost.sync.retry import Backoff
from teamcost.sync.service import run_push

pytestmark = pytest.mark.emulator

NOV = datetime(2026, 11, 1, tzinfo=UTC)
DEC = datetime(2026, 12, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
ANA, BO, CY = "ana@example.com", "bo@example.com", "cy@example.com"
MAX = Plan("Max", 200_000_000_000, (Cover(source="claude-code", provider="anthropic"),))
GPT = Plan("GPT", 20_000_000_000, (Cover(provider="openai"),))
BO_SINCE = datetime(2026, 11, 10, tzinfo=UTC)


def member(root: Path, project: str, name: str) -> Config:
    home = root / name.split("@")[0]
    home.mkdir(parents=True)
    return Config(home=home, team="core", member=name, project=project, timezone="UTC")


_N = iter(range(1, 10_000))


def call(cfg: Config, ledger: Ledger, ts: datetime, provider: str, nanos: int,
         source: str | None = None, billing: str | None = None) -> CallRecord:
    tags = {"source": source} if source else {}
    if billing:
        tags["billing"] = billing
    return CallRecord(call_id=f"m-{next(_N):05d}", ts=ts, team="core", member=cfg.member,
                      ledger_id=ledger.ledger_id, provider=provider,
                      model="claude-opus-4-5" if provider == "anthropic" else "gpt-5",
                      input_tokens=10, output_tokens=1, cost_nanos=nanos,
                      price_source="test", tags=tags)


def push(cfg: Config, client: Any, *calls: CallRecord) -> None:
    with Ledger.for_config(cfg) as ledger:
        for c in calls:
            ledger.record(c)
    run_push(cfg, client=client)


def expected(client: Any, start: datetime, end: datetime, seats: dict[str, tuple[datetime,
             tuple[str, str]]]) -> int:
    """Plan usage by hand: every call document of the team read back (through the test's own
    client), then billing=plan,
    or (untagged) a call of a seat holder after the seat's start whose source and provider
    are the seat's (None: any source)."""
    from google.cloud.firestore_v1.base_query import FieldFilter
    total = 0
    for snap in client.collection("trinity_costs").where(
            filter=FieldFilter("team", "==", "core")).stream():
        d = snap.to_dict()
        ts = d["ts"].astimezone(UTC)
        if not start <= ts < end:
            continue
        tags = d.get("tags") or {}
        billing = tags.get("billing")
        if billing == "plan":
            total += d["cost_nanos"]
        elif billing is None and d["member"] in seats:
            since, (source, provider) = seats[d["member"]]
            src = tags.get("source") or d.get("agent") or ""
            if ts >= since and source in (None, src) and d["provider"] == provider:
                total += d["cost_nanos"]
    return total


class RPCs:
    """What the client asked Firestore: plan-usage aggregations (over trinity_costs with a
    tags.billing or member filter), streams of call documents, reads of the plans."""

    def __init__(self, client: Any) -> None:
        self.seen: Counter[str] = Counter()
        self.docs = 0             # call documents the streams returned
        api = client._firestore_api
        real_query, real_agg = api.run_query, api.run_aggregation_query
        real_get = api.batch_get_documents

        def fields(sq: Any) -> set[str]:
            w = sq.where
            filters = list(w.composite_filter.filters) if w.composite_filter.filters else [w]
            return {f.field_filter.field.field_path for f in filters}

        def run_query(*a: Any, **k: Any) -> Iterator[Any]:
            req = k.get("request") if "request" in k else a[0]
            sq = req["structured_query"] if isinstance(req, dict) else req.structured_query
            if not any(f.collection_id == "trinity_costs" for f in sq.from_):
                return real_query(*a, **k)
            self.seen["stream"] += 1
            out = list(real_query(*a, **k))
            self.docs += sum(1 for r in out if r.document and r.document.name)
            return iter(out)

        def run_aggregation_query(*a: Any, **k: Any) -> Any:
            req = k.get("request") if "request" in k else a[0]
            sq = (req["structured_aggregation_query"] if isinstance(req, dict)
                  else req.structured_aggregation_query).structured_query
            if any(f.collection_id == "trinity_costs" for f in sq.from_):
                f = fields(sq)
                if "tags.billing" in f:
                    self.seen["tagged_sum"] += 1
                elif "member" in f:
                    self.seen["span_count"] += 1
            return real_agg(*a, **k)

        def batch_get(*a: Any, **k: Any) -> Iterator[Any]:
            req = k.get("request") if "request" in k else a[0]
            docs = req["documents"] if isinstance(req, dict) else req.documents
            self.seen["plans_doc"] += sum(1 for d in docs if "/teamcost_plans/" in d)
            return real_get(*a, **k)

        api.run_query, api.run_aggregation_query = run_query, run_aggregation_query
        api.batch_get_documents = batch_get

    def take(self) -> dict[str, int]:
        out = {k: v for k, v in self.seen.items() if v}
        self.seen.clear()
        self.docs = 0
        return out


@pytest.mark.parametrize("rollups", [True, False], ids=["rollups", "calls-count"])
def test_plan_usage_is_read_only_when_it_can_have_changed(firestore_emulator, firestore_client,
                                                          tmp_path: Path, rollups: bool) -> None:
    client = firestore_client
    project = firestore_emulator.project
    ana, bo, cy = (member(tmp_path, project, m) for m in (ANA, BO, CY))
    set_team_budget(cy, "100000", "month", client=client)
    if rollups:        # a new team: its rollups count every call from the first push
        build_rollups(client, "core", Backoff(attempts=2, base_s=0.05, cap_s=0.1))
    put_plans(client, Plans("core", {"Max": MAX, "GPT": GPT}, (Seat(ANA, "Max", NOV),)))
    seats = {ANA: (NOV, ("claude-code", "anthropic"))}
    la, lb = Ledger.for_config(ana), Ledger.for_config(bo)
    push(ana, client,
         call(ana, la, NOV + timedelta(days=2), "anthropic", 3_000_000_007, "claude-code"),
         call(ana, la, NOV + timedelta(days=5), "anthropic", 5_000_000_011, "claude-code"),
         call(ana, la, NOV + timedelta(days=6), "openai", 7_000_000_013),
         call(ana, la, NOV + timedelta(days=7), "anthropic", 1_100_000_017, "claude-code",
              billing="metered"))
    push(bo, client,
         call(bo, lb, NOV + timedelta(days=3), "cursor", 2_000_000_019, "cursor", "plan"),
         call(bo, lb, NOV + timedelta(days=4), "openai", 13_000_000_023))
    from google.cloud import firestore
    own = firestore.Client(project=project)     # the test's reads are not counted
    rpcs = RPCs(client)
    lc = Ledger.for_config(cy)
    try:
        def check(at: datetime) -> int:
            status, _, _ = check_with_today(cy, client, lc, at)
            assert status is not None and status.plans == "read"
            return status.plan_usage_nanos

        # first check: the plans document, the tagged sum, ana's calls under her plan
        want = expected(own, NOV, DEC, seats)
        assert want == 3_000_000_007 + 5_000_000_011 + 2_000_000_019
        assert check(NOW) == want
        assert rpcs.take() == {"plans_doc": 1, "tagged_sum": 1, "stream": 1}
        # idle: nothing pushed, plans cached: no plan-usage read at all
        assert check(NOW + timedelta(minutes=1)) == want
        assert rpcs.take() == {}
        # an unpushed plan call on this machine counts at once, still without a read
        lc.record(call(cy, lc, NOW - timedelta(hours=1), "copilot", 900_000_029, "copilot",
                       "plan"))
        assert check(NOW + timedelta(minutes=2)) == want + 900_000_029
        assert rpcs.take() == {}
        # bo pushes a plan call of last week (late): the tagged sum again, ana's count, and
        # ana's calls are not streamed (her count did not change)
        push(bo, client, call(bo, lb, NOV + timedelta(days=12), "cursor", 4_000_000_031,
                              "cursor", "plan"))
        want = expected(own, NOV, DEC, seats)
        assert want == 3_000_000_007 + 5_000_000_011 + 2_000_000_019 + 4_000_000_031
        assert check(NOW + timedelta(minutes=3)) == want + 900_000_029
        assert rpcs.take() == {"tagged_sum": 1, "span_count": 1}
        # ana pushes an old call late (before her latest): her count changed, her span is
        # streamed again and the late call is counted
        push(ana, client, call(ana, la, NOV + timedelta(days=1), "anthropic", 6_000_000_037,
                               "claude-code"))
        want = expected(own, NOV, DEC, seats)
        assert check(NOW + timedelta(minutes=4)) == want + 900_000_029
        assert rpcs.take() == {"tagged_sum": 1, "span_count": 1, "stream": 1}
        assert check(NOW + timedelta(minutes=5)) == want + 900_000_029
        assert rpcs.take() == {}
        # a plan change: bo holds GPT from the 10th. Within BUDGET_TTL_S the agent's copy of
        # the plans still counts; once it is older, the plans are read and usage recomputed
        put_plans(client, Plans("core", {"Max": MAX, "GPT": GPT},
                                (Seat(ANA, "Max", NOV), Seat(BO, "GPT", BO_SINCE))))
        rpcs.take()          # put_plans reads the document back: not the agent's read
        assert check(NOW + timedelta(minutes=6)) == want + 900_000_029
        assert rpcs.take() == {}
        first_read = NOW     # the plans were last read by the first check
        later = first_read + timedelta(seconds=BUDGET_TTL_S)
        seats[BO] = (BO_SINCE, (None, "openai"))
        want = expected(own, NOV, DEC, seats)
        assert want == 3_000_000_007 + 5_000_000_011 + 2_000_000_019 + 4_000_000_031 \
            + 6_000_000_037      # bo's openai call of the 5th is before his seat
        assert check(later) == want + 900_000_029
        assert rpcs.take() == {"plans_doc": 1, "tagged_sum": 1, "stream": 2}
        push(bo, client, call(bo, lb, NOV + timedelta(days=15), "openai", 8_000_000_041))
        want = expected(own, NOV, DEC, seats)
        assert check(later + timedelta(minutes=1)) == want + 900_000_029
        assert rpcs.take() == {"tagged_sum": 1, "span_count": 2, "stream": 1}
        # a new period: December's calls only (this machine's unpushed call is November's)
        push(ana, client, call(ana, la, DEC + timedelta(minutes=5), "anthropic", 10_000_000_043,
                               "claude-code"),
             call(ana, la, NOV + timedelta(days=29), "anthropic", 1_000_000_047, "claude-code"))
        dec = DEC + timedelta(hours=1)
        want = expected(own, DEC, DEC + timedelta(days=31), seats)
        assert want == 10_000_000_043
        assert check(dec) == want
        assert rpcs.take() == {"plans_doc": 1, "tagged_sum": 1, "stream": 2}
        assert check(dec + timedelta(minutes=1)) == want
        assert rpcs.take() == {}
    finally:
        for ledger in (la, lb, lc):
            ledger.close()
        own.close()


def test_an_active_plan_member_is_read_only_where_calls_were_added(
        firestore_emulator, firestore_client, tmp_path: Path) -> None:
    """ana holds two plans at once (each call counted once) and has 60 calls in November;
    new calls, one of them pushed late into an old hour, are found by counting halves of
    her span: only the hours that got calls are read again."""
    client = firestore_client
    project = firestore_emulator.project
    ana, cy = member(tmp_path, project, ANA), member(tmp_path, project, CY)
    set_team_budget(cy, "100000", "month", client=client)
    build_rollups(client, "core", Backoff(attempts=2, base_s=0.05, cap_s=0.1))
    put_plans(client, Plans("core", {"Max": MAX, "GPT": GPT},
                            (Seat(ANA, "Max", NOV), Seat(ANA, "GPT", BO_SINCE))))
    la, lc = Ledger.for_config(ana), Ledger.for_config(cy)
    hours = [NOV + timedelta(days=1 + i // 5, hours=9 + i % 5, minutes=7) for i in range(60)]
    push(ana, client, *(call(ana, la, ts, ("anthropic", "openai")[i % 2], 1_000_000_000 + i,
                             "claude-code") for i, ts in enumerate(hours)))

    def by_hand() -> int:
        # Max covers claude-code on anthropic from Nov 1, GPT any openai call from Nov 10
        total = 0
        for snap in own.collection("trinity_costs").stream():
            d = snap.to_dict()
            ts = d["ts"].astimezone(UTC)
            if NOV <= ts < DEC and (d["provider"] == "anthropic"
                                    or (d["provider"] == "openai" and ts >= BO_SINCE)):
                total += d["cost_nanos"]
        return total

    from google.cloud import firestore
    own = firestore.Client(project=project)
    rpcs = RPCs(client)
    try:
        def check(at: datetime) -> int:
            status, _, _ = check_with_today(cy, client, lc, at)
            assert status is not None and status.plans == "read"
            return status.plan_usage_nanos

        assert check(NOW) == by_hand()
        assert rpcs.docs == 60       # her span read once, each call once
        rpcs.take()
        # a new call at 14:xx on the 20th and a late one at 09:30 on the 3rd
        push(ana, client, call(ana, la, NOW + timedelta(hours=2, minutes=5), "anthropic",
                               7_000_000_001, "claude-code"),
             call(ana, la, NOV + timedelta(days=2, hours=9, minutes=30), "anthropic",
                  9_000_000_003, "claude-code"))
        want = by_hand()
        assert want == sum(1_000_000_000 + i for i in range(60)
                           if i % 2 == 0 or hours[i] >= BO_SINCE) + 7_000_000_001 + 9_000_000_003
        assert check(NOW + timedelta(hours=3)) == want
        # only parts that got a call are read (a part is streamed rather than halved once
        # it holds at most two calls per level below it): far from the 62 calls of the span
        docs = rpcs.docs
        seen = rpcs.take()
        assert 2 <= docs <= 2 * 2 * 10 and seen["tagged_sum"] == 1
        assert seen["span_count"] <= 2 * 2 * 10 + 1        # two descents of ~10 halvings
        assert check(NOW + timedelta(hours=3, minutes=1)) == want
        assert rpcs.take() == {}
    finally:
        la.close()
        lc.close()
        own.close()

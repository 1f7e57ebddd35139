"""reports/billing.py: the three numbers per breakdown row, over Arrow chunks in the
mirrors' schema, against sums worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from teamcost.models import CallRecord
from teamcost.plans.model import Cover, Plan, Plans, Seat
from teamcost.reports.billing import Billing
from teamcost.reports.frames import records_table

NOV = datetime(2026, 11, 1, tzinfo=UTC)
DEC = datetime(2026, 12, 1, tzinfo=UTC)
PLANS = Plans("t", {"Max": Plan("Max", 200_000_000_000, (Cover(source="claude-code"),))},
              (Seat("ann", "Max", NOV), Seat("ann", "Max", datetime(2026, 11, 20, tzinfo=UTC),
                                             holds=False)))


def call(n: int, member: str, day: int, cost: int, session: str | None,
         agent: str | None = None, tags: dict[str, str] | None = None) -> CallRecord:
    return CallRecord(call_id=f"c{n}", ts=NOV + timedelta(days=day - 1, hours=n % 24),
                      team="t", member=member, ledger_id="L", provider="anthropic",
                      model="claude-x", cost_nanos=cost, session_id=session, agent=agent,
                      tags=tags or {})


def test_sessions_agents_and_rules_in_two_chunks() -> None:
    first = [call(1, "ann", 3, 100, "s1", "claude-code"),       # plan (Max covers it)
             call(2, "ann", 3, 10, "s1"),                       # metered: not claude-code
             call(3, "bob", 4, 1000, "s2", "claude-code"),      # metered: bob has no plan
             call(4, "bob", 4, 7, None, None, {"billing": "plan"})]   # plan: source said
    second = [call(5, "ann", 25, 50, "s1", "claude-code"),      # metered: seat ended 20th
              call(6, "ann", 10, 5, "s3", "claude-code")]       # plan
    bill = Billing(NOV, DEC, PLANS, {"member": "member", "session": "session_id",
                                     "agent": "agent"})
    bill.add(records_table(first))
    bill.add(records_table(second))
    assert bill.totals == {"metered": 10 + 1000 + 50, "plan": 100 + 7 + 5}
    assert bill.rules == {"source": 1, "plan": 2, "no-plan": 3, "plans-unknown": 0}
    assert bill.rows["session"] == {"s1": {"metered": 60, "plan": 100},
                                    "s2": {"metered": 1000, "plan": 0},
                                    "(none)": {"metered": 0, "plan": 7},
                                    "s3": {"metered": 0, "plan": 5}}
    assert bill.rows["agent"] == {"claude-code": {"metered": 1050, "plan": 105},
                                  "(none)": {"metered": 10, "plan": 7}}
    # ann held Max Nov 1-20: 19 of 30 days of $200
    assert bill.seats() == {"ann": round(200_000_000_000 * 19 / 30)}


def test_unknown_plans_count_untagged_calls_as_metered() -> None:
    bill = Billing(NOV, DEC, None, {"member": "member"})
    bill.add(records_table([call(1, "ann", 3, 100, "s1", "claude-code"),
                            call(2, "ann", 3, 9, None, None, {"billing": "plan"})]))
    assert bill.totals == {"metered": 100, "plan": 9}
    assert bill.rules["plans-unknown"] == 1 and bill.seats() == {}


def test_without_plans_only_the_billing_tag_splits_calls_whatever_their_other_tags() -> None:
    # each call's tags are unique (a request id), as Claude Code's are; the billing key is
    # also found escaped (\u0062illing is "billing") and next to a key that merely contains it
    calls = [call(i, "ann" if i % 2 else "bob", 1 + i % 20, 1000 + i, f"s{i % 3}",
                  "claude-code", {"request_id": f"req_{i}", "source": "claude-code"})
             for i in range(300)]
    calls.append(call(300, "ann", 2, 7, "s0", None, {"billing": "plan", "request_id": "r"}))
    calls.append(call(301, "bob", 3, 11, "s1", None, {"xbillingx": "plan"}))
    calls.append(call(302, "bob", 4, 13, "s1", None, {"note": "billing", "billing": "metered"}))
    for plans in (None, Plans("t", {}, ()), Plans("t", PLANS.plans, ())):
        bill = Billing(NOV, DEC, plans, {"member": "member", "session": "session_id"})
        bill.add(records_table(calls[:150]))
        bill.add(records_table(calls[150:]))
        rest = sum(1000 + i for i in range(300)) + 11 + 13
        assert bill.totals == {"metered": rest, "plan": 7}
        unread = "plans-unknown" if plans is None else "no-plan"
        assert bill.rules == {"source": 2, "plan": 0, "no-plan": 0, "plans-unknown": 0,
                              unread: 301}
        assert bill.rows["member"]["ann"]["plan"] == 7
        assert bill.rows["session"]["s0"]["plan"] == 7
    escaped = records_table([call(1, "ann", 2, 5, "s0", None, {"billing": "plan"})])
    tags = escaped.column("tags").to_pylist()[0].replace("billing", "\\u0062illing")
    escaped = escaped.set_column(escaped.column_names.index("tags"), "tags",
                                 pa.array([tags], pa.string()))
    bill = Billing(NOV, DEC, None, {"member": "member"})
    bill.add(escaped)
    assert bill.totals == {"metered": 0, "plan": 5}

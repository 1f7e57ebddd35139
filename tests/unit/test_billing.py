"""reports/billing.py: the three numbers per breakdown row, over Arrow chunks in the
mirrors' schema, against sums worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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

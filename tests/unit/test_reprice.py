"""`teamcost reprice`: unpriced, unpushed calls priced once a price is known (an override
added, a model genai-prices knows); pushed calls stay as pushed and are reported; only the
price fields of unpushed rows ever change. Costs worked out by hand in the comments
(N tokens at $P per million = N x P x 1000 nanos)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from teamcost.config import load_config
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.pricing import GENAI_PRICES_SOURCE, PriceOverride
from teamcost.reprice import reprice
from teamcost.tracker import Tracker

from tests.cli_support import one_error_line, run

WHEN = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
ACME = {"pattern": "^acme-", "input": "0.5", "output": "1.5", "cache_write": 1,
        "cache_write_1h": 2}


def unpriced(tracker: Tracker, call_id: str, model: str = "acme-large-2", **kw) -> CallRecord:
    rec = tracker.record(model, 1_000, 200, call_id=call_id, ts=WHEN, **kw)
    assert not rec.priced and rec.cost_nanos == 0 and rec.price_source == "unpriced"
    return rec


def test_a_call_is_priced_after_an_override_is_added(teamcost_home) -> None:
    tracker = Tracker(load_config())
    before = unpriced(tracker, "c1", cache_write_tokens=300, cache_write_1h_tokens=100)
    unpriced(tracker, "c2", model="frob-9")
    ledger = tracker.ledger

    nothing = reprice(load_config(), ledger)          # still no price anywhere
    assert (nothing.repriced, nothing.unpriced, nothing.pushed_unpriced) == (0, 2, 0)

    cfg = replace(load_config(), price_overrides=(PriceOverride.from_mapping(ACME),))
    res = reprice(cfg, ledger)
    # acme-large-2: 1,000 in x 0.5 + 200 out x 1.5 + 200 5m writes x 1 + 100 1h writes x 2
    #   = 500 + 300 + 200 + 200 = 1,200 -> 1_200_000 nanos
    assert (res.repriced, res.cost_nanos, res.unpriced) == (1, 1_200_000, 1)
    acme, frob = res.models
    assert (acme.model, acme.repriced, acme.price_source) == ("acme-large-2", 1, "override:^acme-")
    assert (frob.model, frob.unpriced, frob.unpriced_tokens) == ("frob-9", 1, 1_200)
    after = ledger.get("c1")
    assert after == replace(before, cost_nanos=1_200_000, priced=True,
                            price_source="override:^acme-")   # nothing else changed
    assert ledger.status().unpriced == 1
    # a second run has nothing left to price for acme
    again = reprice(cfg, ledger)
    assert (again.repriced, [m.model for m in again.models]) == (0, ["frob-9"])


def test_a_pushed_unpriced_call_stays_unpriced_and_is_reported(teamcost_home) -> None:
    tracker = Tracker(load_config())
    pushed = unpriced(tracker, "p1")
    unpriced(tracker, "u1")
    ledger = tracker.ledger
    assert ledger.mark_pushed(["p1"]) == 1
    cfg = replace(load_config(), price_overrides=(PriceOverride.from_mapping(ACME),))
    res = reprice(cfg, ledger)
    (m,) = res.models
    # u1: 1,000 x 0.5 + 200 x 1.5 = 800 -> 800_000 nanos; p1 is in Firestore as it was
    assert (m.repriced, m.cost_nanos, m.pushed_unpriced, m.pushed_unpriced_tokens) == \
        (1, 800_000, 1, 1_200)
    assert ledger.get("p1") == pushed
    assert ledger.get("u1").priced


def test_current_price_table_at_the_calls_time_with_its_billed_extras(teamcost_home) -> None:
    # calls a ledger holds unpriced although genai-prices knows the model now (recorded by
    # a release that did not): priced from the tokens, the tags' one-hour writes and
    # searches, at the prices of the call's day
    cfg = load_config()
    with Ledger.for_config(cfg) as ledger:
        base = Tracker(cfg, ledger).build("x", call_id="x", ts=WHEN)

        def stored(call_id: str, model: str, ts: datetime, tags: dict[str, str], **tokens):
            rec = replace(base, call_id=call_id, model=model, provider="anthropic", ts=ts,
                          cost_nanos=0, priced=False, price_source="unpriced", tags=tags,
                          **tokens)
            assert ledger.record(rec)

        stored("s1", "claude-sonnet-4-5", WHEN,
               {"cache_write_1h_tokens": "2000", "web_search_requests": "3", "project": "p"},
               input_tokens=100, output_tokens=200, cache_write_tokens=3_000)
        # claude-opus-4-6, 250,000 input tokens, on 2026-03-12 (long-context tier until then)
        stored("o1", "claude-opus-4-6", datetime(2026, 3, 12, 23, 0, tzinfo=UTC), {},
               input_tokens=250_000)
        res = reprice(cfg, ledger, model="claude-sonnet-4-5")
        # sonnet: 100 x 3 + 200 x 15 + 1,000 5m writes x 3.75 + 2,000 1h writes x 6
        #   = 300 + 3,000 + 3,750 + 12,000 = 19,050 -> 19_050_000, + 3 searches x $0.01
        #   = 30_000_000 -> 49_050_000 nanos
        assert (res.model, res.repriced, res.cost_nanos) == ("claude-sonnet-4-5", 1, 49_050_000)
        assert ledger.get("s1").price_source == GENAI_PRICES_SOURCE
        assert not ledger.get("o1").priced               # not the model asked for
        res = reprice(cfg, ledger)
        # opus 4.6 on the 12th, above 200,000: 250,000 x $10 = 2,500,000 -> 2_500_000_000
        # (from the 13th it would be 250,000 x $5)
        assert (res.repriced, res.cost_nanos) == (1, 2_500_000_000)


def test_a_reprice_racing_a_push_leaves_the_row_as_it_was_sent(teamcost_home) -> None:
    tracker = Tracker(load_config())
    sent = unpriced(tracker, "r1")
    ledger = tracker.ledger
    batch = [rec for _, rec in ledger.unpushed()]        # a push has read the row ...
    cfg = replace(load_config(), price_overrides=(PriceOverride.from_mapping(ACME),))
    assert reprice(cfg, ledger).repriced == 1            # ... a reprice commits meanwhile ...
    assert ledger.get("r1").priced
    assert ledger.mark_pushed(batch, 1_000) == 1         # ... and Firestore got it unpriced
    assert ledger.get("r1") == sent                      # so the ledger says what it holds
    res = reprice(cfg, ledger)
    assert (res.repriced, res.pushed_unpriced) == (0, 1)


def test_reprice_command_json_and_text(teamcost_home) -> None:
    tracker = Tracker(load_config())
    unpriced(tracker, "k1")
    tracker.close()
    with (teamcost_home / "config.toml").open("a") as fh:
        fh.write('\n[[price_overrides]]\npattern = "^acme-"\ninput = 0.5\noutput = 1.5\n')
    r = run("reprice", "--model", "acme-large-2", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["repriced"], doc["cost_nanos"], doc["model"]) == (1, 800_000, "acme-large-2")
    r = run("reprice")
    assert r.exit_code == 0 and r.stdout.strip() == "no unpriced calls in this ledger"
    bad = run("reprice", "--model", "")
    assert bad.exit_code == 2
    assert "--model" in one_error_line(bad)


@pytest.mark.parametrize("tags,want", [({"web_search_requests": "x"}, (0, 0)),
                                       ({"cache_write_1h_tokens": "٣"}, (0, 0)),
                                       ({"web_search_requests": "2"}, (0, 2))])
def test_extras_read_back_from_tags(tags: dict[str, str], want: tuple[int, int]) -> None:
    from teamcost.pricing import extras_from_tags
    assert extras_from_tags(tags) == want

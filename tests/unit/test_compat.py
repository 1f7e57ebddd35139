"""Every third-party private API teamcost uses (teamcost/compat/) still exists in the installed
release and still behaves as relied on. A failure here means: read the library's changelog,
adapt the compat module, then move the version bound in pyproject.toml."""

from __future__ import annotations

import inspect

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


def test_firestore_private_api() -> None:
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_client import BaseClient
    from google.cloud.firestore_v1.query import Query

    from teamcost.compat import firestore as compat

    assert isinstance(BaseClient.__dict__.get("_rpc_metadata"), property)
    assert "_firestore_api" in dir(firestore.Client)
    assert isinstance(BaseClient.__dict__.get("_database_string"), property)
    params = inspect.signature(Query._prep_stream).parameters
    assert {"retry", "timeout"} <= set(params)
    # the subclass override is what makes rules apply against an emulator
    member = compat.member_client_class(firestore.Client, lambda: "tok")
    assert issubclass(member, firestore.Client) and member.__name__ == "MemberClient"


def test_firestore_private_api_on_a_client(monkeypatch: pytest.MonkeyPatch) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    from teamcost.compat import firestore as compat

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")  # never contacted
    client = firestore.Client(project="demo-compat", credentials=AnonymousCredentials())
    try:
        assert compat.database_path(client) == "projects/demo-compat/databases/(default)"
        md = dict(compat.rpc_metadata(client))
        assert md.get("authorization") == "Bearer owner"     # why the member client exists
        assert "google-cloud-resource-prefix" in md or "x-goog-request-params" in md
        request = compat.query_request(client.collection("c").limit(1), 5.0)
        assert request["parent"] == "projects/demo-compat/databases/(default)/documents"
        assert hasattr(compat.gapic(client), "commit") and hasattr(compat.gapic(client), "run_query")
        member = compat.member_client_class(firestore.Client, lambda: "member-token")(
            project="demo-compat", credentials=AnonymousCredentials())
        assert dict(compat.rpc_metadata(member))["authorization"] == "Bearer member-token"
    finally:
        client.close()


def test_firestore_close_client_closes_the_grpc_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    from teamcost.compat import firestore as compat

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")  # never contacted
    client = firestore.Client(project="demo-compat", credentials=AnonymousCredentials())
    compat.gapic(client)                                  # the channel exists once used
    channel = client._firestore_api_internal.transport.grpc_channel
    compat.close_client(client)
    with pytest.raises(ValueError, match="closed channel"):
        channel.unary_unary("/x/y")(b"", timeout=1)


def test_genai_prices_private_api() -> None:
    from teamcost.compat import genai_prices as compat

    provider, info = compat.find_provider_model("gpt-4o", "openai")
    assert provider.id == "openai" and info.id
    with pytest.raises(LookupError):
        compat.find_provider_model("no-such-model-xyz", None)
    assert compat.is_per_request_price("requests_kcount") is True
    assert compat.is_per_request_price("input_mtok") is False
    assert hasattr(compat.TieredPrices, "__dataclass_fields__") or hasattr(
        compat.TieredPrices, "model_fields")


def test_typer_vendors_click() -> None:
    from teamcost.compat.typer import click_exceptions

    for name in ("UsageError", "NoArgsIsHelpError", "ClickException"):
        assert isinstance(getattr(click_exceptions, name), type), name
    assert issubclass(click_exceptions.NoArgsIsHelpError, click_exceptions.UsageError)


def test_genai_prices_time_independent_prices() -> None:
    from genai_prices import data_snapshot
    from genai_prices.types import ModelPrice

    from teamcost.compat.genai_prices import find_provider_model, prices_at_any_time

    _, info = find_provider_model("gpt-4o", "openai")
    assert isinstance(info.prices, ModelPrice) and prices_at_any_time(info) is info.prices
    dated = [m for p in data_snapshot.get_snapshot().providers for m in p.models
             if isinstance(m.prices, list)]
    assert dated, "genai-prices has no model with dated prices any more: keep the check"
    assert all(prices_at_any_time(m) is None for m in dated)


def test_genai_prices_start_dates_are_utc_days() -> None:
    """The price cache keeps a model whose prices change on dates by the call's UTC day:
    genai-prices must give one price set for a whole UTC day (any offset the call carries)."""
    from datetime import UTC, datetime, time, timedelta, timezone

    from genai_prices import data_snapshot

    from teamcost.compat.genai_prices import (
        find_provider_model,
        prices_at_any_time,
        prices_by_date_only,
    )

    _, gpt = find_provider_model("gpt-4o", "openai")
    _, deepseek = find_provider_model("deepseek-chat", "deepseek")
    assert not prices_by_date_only(gpt) and prices_at_any_time(gpt) is not None
    assert not prices_by_date_only(deepseek) and prices_at_any_time(deepseek) is None
    dated = [m for p in data_snapshot.get_snapshot().providers for m in p.models
             if prices_by_date_only(m)]
    assert len(dated) > 20
    for m in dated:
        for c in m.prices:
            if c.constraint is None:
                continue
            for day in (c.constraint.start_date - timedelta(days=1), c.constraint.start_date):
                first = datetime.combine(day, time(0), UTC)
                last = first + timedelta(days=1, microseconds=-1)
                east = (first + timedelta(hours=3)).astimezone(timezone(timedelta(hours=14)))
                assert m.get_prices(first) is m.get_prices(last) is m.get_prices(east), m.id


def _typer_samples(param: object) -> list[object]:
    """Values a command line or a default can hand to a parameter's coercion."""
    from datetime import datetime
    from enum import Enum

    desc = param.type_descriptor  # type: ignore[attr-defined]
    ann = desc.annotation
    values: list[object] = [param.default, None]  # type: ignore[attr-defined]
    if ann is str:
        values += ["x", "", " two words ", "ünïcode", "-5"]
    elif isinstance(ann, type) and issubclass(ann, Enum):
        for member in ann:
            values += [member, str(member.value), str(member.value).upper()]
        values += ["bogus", ""]
    elif ann is datetime:
        values += ["2026-11-20T10:00:00+00:00", "2026-11-20T10:00:00.250+05:30", "bogus",
                   "2026-11-20", datetime(2026, 11, 20)]
    elif ann is int:
        values += [0, 7, "7", " 7", "x", 2**70]
    elif getattr(ann, "__origin__", None) is list:
        values += [("a=b", "c"), (), [], ["x"], ("a", 5)]
    return values


def test_typer_deferred_coercion_equals_typers_own() -> None:
    """Every parameter of every teamcost command, fed defaults, good and bad values: the
    deferred coercion returns what typer's pydantic adapter returns, or the same error."""
    from typer._click import Context
    from typer._click.exceptions import BadParameter
    from typer._coercion import build_runtime_param
    from typer.core import _TyperParameter

    from teamcost.cli import COMMANDS, load_module_commands
    from teamcost.compat import typer as compat

    def outcome(coercer: object, value: object, param: object, ctx: object) -> tuple[str, object]:
        try:
            out = coercer.coerce(value, param=param, ctx=ctx)  # type: ignore[attr-defined]
        except BadParameter as exc:
            return "error", exc.format_message()
        return "ok", (type(out), out, getattr(out, "tzinfo", None))

    def walk(cmd: object) -> list[tuple[object, object]]:
        out = [(cmd, p) for p in getattr(cmd, "params", ()) if isinstance(p, _TyperParameter)]
        for sub in getattr(cmd, "commands", {}).values():
            out += walk(sub)
        return out

    checked = fast = 0
    for module in dict.fromkeys(m for m, _ in COMMANDS.values()):
        for cmd in load_module_commands(module).values():
            for owner, param in walk(cmd):
                deferred = param._runtime_param
                assert isinstance(deferred, compat._Deferred), param.name
                real = build_runtime_param(param.type_descriptor)
                ctx = Context(owner)  # type: ignore[arg-type]
                for value in _typer_samples(param):
                    got = outcome(deferred, value, param, ctx)
                    want = outcome(real, value, param, ctx)
                    assert got == want, (param.name, value)
                    checked += 1
                fast += deferred.real is None   # never needed typer's adapter
    assert checked > 300 and fast > 10


def test_typer_help_option_is_deferred_too() -> None:
    from typer._click import Context

    from teamcost.cli import load_module_commands
    from teamcost.compat import typer as compat

    record = load_module_commands("ledger")["record"]
    option = record.get_help_option(Context(record))
    assert isinstance(option._runtime_param, compat._Deferred)


def test_typer_arguments_show_only_their_metavar_in_teamcosts_lazy_commands() -> None:
    """Both patches at once: a lazily loaded command (deferred coercion) still draws an
    argument by its metavar alone."""
    from typer.testing import CliRunner

    from teamcost.cli import app

    out = CliRunner().invoke(app, ["import", "jsonl", "--help"], terminal_width=100).output
    assert "FILE" in out and "FILE <" not in out and "<path>" not in out


def test_typer_arguments_show_only_their_metavar() -> None:
    """compat.typer: an argument declared with a metavar is shown as just that in --help."""
    import typer
    from typer.testing import CliRunner

    import teamcost.compat.typer  # noqa: F401  (installs the override)

    app = typer.Typer()

    @app.command()
    def cmd(file: str = typer.Argument(..., metavar="FILE", help="the file"),
            other: str = typer.Argument("x", help="no metavar")) -> None:
        pass

    out = CliRunner().invoke(app, ["--help"]).output
    assert "FILE  " in out and "FILE <" not in out
    assert "<str>" in out  # typer's own display where no metavar was given


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(), lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(st.text(max_size=6), kids, max_size=4), max_leaves=15),
       st.sampled_from(["", " ", "\n\t", " x", "}", ",1", "\r\n "]))
def test_json_scan_loads_is_json_loads(value: object, tail: str) -> None:
    import json

    from teamcost.compat.json_scan import _scan, loads

    assert _scan is not None   # CPython's C scanner is there: the status line uses it
    for text in (json.dumps(value) + tail, " " + json.dumps(value, indent=1) + tail,
                 json.dumps(value, ensure_ascii=False)[:7]):
        try:
            want: object = ("ok", json.loads(text))
        except (ValueError, RecursionError) as exc:
            want = ("bad", type(exc), str(exc))
        try:
            got: object = ("ok", loads(text))
        except (ValueError, RecursionError) as exc:
            got = ("bad", type(exc), str(exc))
        assert got == want, text


def test_json_scan_constants_and_deep_nesting_as_json() -> None:
    import json
    import math

    from teamcost.compat.json_scan import loads

    assert math.isnan(loads('{"a": NaN}')["a"]) and loads("[Infinity, -Infinity]") == [
        math.inf, -math.inf]
    deep = "[" * 100_000 + "]" * 100_000
    for parse in (loads, json.loads):
        with pytest.raises(RecursionError):
            parse(deep)


def test_sqlite_c_module_is_what_sqlite3_reexports() -> None:
    """The status line connects through _sqlite3: it must be the very objects sqlite3 gives."""
    import sqlite3

    from teamcost.compat.sqlite_c import sqlite_module

    mod = sqlite_module()
    assert mod.__name__ == "_sqlite3"
    assert mod.connect is sqlite3.connect
    assert mod.DatabaseError is sqlite3.DatabaseError
    assert issubclass(sqlite3.OperationalError, mod.DatabaseError)

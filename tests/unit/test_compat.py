"""Every third-party private API teamcost uses (teamcost/compat/) still exists in the installed
release and still behaves as relied on. A failure here means: read the library's changelog,
adapt the compat module, then move the version bound in pyproject.toml."""

from __future__ import annotations

import inspect

import pytest


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

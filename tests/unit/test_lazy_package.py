"""`import teamcost` is cheap: the public names load on first use, and the first use installs
the budget guard into the tracker, as the eager import did."""

from __future__ import annotations

import importlib

import pytest

import teamcost


def test_every_public_name_resolves_and_all_lists_them() -> None:
    assert set(teamcost.__all__) == {*teamcost._EXPORTS, "__version__"}
    for name in teamcost._EXPORTS:
        value = getattr(teamcost, name)
        assert value is getattr(importlib.import_module(teamcost._EXPORTS[name]), name)
    assert set(teamcost.__all__) <= set(dir(teamcost))


def test_touching_a_public_name_installs_the_guard() -> None:
    from teamcost import tracker

    assert teamcost.Tracker is tracker.Tracker
    assert tracker._guard_factory is not None


def test_unknown_names_and_submodules() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        teamcost.no_such_name  # noqa: B018
    from teamcost import money  # a submodule is still importable through the package

    assert money.format_usd(10**9) == "$1.00"

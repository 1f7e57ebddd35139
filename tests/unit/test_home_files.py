"""teamcost's own files in a TEAMCOST_HOME are known by name, so the demo never takes them
for someone else's (issue 26: `make demo` refused to run again after the tour recorded a call
in the demo's home, which wrote price-cache.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from teamcost.demo import folder
from teamcost.errors import InvalidValue
from teamcost.home import OWN_DIRS, OWN_FILES, is_own_file


def test_own_names_are_the_ones_the_modules_write() -> None:
    from teamcost.agent.lock import LOCK_FILE
    from teamcost.agent.service_files import LOG_FILE
    from teamcost.agent.snapshot import SNAPSHOT_FILE
    from teamcost.auth.session import SESSION_FILE
    from teamcost.config import CACHE_FILE
    from teamcost.local_read import CONFIG_FILE, LEDGER_FILE
    from teamcost.pricing import PRICE_CACHE_FILE
    from teamcost.reports.columnar import MIRROR_DIR

    assert OWN_FILES == {CONFIG_FILE, LEDGER_FILE, CACHE_FILE, PRICE_CACHE_FILE, SESSION_FILE,
                         LOCK_FILE, LOG_FILE, SNAPSHOT_FILE}
    assert MIRROR_DIR in OWN_DIRS


@pytest.mark.parametrize("rel,own", [
    ("price-cache.json", True), ("team-cache.db-wal", True), ("ledger.db-journal", True),
    ("team-cache.parquet/2026-11.parquet", True), ("config.toml", True),
    ("notes.txt", False), ("price-cache.json.bak", False), ("sub/config.toml", False),
    ("config.toml-wal", False), ("", False),
])
def test_is_own_file(rel: str, own: bool) -> None:
    assert is_own_file(rel) is own


def _demo_folder(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    (root / "home").mkdir(parents=True)
    (root / "home" / "config.toml").write_text("team = 'x'\n")
    (root / "report-7d.txt").write_text("r\n")
    (root / folder.MARKER).write_text(json.dumps(
        {"teamcost_demo": 1, "created": ["home", "home/config.toml", "report-7d.txt"]}))
    return root


def test_a_rerun_clears_what_teamcost_wrote_in_the_demo_home(tmp_path: Path) -> None:
    root = _demo_folder(tmp_path)
    (root / "home" / "price-cache.json").write_text("{}")          # the tour's `record`
    (root / "home" / "team-cache.parquet").mkdir()
    (root / "home" / "team-cache.parquet" / "part").write_text("x")
    prepared = folder.prepare(root, ("home", "report-7d.txt"), homes=("home",))
    assert prepared.existing == frozenset()
    assert sorted(p.name for p in root.iterdir()) == [folder.MARKER]


def test_a_rerun_clears_the_mirror_a_report_built_beside_a_demo_ledger(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    (root / "ledgers").mkdir(parents=True)
    (root / "ledgers" / "ann.db").write_text("")
    (root / folder.MARKER).write_text(json.dumps(
        {"teamcost_demo": 1, "created": ["ledgers", "ledgers/ann.db"]}))
    mirror = root / "ledgers" / "ann.parquet" / "month=2026-12"
    mirror.mkdir(parents=True)
    (mirror / "part-1.parquet").write_text("x")
    folder.prepare(root, ("ledgers",), homes=())
    assert sorted(p.name for p in root.iterdir()) == [folder.MARKER]
    (root / "ledgers").mkdir()
    (root / "ledgers" / "bob.parquet").mkdir()            # not beside a ledger the demo made
    (root / folder.MARKER).write_text(json.dumps({"teamcost_demo": 1, "created": []}))
    with pytest.raises(InvalidValue, match="ledgers in it is not the demo.s"):
        folder.prepare(root, ("ledgers",), homes=())


def test_someone_elses_file_in_the_demo_home_is_still_refused(tmp_path: Path) -> None:
    root = _demo_folder(tmp_path)
    (root / "home" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidValue, match="home/notes.txt in it is not the demo's"):
        folder.prepare(root, ("home", "report-7d.txt"), homes=("home",))
    assert (root / "home" / "notes.txt").read_text() == "mine"
    assert (root / "home" / "config.toml").exists()                # nothing removed

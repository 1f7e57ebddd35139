"""Opening the rollup copy from several threads at once (the dashboard's first request
while its start-up refresh runs): each waits for the others, none calls the file foreign
or fails "database is locked"."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from teamcost.errors import LedgerError
from teamcost.sync.rollup_cache import RollupCache


def test_three_threads_open_a_new_copy_at_once(tmp_path: Path) -> None:
    for i in range(40):
        path = tmp_path / f"h{i}" / "rollups.sqlite"
        errors: list[BaseException] = []
        start = threading.Barrier(3)

        def open_close(path: Path = path, start: threading.Barrier = start,
                       errors: list[BaseException] = errors) -> None:
            start.wait()
            try:
                RollupCache(path).close()
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=open_close) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with RollupCache(path) as cache:
            assert cache.count() == 0


def test_a_foreign_sqlite_file_is_still_refused(tmp_path: Path) -> None:
    import sqlite3
    path = tmp_path / "rollups.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (x TEXT)")
    conn.close()
    with pytest.raises(LedgerError, match="not a teamcost rollup cache"):
        RollupCache(path)
    with sqlite3.connect(path) as conn:       # left as it was
        assert [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")] == ["notes"]
    conn.close()

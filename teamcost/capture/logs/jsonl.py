"""``teamcost import jsonl``: teamcost's own export form (one ``record_to_json`` object a line),
re-imported losslessly."""

from __future__ import annotations

from pathlib import Path

from teamcost.capture.logs.base import (
    ImportResult,
    Progress,
    Sink,
    check_file,
    importing,
    json_object,
    not_json_lines,
    read_lines,
    ticker,
    why_bad,
)
from teamcost.config import Config, check_name
from teamcost.errors import InvalidValue, TeamcostError
from teamcost.ledger import Ledger
from teamcost.models import check_not_future, record_from_json


def import_jsonl(path: Path | str, config: Config, ledger: Ledger | None = None,
                 progress: Progress | None = None) -> ImportResult:
    """Re-import a teamcost JSON Lines export; every field is kept exactly as exported."""
    path = check_file("FILE", Path(path), "a teamcost JSON Lines export (.jsonl)")
    _check_jsonl_head(path)
    result = ImportResult("jsonl", str(path), files=1)
    with importing(config, ledger, result) as led:
        sink = Sink(led, result, lenient=False)
        tick = ticker(progress, path.stat().st_size)
        for no, line in read_lines(path, result, tick):
            where = f"{path}:{no}"
            try:
                rec = record_from_json(json_object(line))
                check_not_future("ts", rec.ts)   # the rules would refuse its push
                # a team `init` would refuse is one no report or rule can ever see
                check_name("team", rec.team)
            except (ValueError, TypeError, TeamcostError) as exc:
                result.add_bad(where, why_bad(exc))
                continue
            sink.add(rec, where)
        sink.flush()
    return result


def _check_jsonl_head(path: Path) -> None:
    """Refuse a file that is plainly not JSON Lines (a SQLite db, a CSV) before reading it."""
    why = not_json_lines(path)
    if why is not None:
        raise InvalidValue("FILE", str(path), "a teamcost JSON Lines export (one JSON call "
                                              f"record a line); {why}")

"""Run the FinOps Foundation's focus-validator (PyPI ``focus-validator`` 2.2.1) on a file.

``make focus-validator`` installs it into ``.focus-validator/`` (Python 3.12, numpy<2 so
pyarrow<18). Its quirks, handled here:

- it opens its bundled ``focus_validator/rules/currency_codes.csv`` relative to the working
  directory, so it runs from its package's parent folder;
- ``--block-download --validate-version 1.2`` validates offline against its bundled rules;
- it exits 0 even when rules fail, so the result is read from its ``Total: … | Pass: … |
  Fail: …`` line and the per-rule lines;
- it reports both branches of an either-or rule: InvoiceId-C-003-C is "C-004 (InvoiceId is
  null) OR C-005 (InvoiceId is not null)", and whichever branch the data takes, the other
  is listed as FAIL while C-003 passes. ``Result.failed`` leaves out such a branch of a
  passed OR rule (read from the validator's own rule model), and nothing else.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("TEAMCOST_FOCUS_VALIDATOR_VENV", ROOT / ".focus-validator"))
EXE = VENV / "bin" / "focus-validator"
# what teamcost's rows support: usage in tokens, unit prices from public price lists,
# the team as a sub account, tags
CRITERIA = ("USAGE_MEASUREMENT_SUPPORTED,UNIT_PRICING_SUPPORTED,PUBLIC_PRICE_LIST_SUPPORTED,"
            "SUB_ACCOUNT_SUPPORTED,TAGGING_SUPPORTED")
_TOTAL = re.compile(r"Total: (\d+) \| Pass: (\d+) \| Fail: (\d+) \| Skipped: (\d+)")
_RULE = re.compile(r"^\S+ (\S+): (PASS|FAIL|SKIPPED)\b", re.MULTILINE)


@dataclass
class Result:
    total: int
    passed: int
    fail_count: int
    skipped: int
    statuses: dict[str, str]
    excused: list[str] = field(default_factory=list)
    output: str = ""

    @property
    def failed(self) -> list[str]:
        return sorted(r for r, s in self.statuses.items()
                      if s == "FAIL" and r not in self.excused)


def require_validator() -> Path:
    if not EXE.exists():
        pytest.skip("focus-validator is not installed: make focus-validator")
    return EXE


@cache
def package_parent() -> Path:
    out = subprocess.run([str(VENV / "bin" / "python"), "-c",
                          "import focus_validator, os; "
                          "print(os.path.dirname(os.path.dirname(focus_validator.__file__)))"],
                         capture_output=True, text=True, check=True, timeout=120)
    return Path(out.stdout.strip())


@cache
def or_branches() -> dict[str, set[str]]:
    """rule -> the rules it is the OR of (from the validator's bundled 1.2 model)."""
    models = sorted((package_parent() / "focus_validator" / "rules").glob("model-1.2*.json"))
    rules = json.loads(models[-1].read_text())["ModelRules"]
    out: dict[str, set[str]] = {}
    for rid, rule in rules.items():
        req = rule.get("ValidationCriteria", {}).get("Requirement", {})
        if req.get("CheckFunction") == "OR":
            kids = {i["ModelRuleId"] for i in req.get("Items", [])
                    if i.get("CheckFunction") == "CheckModelRule"}
            if kids:
                out[rid] = kids
    return out


# a team with seats: each seat is a commitment (a recurring purchase amortized into the
# plan usage it covers), so the rules of commitment discounts and of more than one pricing
# category apply too
SEAT_CRITERIA = CRITERIA + ",COMMITMENT_DISCOUNT_SUPPORTED,MULTIPLE_PRICING_CATEGORIES_SUPPORTED"


def validate(path: Path, timeout: float = 600, criteria: str = CRITERIA) -> Result:
    exe = require_validator()
    fmt = "parquet" if path.suffix == ".parquet" else "csv"
    proc = subprocess.run(
        [str(exe), "--data-file", str(path), "--data-format", fmt, "--block-download",
         "--validate-version", "1.2", "--applicability-criteria", criteria,
         "--show-violations"],
        cwd=package_parent(), capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    text = proc.stdout + proc.stderr
    m = _TOTAL.search(text)
    assert m, f"no 'Total: ... | Fail: ...' line from focus-validator:\n{text[-3000:]}"
    statuses = dict(_RULE.findall(text))
    excused = sorted(
        kid for parent, kids in or_branches().items() if statuses.get(parent) == "PASS"
        for kid in kids if statuses.get(kid) == "FAIL")
    total, passed, fail_count, skipped = map(int, m.groups())
    return Result(total, passed, fail_count, skipped, statuses, excused, text)

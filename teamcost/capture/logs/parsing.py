"""Small parsing helpers the log readers share: JSON lines, counts, times, call ids."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

from teamcost.capture.logs.base import json_object
from teamcost.errors import InvalidValue

__all__ = ["BadLine", "call_id", "count", "json_object", "project_of", "timestamp"]

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]+$")
MAX_CALL_ID = 128


@dataclass(frozen=True)
class BadLine:
    """A part of a log that could not be read: ``where`` (file:line) and why."""

    where: str
    why: str


def count(data: dict[str, Any], key: str, field: str) -> int:
    """A token count: a non-negative integer, 0 when absent or null."""
    v = data.get(key)
    if v is None:
        return 0
    if type(v) is not int or v < 0:
        raise InvalidValue(field, v, "a non-negative integer")
    return v


def timestamp(value: Any, field: str) -> datetime:
    """An ISO-8601 time as the logs write it (``...Z``); a time without zone is UTC."""
    if isinstance(value, str) and value.strip():
        try:
            ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    raise InvalidValue(field, value, "an ISO-8601 timestamp")


def call_id(prefix: str, session: str, *identity: object) -> str:
    """``<prefix>-<session>-<digest of identity>``: deterministic, at most 128 characters,
    no '/' or whitespace; a session id that is not plain letters/digits/-_. is hashed in."""
    digest = hashlib.sha256("\x00".join(map(str, identity)).encode()).hexdigest()[:20]
    if _SAFE_ID.match(session) and len(prefix) + len(session) + len(digest) + 2 <= MAX_CALL_ID:
        return f"{prefix}-{session}-{digest}"
    whole = hashlib.sha256("\x00".join(map(str, (session, *identity))).encode()).hexdigest()
    return f"{prefix}-{whole[:40]}"


def project_of(cwd: Any) -> str | None:
    """The project tag: the working directory's last component (as the log wrote it)."""
    if not isinstance(cwd, str) or not cwd.strip():
        return None
    path = cwd.strip().rstrip("/\\")
    name = PurePath(path.replace("\\", "/")).name or path
    return name[:256]

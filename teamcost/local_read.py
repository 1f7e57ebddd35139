"""Read-only answers from this machine's files for commands that run on every keystroke.

``teamcost statusline`` runs after every Claude Code message, so it must not import
``config`` (pricing data, subprocess, dataclasses) or ``ledger`` (the call-record model):
those cost more than the whole line may take. This module needs only the standard library
and ``errors``: where TEAMCOST_HOME and the ledger are, and one session's spend, without
creating, migrating or locking anything. ``config.default_home`` is the one here;
``ledger_file`` agrees with ``load_config(home).ledger_file`` and ``session_totals`` reads
the ledger's ``calls`` table (tests/unit/test_local_read.py checks both against them).
"""

from __future__ import annotations

import os
import sys

from teamcost.errors import ConfigError, LedgerError

# paths are strings inside (``home_dir``, ``ledger_path``): importing pathlib costs the
# status line more than everything else it imports together; the Path functions wrap them
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

CONFIG_FILE = "config.toml"
LEDGER_FILE = "ledger.db"


def default_home(env: Mapping[str, str] | None = None) -> Path:
    """TEAMCOST_HOME, else the platform's per-user data directory for teamcost."""
    from pathlib import Path

    return Path(home_dir(env))


def home_dir(env: Mapping[str, str] | None = None) -> str:
    """``default_home`` as a string."""
    env = os.environ if env is None else env
    value = env.get("TEAMCOST_HOME")
    if value:
        return os.path.expanduser(value)
    data_home = _unix_data_home()
    if data_home is not None:
        return os.path.join(data_home, "teamcost")
    import platformdirs  # only here: importing it costs more than the rest of the status line

    return str(platformdirs.user_data_dir("teamcost", appauthor=False))


# where platformdirs does not use its Unix class; Android it recognises by sys or by
# ANDROID_DATA=/data plus ANDROID_ROOT=/system (either of those sends us to platformdirs)
_NOT_UNIX = ("win32", "darwin", "ios")


def _unix_data_home() -> str | None:
    """The base of ``platformdirs.user_data_dir`` (``$XDG_DATA_HOME`` or ``~/.local/share``)
    where platformdirs uses its Unix class and the answer is plain, else None: the caller
    then asks platformdirs itself (importing it costs the status line 15-20 ms: pathlib,
    tempfile, shutil...). Plain means what platformdirs 4's ``unix.py``/``_xdg.py`` do:
    ``XDG_DATA_HOME`` counts only when it is an absolute path (unset, empty, blank or
    relative fall through), then ``~`` is ``HOME`` when that is absolute. Everything else
    (a relative or empty HOME, no HOME at all: platformdirs reads the password database
    and may raise) and every other platform goes to platformdirs. Like platformdirs, it
    reads ``os.environ``, not the ``env`` the caller passed for TEAMCOST_HOME.
    tests/unit/test_local_read.py checks it against platformdirs over generated envs."""
    env = os.environ
    if (sys.platform in _NOT_UNIX or hasattr(sys, "getandroidapilevel")
            or env.get("ANDROID_DATA") == "/data" or env.get("ANDROID_ROOT") == "/system"):
        return None
    xdg = env.get("XDG_DATA_HOME", "")
    if xdg.startswith("/"):          # posixpath.isabs
        return xdg
    home = env.get("HOME")
    if home is None or not home.startswith("/"):
        return None
    return os.path.expanduser("~/.local/share")   # HOME, its trailing slashes stripped


def ledger_file(home: Path | str, env: Mapping[str, str] | None = None) -> Path:
    """The ledger the config in ``home`` names: TEAMCOST_LEDGER, then the config file's
    ``ledger_path``, then ``home/ledger.db``. Reads nothing else of the config."""
    from pathlib import Path

    return Path(ledger_path(home, env))


def ledger_path(home: Path | str, env: Mapping[str, str] | None = None, *,
                quick: bool = False) -> str:
    """``ledger_file`` as a string. ``quick`` (the status line): a config file whose bytes
    cannot name ``ledger_path`` (no such text, no \\u escape that could spell it) is not
    parsed, so it is not checked either (tomllib imports typing and re: a tenth of the
    line's time)."""
    env = os.environ if env is None else env
    raw = env.get("TEAMCOST_LEDGER")
    if not raw:
        path = os.path.join(os.fspath(home), CONFIG_FILE)
        try:
            with open(path, "rb") as fh:
                text = fh.read()
        except FileNotFoundError:
            text = None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
        if text is not None and quick and not _may_name_ledger_path(text):
            text = None
        raw = None if text is None else _ledger_path(path, text)
        if raw is not None and not isinstance(raw, str):
            raise ConfigError(f"ledger_path in {path} must be a path (a string), not {raw!r}")
    return os.path.expanduser(raw) if raw else os.path.join(os.fspath(home), LEDGER_FILE)


def _may_name_ledger_path(text: bytes) -> bool:
    return b"ledger_path" in text or b"\\u" in text or b"\\U" in text


def _ledger_path(path: str, text: bytes) -> Any:
    """The config file's ``ledger_path`` (None when unset); tomllib loads only when there is
    a file (a few ms of the status line's budget)."""
    import tomllib

    try:
        return tomllib.loads(text.decode()).get("ledger_path")
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None


# searched in the ledger's covering index calls_session (session_id, cost_nanos): the same
# few pages however many calls the ledger holds (tests/unit/test_local_read.py checks it)
SESSION_TOTALS_SQL = ("SELECT count(*), coalesce(sum(cost_nanos), 0) FROM calls "
                      "WHERE session_id = ?")


def session_totals(ledger: Path | str, session_id: str) -> tuple[int, int]:
    """(calls, cost_nanos) of one session in the ledger file, read-only: a missing ledger is
    (0, 0), nothing is created or migrated. The timeout is short: in WAL mode a reader does
    not wait for the writer, so only a checkpoint or recovery could hold it up."""
    if not os.path.isfile(ledger):
        return 0, 0
    # here: the line run by hand, with no session, has nothing to sum; and the C module,
    # not sqlite3's Python layer (its date adapters import datetime: compat/sqlite_c.py)
    from teamcost.compat.sqlite_c import sqlite_module

    sqlite3 = sqlite_module()

    try:
        conn = sqlite3.connect(f"{_file_uri(ledger)}?mode=ro", uri=True, timeout=0.5)
        try:
            n, nanos = conn.execute(SESSION_TOTALS_SQL, (session_id,)).fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        why = "the file is not a SQLite database" if "not a database" in str(exc) else str(exc)
        raise LedgerError(f"cannot read ledger {ledger}: {why}") from None
    return int(n), int(nanos)


_URI_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~/")


def _file_uri(path: Path | str) -> str:
    """``Path(path).resolve().as_uri()`` without pathlib: the real absolute path, each byte
    outside letters, digits and ``_.-~/`` percent-encoded (urllib's quote_from_bytes)."""
    real = os.fsencode(os.path.realpath(path))
    return "file://" + "".join(chr(b) if b in _URI_SAFE else f"%{b:02X}" for b in real)


def claude_telemetry_note(home: Path) -> str | None:
    """What this machine's agent last said it cannot count because Claude Code's telemetry
    is off (its status snapshot's ``claude_code_telemetry.note``), or None: no agent
    snapshot, telemetry on, or a snapshot that cannot be read (the agent's status command
    reports that)."""
    import json
    try:
        data = json.loads((home / "agent-status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    tele = data.get("claude_code_telemetry") if isinstance(data, dict) else None
    note = tele.get("note") if isinstance(tele, dict) else None
    return note if isinstance(note, str) and note else None

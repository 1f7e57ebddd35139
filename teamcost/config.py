"""Configuration: TEAMCOST_HOME, a TOML config file, and environment overrides.

Precedence (highest first): environment, config file, defaults. Loading never
writes anything; ``write_config`` (``teamcost init``) does, atomically.
"""

from __future__ import annotations

import getpass
import os
import re
import subprocess
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomli_w

from teamcost.errors import ConfigError, InvalidValue

# defined where the status line can read them without loading all of this module
from teamcost.local_read import CONFIG_FILE as CONFIG_FILE
from teamcost.local_read import LEDGER_FILE as LEDGER_FILE
from teamcost.local_read import default_home as default_home
from teamcost.pricing import PriceOverride

CACHE_FILE = "team-cache.db"
DEFAULT_TEAM = "default"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+\-]{0,127}$")
_PROJECT_RE = re.compile(r"^[a-z][a-z0-9\-]{4,61}[a-z0-9]$|^demo-[a-z0-9\-]+$")
# [reconcile] holds provider admin keys; teamcost.reconcile reads it when it needs a key,
# so no Config (whose repr may reach a log) ever carries one
_KNOWN_KEYS = {"team", "member", "project", "timezone", "ledger_path", "emulator_host",
               "price_overrides", "budget", "auth", "reconcile"}
_BUDGET_KEYS = {"guard_ttl_s", "fail_closed", "webhook_url", "slack_webhook_url",
                "milestone_usd"}


@dataclass(frozen=True)
class BudgetSettings:
    guard_ttl_s: float = 30.0
    fail_closed: bool = False
    webhook_url: str | None = None
    slack_webhook_url: str | None = None
    milestone_usd: float | None = None


@dataclass(frozen=True)
class Config:
    home: Path
    team: str = DEFAULT_TEAM
    member: str = "unknown"
    project: str | None = None          # Firestore project id; None = local ledger only
    timezone: str = "UTC"
    ledger_path: Path | None = None     # default: home / ledger.db
    emulator_host: str | None = None    # host:port of a Firestore emulator
    price_overrides: tuple[PriceOverride, ...] = ()
    budget: BudgetSettings = field(default_factory=BudgetSettings)
    auth: Mapping[str, Any] = field(default_factory=dict)  # member sign-in settings

    @property
    def ledger_file(self) -> Path:
        return self.ledger_path or (self.home / LEDGER_FILE)

    @property
    def cache_file(self) -> Path:
        return self.home / CACHE_FILE

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def has_firestore(self) -> bool:
        return self.project is not None

    def with_(self, **changes: Any) -> Config:
        return replace(self, **changes)


_member_cache: str | None = None


def default_member() -> str:
    """git's user.email, else the OS user (computed once per process: git is slow)."""
    global _member_cache
    if _member_cache is None:
        email = ""
        try:
            email = subprocess.run(["git", "config", "--get", "user.email"], capture_output=True,
                                   text=True, timeout=2).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
        if not email:
            try:
                email = getpass.getuser()
            except Exception:  # no user name in some containers
                email = "unknown"
        _member_cache = email
    return _member_cache


def check_name(field_name: str, value: Any) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise InvalidValue(field_name, value, "1-128 letters, digits or _ . @ + - "
                           "(starting with a letter or digit)")
    return value


def check_timezone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidValue("timezone", value, "an IANA zone name such as UTC, "
                           "Europe/Berlin or America/Los_Angeles") from None
    return str(value)


def check_project(value: Any) -> str:
    if not isinstance(value, str) or not _PROJECT_RE.match(value):
        raise InvalidValue("project", value, "a Google Cloud project id: 6-30 lowercase letters, "
                           "digits or hyphens, starting with a letter (or demo-...)")
    return value


def read_config_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except PermissionError:
        raise ConfigError(f"cannot read config file {path}: permission denied") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory, expected a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    unknown = set(data) - _KNOWN_KEYS
    if unknown:
        raise ConfigError(f"config file {path} has unknown keys {sorted(unknown)}; accepted: "
                          f"{', '.join(sorted(_KNOWN_KEYS))}")
    return data


def load_config(home: Path | str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Defaults < config file < environment. Raises ConfigError/InvalidValue naming the value."""
    env = os.environ if env is None else env
    home_path = Path(home).expanduser() if home is not None else default_home()
    data = read_config_file(home_path / CONFIG_FILE)
    where = str(home_path / CONFIG_FILE)

    def pick(key: str, env_key: str | None) -> Any:
        if env_key and env.get(env_key):
            return env[env_key]
        return data.get(key)

    try:
        team = check_name("team", pick("team", "TEAMCOST_TEAM") or DEFAULT_TEAM)
        member_raw = pick("member", "TEAMCOST_MEMBER")
        member = check_name("member", member_raw) if member_raw else default_member()
        project_raw = pick("project", "TEAMCOST_PROJECT")
        project = check_project(project_raw) if project_raw else None
        tz = check_timezone(pick("timezone", "TEAMCOST_TZ") or "UTC")
    except InvalidValue as exc:
        raise ConfigError(f"{exc} (from the environment or {where})") from None
    ledger_raw = pick("ledger_path", "TEAMCOST_LEDGER")
    emulator = pick("emulator_host", "FIRESTORE_EMULATOR_HOST")
    overrides_raw = data.get("price_overrides", [])
    if not isinstance(overrides_raw, list):
        raise ConfigError(f"price_overrides in {where} must be an array of tables "
                          "([[price_overrides]])")
    overrides = tuple(PriceOverride.from_mapping(o) for o in overrides_raw)
    budget_raw = data.get("budget", {})
    if not isinstance(budget_raw, dict) or set(budget_raw) - _BUDGET_KEYS:
        raise ConfigError(f"[budget] in {where} accepts only {', '.join(sorted(_BUDGET_KEYS))}")
    budget = BudgetSettings(**budget_raw)
    if env.get("TEAMCOST_FAIL_CLOSED"):
        budget = replace(budget, fail_closed=env["TEAMCOST_FAIL_CLOSED"].lower() in
                         ("1", "true", "yes"))
    auth = data.get("auth", {})
    return Config(home=home_path, team=team, member=member, project=project, timezone=tz,
                  ledger_path=Path(ledger_raw).expanduser() if ledger_raw else None,
                  emulator_host=emulator or None, price_overrides=overrides, budget=budget,
                  auth=auth if isinstance(auth, dict) else {})


def check_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The given (non-None) config values, validated; InvalidValue names a bad one."""
    checks = {"team": lambda v: check_name("team", v), "member": lambda v: check_name("member", v),
              "project": check_project, "timezone": check_timezone}
    return {k: checks[k](v) if k in checks else v for k, v in values.items() if v is not None}


def write_config(home: Path, values: Mapping[str, Any]) -> Path:
    """Merge ``values`` into the config file (validated first) and write it atomically."""
    path = home / CONFIG_FILE
    clean = check_values(values)
    data = read_config_file(path)
    data.update(clean)
    try:
        home.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=home, prefix=".config-", suffix=".toml")
        with os.fdopen(fd, "wb") as fh:
            tomli_w.dump(data, fh)
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write config file {path}: {exc.strerror or exc}") from None
    load_config(home, env={})  # proves what we wrote loads back
    return path

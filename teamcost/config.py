"""Configuration: TEAMCOST_HOME, a TOML config file, and environment overrides.

Precedence (highest first): environment, config file, defaults. Loading never
writes anything; ``write_config`` (``teamcost init``) does, atomically.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from teamcost.errors import ConfigError, InvalidValue

# defined where the status line can read them without loading all of this module
from teamcost.local_read import CONFIG_FILE as CONFIG_FILE
from teamcost.local_read import LEDGER_FILE as LEDGER_FILE
from teamcost.local_read import default_home as default_home
from teamcost.money import NANOS_PER_USD, usd_to_nanos
from teamcost.periods import zone

# pricing, the TOML reader and writer, tempfile and getpass load when a config needs them:
# every command loads a Config, and a report reads no price and often no config file
if TYPE_CHECKING:
    from teamcost.pricing import PriceOverride

CACHE_FILE = "team-cache.db"
DEFAULT_TEAM = "default"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+\-]{0,127}$")
_PROJECT_RE = re.compile(r"^[a-z][a-z0-9\-]{4,61}[a-z0-9]$|^demo-[a-z0-9\-]+$")
# [reconcile] holds provider admin keys; teamcost.reconcile reads it when it needs a key,
# so no Config (whose repr may reach a log) ever carries one
_KNOWN_KEYS = {"team", "member", "project", "timezone", "ledger_path", "emulator_host",
               "price_overrides", "budget", "auth", "reconcile", "ticket_pattern",
               "member_aliases"}
# the Jira-style key in a branch name; attribution.ISSUE_NUMBER_PATTERN adds "#123"
DEFAULT_TICKET_PATTERN = r"[A-Z][A-Z0-9]+-[0-9]+"
MAX_TICKET_PATTERN_LEN = 200
_BUDGET_KEYS = {"guard_ttl_s", "fail_closed", "webhook_url", "slack_webhook_url",
                "milestone_usd"}
_AUTH_KEYS = {"api_key"}
MAX_GUARD_TTL_S = 86_400.0
MAX_MILESTONE_USD = 1_000_000_000
_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
                          r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*$")


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
    ticket_pattern: str = DEFAULT_TICKET_PATTERN   # a regex finding a ticket in a branch

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
            import getpass

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


def check_ticket_pattern(value: Any) -> str:
    """A regular expression (Python syntax) whose match in a branch name is the ticket."""
    accepted = (f"a regular expression of 1 to {MAX_TICKET_PATTERN_LEN} characters, e.g. "
                f"{DEFAULT_TICKET_PATTERN!r} (add '|#[0-9]+' for #123 issue numbers)")
    if not isinstance(value, str) or not value or len(value) > MAX_TICKET_PATTERN_LEN:
        raise InvalidValue("ticket_pattern", value, accepted)
    try:
        re.compile(value)
    except re.error as exc:
        raise InvalidValue("ticket_pattern", value, f"{accepted}; this one: {exc}") from None
    return value


def check_timezone(value: Any) -> str:
    zone(value)  # the one check of a zone name (teamcost.periods)
    return str(value)


def check_project(value: Any) -> str:
    if not isinstance(value, str) or not _PROJECT_RE.match(value):
        raise InvalidValue("project", value, "a Google Cloud project id: 6-30 lowercase letters, "
                           "digits or hyphens, starting with a letter (or demo-...)")
    return value


def check_emulator_host(value: Any) -> str:
    """host:port of a Firestore emulator: a host name, an IPv4 address or [IPv6], and a
    port from 1 to 65535 (a port beyond it would wrap to another one)."""
    accepted = "host:port such as 127.0.0.1:8080, localhost:8080 or [::1]:8080"
    if not isinstance(value, str):
        raise InvalidValue("emulator_host", value, accepted)
    host, sep, port = value.rpartition(":")
    if not sep or not re.fullmatch(r"[0-9]{1,5}", port) or not 1 <= int(port) <= 65535:
        raise InvalidValue("emulator_host", value, accepted + " (a port from 1 to 65535)")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise InvalidValue("emulator_host", value, accepted) from None
    elif not _HOSTNAME_RE.match(host):
        raise InvalidValue("emulator_host", value, accepted)
    return value


def _number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def check_budget_settings(raw: Any) -> BudgetSettings:
    """The ``[budget]`` table, every key type- and range-checked (the guard runs inside the
    user's LLM calls: a bad value must fail here, at load, naming itself)."""
    if not isinstance(raw, dict):
        raise InvalidValue("budget", raw, "a table ([budget]) of "
                           + ", ".join(sorted(_BUDGET_KEYS)))
    unknown = sorted(set(raw) - _BUDGET_KEYS)
    if unknown:
        raise InvalidValue("budget", unknown[0], "one of " + ", ".join(sorted(_BUDGET_KEYS)))
    ttl = raw.get("guard_ttl_s", BudgetSettings.guard_ttl_s)
    if not _number(ttl) or not 0 <= ttl <= MAX_GUARD_TTL_S:
        raise InvalidValue("budget.guard_ttl_s", ttl,
                           f"a number of seconds from 0 to {MAX_GUARD_TTL_S:g}, such as 30")
    fail_closed = raw.get("fail_closed", False)
    if not isinstance(fail_closed, bool):
        raise InvalidValue("budget.fail_closed", fail_closed, "true or false")
    urls: dict[str, str | None] = {}
    for key in ("webhook_url", "slack_webhook_url"):
        url = raw.get(key)
        if url is not None and (not isinstance(url, str)
                                or not re.match(r"^https?://[^\s/]+", url)):
            raise InvalidValue(f"budget.{key}", url, "an http:// or https:// URL")
        urls[key] = url
    milestone = raw.get("milestone_usd")
    if isinstance(milestone, str):  # a TOML number, as the other [budget] values
        raise InvalidValue("budget.milestone_usd", milestone,
                           "a positive number of dollars, such as 100")
    milestone_nanos = None if milestone is None else usd_to_nanos(
        milestone, "budget.milestone_usd", allow_zero=False,
        maximum=MAX_MILESTONE_USD * NANOS_PER_USD)
    return BudgetSettings(guard_ttl_s=float(ttl), fail_closed=fail_closed,
                          webhook_url=urls["webhook_url"],
                          slack_webhook_url=urls["slack_webhook_url"],
                          milestone_usd=None if milestone_nanos is None
                          else milestone_nanos / NANOS_PER_USD)


def _check_auth(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidValue("auth", raw, "a table ([auth]) with api_key")
    unknown = sorted(set(raw) - _AUTH_KEYS)
    if unknown:
        raise InvalidValue("auth", unknown[0], "one of " + ", ".join(sorted(_AUTH_KEYS)))
    key = raw.get("api_key")
    if key is not None and (not isinstance(key, str) or not key.strip()):
        raise InvalidValue("auth.api_key", key, "the Firebase Web API key (a string)")
    return dict(raw)


def _check_overrides(raw: Any) -> tuple[PriceOverride, ...]:
    if not isinstance(raw, list) or not all(isinstance(o, dict) for o in raw):
        raise InvalidValue("price_overrides", raw, "an array of tables ([[price_overrides]]) "
                           "with pattern, input, output, cache_read, cache_write")
    for o in raw:
        if "pattern" in o and (not isinstance(o["pattern"], str) or not o["pattern"]):
            raise InvalidValue("price_overrides.pattern", o["pattern"],
                               "a model name or glob such as 'gpt-4o*'")
    if not raw:
        return ()
    from teamcost.pricing import PriceOverride

    return tuple(PriceOverride.from_mapping(o) for o in raw)


def _check_ledger_path(value: Any) -> Path | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or "\0" in value:
        raise InvalidValue("ledger_path", value, "a file path such as ~/teamcost/ledger.db")
    return Path(value).expanduser()


def check_home(home: Path) -> Path:
    """TEAMCOST_HOME must be a directory (or not exist yet): a file there would otherwise
    read as an empty home and report "no calls"."""
    try:
        st = home.stat()
    except FileNotFoundError:
        return home
    except NotADirectoryError:
        raise ConfigError(f"TEAMCOST_HOME {home} is inside a file, not a directory; "
                          "point TEAMCOST_HOME at a directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot use TEAMCOST_HOME {home}: "
                          f"{exc.strerror or exc}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"TEAMCOST_HOME {home} is a file, not a directory; point "
                          "TEAMCOST_HOME at a directory (teamcost creates it if missing)")
    return home


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        if not path.exists():
            return {}
    except OSError as exc:  # a name too long, a loop of links
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    import tomllib

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
    home_path = check_home(Path(home).expanduser() if home is not None else default_home())
    data = read_config_file(home_path / CONFIG_FILE)
    where = str(home_path / CONFIG_FILE)

    env_names: dict[str, str] = {}   # key -> the variable it came from, for messages

    def pick(key: str, env_key: str | None) -> Any:
        if env_key and env.get(env_key):
            env_names[key] = env_key
            return env[env_key]
        return data.get(key)

    try:
        team = check_name("team", pick("team", "TEAMCOST_TEAM") or DEFAULT_TEAM)
        member_raw = pick("member", "TEAMCOST_MEMBER")
        member = check_name("member", member_raw) if member_raw else default_member()
        project_raw = pick("project", "TEAMCOST_PROJECT")
        project = check_project(project_raw) if project_raw else None
        tz = check_timezone(pick("timezone", "TEAMCOST_TZ") or "UTC")
        ledger_path = _check_ledger_path(pick("ledger_path", "TEAMCOST_LEDGER"))
        emulator_raw = pick("emulator_host", "FIRESTORE_EMULATOR_HOST")
        emulator = check_emulator_host(emulator_raw) if emulator_raw else None
        overrides = _check_overrides(data.get("price_overrides", []))
        budget = check_budget_settings(data.get("budget", {}))
        auth = _check_auth(data.get("auth", {}))
        pattern_raw = pick("ticket_pattern", "TEAMCOST_TICKET_PATTERN")
        ticket_pattern = (check_ticket_pattern(pattern_raw) if pattern_raw is not None
                          else DEFAULT_TICKET_PATTERN)
    except InvalidValue as exc:
        source = env_names.get(exc.field)
        origin = f"the environment variable {source}" if source else where
        raise ConfigError(f"{exc} (from {origin})") from None
    if env.get("TEAMCOST_FAIL_CLOSED"):
        budget = replace(budget, fail_closed=env["TEAMCOST_FAIL_CLOSED"].lower() in
                         ("1", "true", "yes"))
    return Config(home=home_path, team=team, member=member, project=project, timezone=tz,
                  ledger_path=ledger_path, emulator_host=emulator,
                  price_overrides=overrides, budget=budget, auth=auth,
                  ticket_pattern=ticket_pattern)


def check_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The given (non-None) config values, validated; InvalidValue names a bad one."""
    checks = {"team": lambda v: check_name("team", v), "member": lambda v: check_name("member", v),
              "project": check_project, "timezone": check_timezone,
              "emulator_host": check_emulator_host, "ticket_pattern": check_ticket_pattern}
    return {k: checks[k](v) if k in checks else v for k, v in values.items() if v is not None}


def write_config(home: Path, values: Mapping[str, Any]) -> Path:
    """Merge ``values`` into the config file (validated first) and write it atomically."""
    path = home / CONFIG_FILE
    clean = check_values(values)
    data = read_config_file(path)
    data.update(clean)
    import tempfile

    import tomli_w

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

"""Admin APIs over HTTP (providers' usage/cost reports, Cursor's and GitHub's team usage):
the admin key, GET/POST with bounded retries, paging.

The key is held by ``AdminKey``, whose ``repr``/``str`` never show it; it goes into one
request header and nowhere else. Every message built from a provider's answer passes
through ``AdminKey.scrub`` (OpenAI echoes a masked key in its 401 message).
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from teamcost.errors import ConfigError, ProviderAPIError

USER_AGENT = "teamcost-reconcile/0.1 (+https://github.com/teamcost/teamcost)"
_KEY_CHARS = re.compile(r"^[\x21-\x7e]+$")   # printable ASCII without spaces: one header value
# any key-shaped token, masked or not: OpenAI/Anthropic (sk-), Cursor (key_), GitHub
# (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_)
_KEYLIKE = re.compile(r"\b(sk-|key_|gh[pousr]_|github_pat_)[\w\-*.]+")
MAX_PAGES = 1000            # a cursor that never ends is a server bug, not a long month


class AdminKey:
    """A provider admin key and where it came from (``ANTHROPIC_ADMIN_API_KEY``,
    ``[reconcile] openai_admin_key in config.toml``); shows only the latter."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        value = value.strip()
        if not value:
            raise ConfigError(f"{source} is empty; set it to the provider's admin key")
        if not _KEY_CHARS.match(value):
            # the value itself is never shown: it is (nearly) a secret
            raise ConfigError(f"{source} holds spaces, line breaks or non-ASCII characters; "
                              "expected the admin key alone, as the provider's console shows it")
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    def scrub(self, text: str) -> str:
        """``text`` without this key, and with anything key-shaped masked."""
        text = text.replace(self._value, "[admin key]")
        return _KEYLIKE.sub(lambda m: m.group(1) + "...", text)

    def __repr__(self) -> str:
        return f"AdminKey(from {self.source})"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # a pickled key would be a stored key
        raise TypeError("an admin key is not serialisable")


def check_base_url(value: str, source: str) -> str:
    """An http(s) root without a trailing slash; credentials in it are refused."""
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018  (raises ValueError for a port out of range or not a number)
        hostname = parts.hostname
    except ValueError:  # "http://[::1": an unclosed IPv6 literal
        hostname = None
    if hostname is None or parts.scheme not in ("http", "https"):
        raise ConfigError(f"{source} must be an http:// or https:// URL such as "
                          f"https://api.example.com; got {_no_userinfo(value)!r}")
    if parts.username or parts.password:
        raise ConfigError(f"{source} carries credentials; the admin key goes in its own "
                          "variable, not in the URL")
    return urlunsplit(parts._replace(path=parts.path.rstrip("/"))).rstrip("/")


def _no_userinfo(value: str) -> str:
    return re.sub(r"//[^/@]*@", "//", value)[:200]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5           # tries per page, so at most 4 waits
    base_s: float = 1.0         # without retry-after: 1, 2, 4, 8 s
    max_wait_s: float = 60.0    # a server asking for longer is reported, not waited for
    timeout_s: float = 60.0     # per request


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, ``retry-after`` in seconds or
    as an HTTP date; None when absent or unreadable."""
    ms = _seconds(headers.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def _seconds(text: str | None) -> float | None:
    """A finite non-negative number from a header; None when absent or unreadable ("NaN",
    "inf", "soon": time.sleep(NaN) raises, an infinite wait never ends)."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return max(value, 0.0) if math.isfinite(value) else None


def _json(resp: requests.Response, **kwargs: Any) -> Any:
    """The body as JSON; ValueError for anything else, a body nested too deep for the
    parser (RecursionError) included."""
    try:
        return resp.json(**kwargs)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None


def _error_detail(body: Any) -> tuple[str, str]:
    """(type, message) from an error body: Anthropic's and OpenAI's ``{"error": {...}}``,
    GitHub's ``{"message": ...}``, Cursor's ``{"error": "...", "message": ...}``."""
    if not isinstance(body, dict):
        return "", ""
    err = body.get("error")
    if isinstance(err, dict):
        kind = err.get("type") or err.get("code") or ""
        return str(kind), str(err.get("message") or "")
    message = body.get("message")
    return (str(err) if isinstance(err, str) else "",
            str(message) if isinstance(message, str) else "")


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass
class ApiStats:
    requests: int = 0
    retries: int = 0


class AdminApi:
    """GETs JSON from one provider's admin API, retrying rate limits and overloads."""

    RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

    def __init__(self, provider: str, base_url: str, key: AdminKey,
                 auth_headers: Callable[[str], dict[str, str]],
                 extra_headers: Mapping[str, str] | None = None,
                 policy: RetryPolicy = RetryPolicy(),
                 sleep: Callable[[float], None] = time.sleep,
                 session: requests.Session | None = None,
                 refused_hint: str = "the usage and cost reports need an organisation "
                                     "admin key") -> None:
        self.provider = provider
        self.refused_hint = refused_hint
        self.base_url = base_url
        self._key = key
        self._auth = auth_headers
        self._headers = {"accept": "application/json", "user-agent": USER_AGENT,
                         **(extra_headers or {})}
        self.policy = policy
        self._sleep = sleep
        self._session = session or requests.Session()
        self._session.trust_env = True   # proxies from the environment, as the SDKs do
        self.stats = ApiStats()

    def close(self) -> None:
        self._session.close()

    def get(self, path: str, params: Sequence[tuple[str, str]]) -> dict[str, Any]:
        return self.request("GET", path, params)

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a JSON body (Cursor's Admin API takes its filters so); retried like GET:
        the endpoints that use it only read."""
        return self.request("POST", path, (), body)

    def request(self, method: str, path: str, params: Sequence[tuple[str, str]],
                body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        url = self.base_url + path
        where = f"{self.provider} {path}"
        for attempt in range(1, self.policy.attempts + 1):
            self.stats.requests += 1
            try:
                resp = self._session.request(method, url, params=list(params),
                                             json=dict(body) if body is not None else None,
                                             headers={**self._headers,
                                                      **self._auth(self._key.reveal())},
                                             # a redirect would carry the key to another host
                                             timeout=self.policy.timeout_s,
                                             allow_redirects=False)
            except requests.RequestException as exc:
                # requests' messages carry the URL (no key: the key is a header), but keep
                # them short and scrubbed all the same
                reason = self._key.scrub(_one_line(str(exc), 160))
                if attempt < self.policy.attempts and isinstance(
                        exc, (requests.ConnectionError, requests.Timeout)):
                    self._wait(attempt, None)
                    continue
                raise ProviderAPIError(f"cannot reach {where} at {self.base_url}: "
                                       f"{type(exc).__name__}: {reason}") from None
            if resp.status_code == 200:
                try:
                    body = _json(resp, parse_float=Decimal)  # money read exactly, never a float
                except ValueError:
                    raise ProviderAPIError(f"{where} answered HTTP 200 with a body that is "
                                           "not JSON; is the base URL an API root?") from None
                if not isinstance(body, dict):
                    raise ProviderAPIError(f"{where} answered HTTP 200 with JSON that is not "
                                           "an object")
                return body
            kind, message = self._detail(resp)
            # GitHub's primary rate limit answers 403 (or 429) with x-ratelimit-remaining 0
            # and the reset time in x-ratelimit-reset (Unix seconds)
            limited = (resp.status_code == 403
                       and resp.headers.get("x-ratelimit-remaining") == "0")
            if ((resp.status_code in self.RETRY_STATUSES or limited)
                    and attempt < self.policy.attempts):
                wait = retry_after(resp.headers)
                if wait is None and limited:
                    reset = _seconds(resp.headers.get("x-ratelimit-reset"))
                    wait = max(reset - time.time(), 0.0) if reset is not None else None
                if wait is not None and wait > self.policy.max_wait_s:
                    raise ProviderAPIError(
                        f"{where}: HTTP {resp.status_code} {kind}, and the provider asks to "
                        f"wait {wait:.0f} s before trying again; run the command later")
                self._wait(attempt, wait)
                continue
            raise self._failure(where, resp.status_code, kind, message, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _detail(self, resp: requests.Response) -> tuple[str, str]:
        try:
            body = _json(resp)
        except ValueError:
            body = None
        kind, message = _error_detail(body)
        if not kind and not message:
            message = resp.reason or ""
        return (_one_line(self._key.scrub(kind), 60),
                _one_line(self._key.scrub(message)))

    def _failure(self, where: str, status: int, kind: str, message: str,
                 attempt: int) -> ProviderAPIError:
        detail = " ".join(p for p in (kind, message and f"({message})") if p)
        exc = self._failure_of(where, status, detail, attempt)
        exc.status = status   # type: ignore[attr-defined]  # callers tell 404 from others
        return exc

    def _failure_of(self, where: str, status: int, detail: str,
                    attempt: int) -> ProviderAPIError:
        if status in (401, 403):
            return ProviderAPIError(
                f"{where}: HTTP {status} {detail}; the key in {self._key.source} was refused: "
                f"{self.refused_hint}")
        if status in self.RETRY_STATUSES:
            return ProviderAPIError(f"{where}: HTTP {status} {detail} after {attempt} "
                                    "attempts; run the command again later")
        return ProviderAPIError(f"{where}: HTTP {status} {detail}".rstrip())

    def _wait(self, attempt: int, asked: float | None) -> None:
        self.stats.retries += 1
        self._sleep(asked if asked is not None
                    else min(self.policy.base_s * 2 ** (attempt - 1), self.policy.max_wait_s))

    def pages(self, path: str, params: Sequence[tuple[str, str]]) -> Iterator[dict[str, Any]]:
        """Every page of a ``has_more`` / ``next_page`` listing, in order."""
        seen: set[str] = set()
        page: str | None = None
        for _ in range(MAX_PAGES):
            body = self.get(path, [*params, *([("page", page)] if page else [])])
            yield body
            if not body.get("has_more"):
                return
            page = body.get("next_page")
            if not isinstance(page, str) or not page:
                raise ProviderAPIError(f"{self.provider} {path} said has_more without a "
                                       "next_page cursor")
            if page in seen:
                raise ProviderAPIError(f"{self.provider} {path} returned the same next_page "
                                       "cursor twice; stopping instead of looping")
            seen.add(page)
        raise ProviderAPIError(f"{self.provider} {path} was still paging after {MAX_PAGES} "
                               "pages; narrow --since/--until")

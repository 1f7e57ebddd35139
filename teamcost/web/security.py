"""Who may read the dashboard: loopback by default, a bearer token beyond it.

- Without a token the server listens on loopback only, and answers only requests
  addressed to a loopback name (the Host header), so a web page elsewhere cannot read
  the API through DNS rebinding.
- With a token every request carries it: ``Authorization: Bearer <token>``, or the
  cookie that ``/login?token=...`` sets (it holds an HMAC of the token, not the token).
  Comparisons are constant-time.
- Every response carries a strict Content-Security-Policy (no inline or remote script)
  and the usual no-sniff / no-frame / no-referrer headers.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
from collections.abc import Awaitable, Callable
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from teamcost.errors import InvalidValue

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'")
COOKIE = "teamcost_session"
MIN_TOKEN_LEN = 16
LOOPBACK_NAMES = ("localhost",)
TOKEN_ENV = "TEAMCOST_SERVE_TOKEN"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_loopback(host: str) -> bool:
    h = host.strip().strip("[]").lower()
    if h in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None) -> None:
    """Refuse a non-loopback address without a token, and a token too short to guess."""
    if token is not None and len(token) < MIN_TOKEN_LEN:
        # never echo a secret, not even a bad one
        raise InvalidValue("--token", f"<{len(token)} characters>",
                           f"at least {MIN_TOKEN_LEN} characters, e.g. from "
                           "python3 -c 'import secrets; print(secrets.token_urlsafe())'")
    if token is None and not is_loopback(host):
        raise InvalidValue("--host", host, "a loopback address (127.0.0.1, ::1, localhost), "
                           f"or also a --token (or {TOKEN_ENV}) so that only people "
                           "with it can read the dashboard")


def session_value(token: str) -> str:
    """What the login cookie holds: proves the token was given, without being it."""
    return hmac.new(token.encode(), b"teamcost-serve-session", hashlib.sha256).hexdigest()


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# RFC 9110 Host: uri-host [ ":" port ]; uri-host is a reg-name, an IPv4 address or an
# IP-literal in brackets. Nothing else (userinfo "@", paths, spaces) is a host.
_HOST_HEADER = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::[0-9]{1,5})?")


def _host_of(header: str) -> str:
    """The host a Host header names; "" for anything that is not a valid Host header
    (``localhost:80@evil.com`` is not localhost: a browser would not send it, and a
    lenient reading would let a crafted one through)."""
    m = _HOST_HEADER.fullmatch(header.strip())
    if m is None:
        return ""
    host = m.group(1)
    return host[1:-1] if host.startswith("[") else host


class Guard:
    """ASGI middleware: security headers on everything, then the access rule."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token
        self.session = session_value(token) if token else None

    def _headers(self, extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        have = {k.lower() for k, _ in extra}
        out = list(extra)
        for k, v in ((b"content-security-policy", CSP.encode()),
                     (b"x-content-type-options", b"nosniff"),
                     (b"x-frame-options", b"DENY"),
                     (b"referrer-policy", b"no-referrer"),
                     (b"cross-origin-opener-policy", b"same-origin"),
                     (b"cross-origin-resource-policy", b"same-origin")):
            if k not in have:
                out.append((k, v))
        return out

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secure(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": self._headers(list(message.get("headers", [])))}
            await send(message)

        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if self.token is None:
            if not is_loopback(_host_of(headers.get("host", ""))):
                await _deny(send_secure, 403, "this dashboard answers only on this machine "
                            "(a loopback address); share it with `teamcost serve --host ... "
                            "--token ...`", scope)
                return
            await self.app(scope, receive, send_secure)
            return
        if scope.get("path") == "/login":
            await self._login(scope, send_secure)
            return
        if self._carries_token(headers):
            await self.app(scope, receive, send_secure)
            return
        await _deny(send_secure, 401, "this dashboard needs its token: open /login?token=... "
                    "or send 'Authorization: Bearer ...'", scope)

    def _carries_token(self, headers: dict[str, str]) -> bool:
        assert self.token is not None and self.session is not None
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and _same(auth[7:].strip(), self.token):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except CookieError:  # a malformed cookie header is just no cookie
            return False
        morsel = cookie.get(COOKIE)
        return morsel is not None and _same(morsel.value, self.session)

    async def _login(self, scope: Scope, send: Send) -> None:
        assert self.token is not None and self.session is not None
        given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])
        if len(given) != 1 or not _same(given[0], self.token):
            await _deny(send, 401, "wrong or missing token", scope)
            return
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = (f"{COOKIE}={self.session}; Path=/; HttpOnly; SameSite=Strict{secure}")
        # 303 to "/": the token leaves the address bar (and the history entry is replaced)
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", b"/"), (b"set-cookie", cookie.encode()),
                                (b"cache-control", b"no-store"), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


async def _deny(send: Send, status: int, message: str, scope: Scope) -> None:
    path = str(scope.get("path", ""))
    if path.startswith("/api/") or path == "/openapi.json":
        body = json.dumps({"error": message}).encode()
        ctype = b"application/json"
    else:
        body = (f"<!DOCTYPE html><meta charset=utf-8><title>teamcost</title>"
                f"<p>{_html(message)}</p>").encode()
        ctype = b"text/html; charset=utf-8"
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store")]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="teamcost"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _html(text: str) -> str:
    import html
    return html.escape(text)

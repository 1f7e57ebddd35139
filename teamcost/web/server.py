"""Running the dashboard: check who could reach it, bind, run uvicorn until a signal.

The listening socket is bound here, before uvicorn starts, so "address in use" is one
clear error, ``--port 0`` picks a free port, and the URL printed is the real one.
Ctrl-C or SIGTERM stops the server cleanly (exit 0): open event streams end within a
second, then uvicorn finishes the requests in flight.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import threading
import webbrowser
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from teamcost.capture.http_server import LISTEN_BACKLOG
from teamcost.errors import TeamcostError
from teamcost.web.security import check_exposure

if TYPE_CHECKING:
    from teamcost.config import Config

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_PULL_EVERY_S = 30.0   # with pushes up to 31 s after a call, a 30 s refresh keeps p95 under 70 s


@dataclass(frozen=True)
class ServeOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    pull_every: float = 0.0          # seconds; 0 = no background pull
    open_browser: bool = False
    metrics_members: bool = False    # /metrics labels series by member too


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or one clear error."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise TeamcostError(f"cannot listen on {host}: {exc.strerror}") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)      # the same burst allowance as the OTLP receiver
        sock.set_inheritable(True)
    except OSError as exc:
        sock.close()
        hint = ("; pick another --port (0 picks a free one)"
                if exc.errno == errno.EADDRINUSE else "")
        raise TeamcostError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}"
                            ) from None
    return sock


def url_for(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def serve(config: Config, options: ServeOptions,
          announce: Callable[[str], None] = lambda url: None) -> None:
    """Serve the dashboard until SIGINT/SIGTERM. ``announce(url)`` is called once the
    socket listens (before the first request can be answered)."""
    import uvicorn

    from teamcost.web.app import create_app

    check_exposure(options.host, options.token)
    sock = bind(options.host, options.port)
    app = create_app(config, token=options.token, pull_every=options.pull_every,
                     metrics_members=options.metrics_members)
    dash = app.state.dashboard
    # proxy headers are believed from loopback only (uvicorn's forwarded_allow_ips):
    # an HTTPS reverse proxy on this machine makes the login cookie Secure
    ucfg = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                          proxy_headers=True, server_header=False,
                          timeout_graceful_shutdown=5)
    server = _make_server(ucfg, dash)
    url = url_for(options.host, sock)
    announce(url)
    if options.open_browser:
        target = url + (f"login?token={quote(options.token)}" if options.token else "")
        threading.Timer(0.3, webbrowser.open, [target]).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def _make_server(config: Any, dash: Any) -> Any:
    """A uvicorn.Server that ends event streams on a signal and does not re-raise it."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            dash.closing = True
            super().handle_exit(sig, frame)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            sigs = (signal.SIGINT, signal.SIGTERM)
            old = {s: signal.signal(s, self.handle_exit) for s in sigs}
            try:
                yield
            finally:  # a stop asked for is a clean exit, not a re-raised signal
                for s, h in old.items():
                    signal.signal(s, h)

    return Server(config)

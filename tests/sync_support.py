"""Helpers for sync system tests: configs, deterministic ledgers, server-side totals,
spies on the real gRPC API (they delegate; nothing is faked), and a TCP proxy."""

from __future__ import annotations

import random
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from teamcost.config import Config
from teamcost.ledger import Ledger
from teamcost.models import CallRecord
from teamcost.sync.mapping import COLLECTION

T0 = datetime(2026, 11, 16, 8, 0, tzinfo=timezone.utc)
MODELS = [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"), ("google", "gemini-2.5-flash")]


def config_for(home: Path, project: str, member: str = "ana@example.com",
               team: str = "core") -> Config:
    home.mkdir(parents=True, exist_ok=True)
    return Config(home=home, team=team, member=member, project=project)


def make_calls(n: int, member: str, ledger_id: str, team: str = "core", seed: int = 0,
               prefix: str | None = None) -> list[CallRecord]:
    """n deterministic calls with awkward exact costs (primes of nano-dollars)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        provider, model = MODELS[i % 3]
        out.append(CallRecord(
            call_id=f"{prefix or member.split('@')[0]}-{seed}-{i:06d}",
            ts=T0 + timedelta(seconds=37 * i, microseconds=rng.randrange(1_000_000)),
            team=team, member=member, ledger_id=ledger_id, provider=provider, model=model,
            input_tokens=rng.randrange(10_000), output_tokens=rng.randrange(2_000),
            cache_read_tokens=rng.randrange(3) * 1000, cache_write_tokens=0,
            cost_nanos=rng.randrange(1, 50_000_000) * 7 + 3, priced=True,
            price_source="test", session_id=f"s{i // 50}", agent=["planner", "coder"][i % 2],
            duration_s=round(rng.random() * 10, 3), tags={"i": str(i)}))
    return out


def fill(config: Config, n: int, seed: int = 0) -> tuple[Ledger, list[CallRecord]]:
    ledger = Ledger.for_config(config)
    calls = make_calls(n, config.member, ledger.ledger_id, config.team, seed)
    ledger.record_many(calls)
    return ledger, calls


def server_totals(client: Any, team: str = "core") -> tuple[int, int]:
    """(documents, sum(cost_nanos)) computed by Firestore itself (aggregation query)."""
    from google.cloud.firestore_v1.base_query import FieldFilter
    q = client.collection(COLLECTION).where(filter=FieldFilter("team", "==", team))
    res = q.count(alias="n").sum("cost_nanos", alias="s").get()
    vals = {r.alias: r.value for r in res[0]}
    return int(vals["n"]), int(vals["s"] or 0)


@dataclass
class CommitSpy:
    """Wraps the real gapic ``commit``: records write counts, can lose responses."""
    api: Any
    real: Callable[..., Any]
    sizes: list[int] = field(default_factory=list)
    lose_responses: int = 0     # apply on the server, then raise DEADLINE_EXCEEDED
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = kwargs.get("request") if "request" in kwargs else args[0]
        writes = request["writes"] if isinstance(request, dict) else request.writes
        if len(writes) == 1 and "/teamcost_ledger_totals/" in writes[0].update.name:
            # push preparing a ledger-month rollup document (zeros), not a commit of calls
            return self.real(*args, **kwargs)
        with self.lock:
            self.sizes.append(len(writes))
        response = self.real(*args, **kwargs)
        with self.lock:
            lose = self.lose_responses > 0
            if lose:
                self.lose_responses -= 1
        if lose:
            from google.api_core import exceptions as gexc
            raise gexc.DeadlineExceeded("injected: the commit was applied, its response lost")
        return response


def spy_commits(client: Any) -> CommitSpy:
    api = client._firestore_api
    spy = CommitSpy(api, api.commit)
    api.commit = spy
    return spy


@dataclass
class ReadSpy:
    """Counts documents streamed by real run_query calls."""
    real: Callable[..., Any]
    documents: int = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for resp in self.real(*args, **kwargs):
            if resp.document and resp.document.name:
                self.documents += 1
            yield resp


def spy_reads(client: Any) -> ReadSpy:
    api = client._firestore_api
    spy = ReadSpy(api.run_query)
    api.run_query = spy
    return spy


class TcpProxy:
    """A TCP proxy in front of the emulator that can cut every connection on demand.

    ``cut_after_bytes``: once that many client->server bytes have passed in total,
    all current connections are closed (mid-request), once. ``refuse``: new
    connections are accepted and closed at once, as a dead network path would.
    """

    def __init__(self, upstream: str, cut_after_bytes: int | None = None) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.cut_after_bytes = cut_after_bytes
        self.refuse = False
        self.cuts = 0
        self.forwarded = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refuse:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                if upstream:
                    with self._lock:
                        self.forwarded += len(data)
                        cut = (self.cut_after_bytes is not None
                               and self.forwarded >= self.cut_after_bytes)
                        if cut:
                            self.cut_after_bytes = None
                    if cut:
                        self.cut_all()
                        return
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def cut_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
            self.cuts += 1
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self._stop = True
        self.listener.close()
        self.cut_all()

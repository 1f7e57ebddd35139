"""google-cloud-firestore internals teamcost relies on (checked by tests/unit/test_compat.py).

- ``client._firestore_api``: the gapic transport. Push hands it commit requests built
  straight as protobufs (teamcost.sync.wire), ~40x cheaper than ``WriteBatch.create``; pull
  reads RunQuery responses without proto-plus wrapping every value.
- ``client._rpc_metadata``: the metadata (database routing, auth) every RPC must carry. The
  client always sends ``authorization: Bearer owner`` to an emulator, which bypasses the
  security rules; the member client replaces it with the member's ID token here.
- ``client._database_string``: ``projects/P/databases/D`` for request and document names.
- ``query._prep_stream``: the RunQuery request ``Query.stream()`` would send.
- ``client._emulator_host``: whether the client talks to an emulator.
- ``client._firestore_api_internal.transport.close()``: ``Client.close()`` closes only the
  HTTP session; the gRPC channel (and its threads and buffers) stays until this is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def gapic(client: Any) -> Any:
    """The client's generated API (``commit``, ``run_query``, ...)."""
    return client._firestore_api


def rpc_metadata(client: Any) -> list[tuple[str, str]]:
    return list(client._rpc_metadata)


def database_path(client: Any) -> str:
    return str(client._database_string)


def query_request(query: Any, timeout: float) -> Any:
    """The RunQuery request a google-cloud-firestore Query sends when streamed."""
    request, _prefix, _kwargs = query._prep_stream(retry=None, timeout=timeout)
    return request


def member_client_class(base: type, bearer: Callable[[], str]) -> type:
    """A subclass of ``base`` (firestore.Client) whose RPCs carry ``Bearer <bearer()>`` to
    an emulator instead of the owner token, so firestore.rules apply."""

    class MemberClient(base):
        @property
        def _rpc_metadata(self) -> list[tuple[str, str]]:
            md = [(k, v) for k, v in super()._rpc_metadata if k.lower() != "authorization"]
            if self._emulator_host is not None:
                md.append(("authorization", f"Bearer {bearer()}"))
            return md

    return MemberClient


def close_client(client: Any) -> None:
    """Close the client and its gRPC channel (``Client.close()`` leaves the channel open)."""
    client.close()
    api = getattr(client, "_firestore_api_internal", None)
    if api is not None:
        api.transport.close()

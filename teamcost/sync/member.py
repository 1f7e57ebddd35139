"""The member client: Firestore as a signed-in member, so firestore.rules apply.

google-cloud-firestore sends ``authorization: Bearer owner`` with every RPC to an
emulator (``BaseClient._rpc_metadata``), whatever credentials it was given, and the
emulator then skips the rules. ``MemberClient._rpc_metadata`` is the one place that
replaces it with the member's Firebase ID token. Against real Firestore the token
travels as the credentials' bearer (``IdTokenCredentials``), which is how Firebase's own
client SDKs authenticate; the rules apply there too. Every teamcost RPC (the client's
own and the raw ones in teamcost.sync.wire) takes its metadata from ``_rpc_metadata``.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from teamcost.config import Config

TokenProvider = Callable[[], str]


def _credentials(provider: TokenProvider) -> Any:
    from google.auth import credentials as ga_credentials

    class IdTokenCredentials(ga_credentials.Credentials):
        """A bearer that is the member's current Firebase ID token."""

        def refresh(self, request: Any) -> None:
            self.token = provider()
            # re-read well before the hour is up; TokenSource refreshes with Firebase
            self.expiry = _dt.datetime.utcnow() + _dt.timedelta(minutes=4)

    return IdTokenCredentials()


def make_member_client(config: "Config", provider: TokenProvider) -> Any:
    from google.cloud import firestore

    from teamcost.sync.client import make_client

    class MemberClient(firestore.Client):
        @property
        def _rpc_metadata(self) -> list[tuple[str, str]]:
            md = [(k, v) for k, v in super()._rpc_metadata if k.lower() != "authorization"]
            if self._emulator_host is not None:
                md.append(("authorization", f"Bearer {provider()}"))
            return md

    return make_client(config, credentials=_credentials(provider), client_class=MemberClient)


def member_client_if_signed_in(config: "Config") -> Any:
    """The member client when ``teamcost login`` stored a session for this project."""
    from teamcost.auth.session import TokenSource, load_session

    session = load_session(config)
    if session is None or (session.project and config.project
                           and session.project != config.project):
        return None
    return make_member_client(config, TokenSource(config, session))

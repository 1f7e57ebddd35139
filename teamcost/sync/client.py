"""The one place that builds Firestore clients: projects, emulators, credentials, sign-in.

``client_for(config)`` is what everything above sync uses: the signed-in member's client when
``teamcost login`` stored a session for this project (firestore.rules apply), else the admin
client from Application Default Credentials (against an emulator: the owner, rules bypassed).

The member client: google-cloud-firestore sends ``authorization: Bearer owner`` with every RPC
to an emulator whatever credentials it was given, so the member client replaces it with the
member's Firebase ID token (teamcost.compat.firestore.member_client_class). Against real
Firestore the token travels as the credentials' bearer (``IdTokenCredentials``), which is how
Firebase's own client SDKs authenticate; the rules apply there too. Every teamcost RPC (the
client's own and the raw ones in teamcost.sync.wire) takes its metadata from the client.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable
from typing import Any

from teamcost.compat.firestore import member_client_class
from teamcost.config import Config
from teamcost.errors import ConfigError

TokenProvider = Callable[[], str]


def client_for(config: Config) -> Any:
    """The Firestore client for ``config``: the signed-in member's if any, else admin."""
    member = member_client_if_signed_in(config)
    return member if member is not None else admin_client(config)


def close_client(client: Any) -> None:
    """Close a client this module made, its gRPC channel included."""
    from teamcost.compat.firestore import close_client as close
    close(client)


def require_project(config: Config, why: str = "there is nowhere to sync") -> None:
    if not config.project:
        raise ConfigError(f"no Firestore project configured, so {why}: run "
                          "`teamcost init --project ID` (or set TEAMCOST_PROJECT); "
                          "recording and local reports work without one")


def admin_client(config: Config, client_class: Any = None, **kwargs: Any) -> Any:
    """An admin google-cloud-firestore Client for ``config.project``.

    Credentials are Application Default Credentials; against an emulator
    (``emulator_host`` / FIRESTORE_EMULATOR_HOST) the client uses an insecure
    channel and the emulator treats it as the owner (rules bypassed).
    """
    if not config.project:
        raise ConfigError("no Firestore project configured: run `teamcost init --project ID` "
                          "or set TEAMCOST_PROJECT (the embedded default is local-only)")
    from google.cloud import firestore  # imported late: recording never pays for grpc

    if config.emulator_host and os.environ.get("FIRESTORE_EMULATOR_HOST") != config.emulator_host:
        # the client reads this variable at construction; the config may name the emulator
        os.environ["FIRESTORE_EMULATOR_HOST"] = config.emulator_host
    try:
        return (client_class or firestore.Client)(project=config.project, **kwargs)
    except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError and friends
        raise ConfigError(f"cannot build a Firestore client for project {config.project}: "
                          f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                          " (set GOOGLE_APPLICATION_CREDENTIALS or run "
                          "`gcloud auth application-default login`)") from None


def _credentials(provider: TokenProvider) -> Any:
    from google.auth import credentials as ga_credentials

    class IdTokenCredentials(ga_credentials.Credentials):
        """A bearer that is the member's current Firebase ID token."""

        def refresh(self, request: Any) -> None:
            self.token = provider()
            # re-read well before the hour is up; TokenSource refreshes with Firebase
            self.expiry = _dt.datetime.utcnow() + _dt.timedelta(minutes=4)

    return IdTokenCredentials()


def member_client(config: Config, provider: TokenProvider) -> Any:
    """A client whose every RPC carries the member's ID token from ``provider``."""
    from google.cloud import firestore

    return admin_client(config, credentials=_credentials(provider),
                        client_class=member_client_class(firestore.Client, provider))


def member_client_if_signed_in(config: Config) -> Any:
    """The member client when ``teamcost login`` stored a session for this project."""
    from teamcost.auth.session import TokenSource, load_session

    session = load_session(config)
    if session is None or (session.project and config.project
                           and session.project != config.project):
        return None
    return member_client(config, TokenSource(config, session))

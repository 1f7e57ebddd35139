"""Building the Firestore client: the one place that knows projects, emulators, credentials."""

from __future__ import annotations

import os
from typing import Any

from teamcost.config import Config
from teamcost.errors import ConfigError


def make_client(config: Config, client_class: Any = None, **kwargs: Any) -> Any:
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

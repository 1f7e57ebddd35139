"""Shared by the Firestore benchmarks: an emulator (FIRESTORE_EMULATOR_HOST or the gcloud
one started here), a fresh project on it, and a TEAMCOST_HOME config for that project."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from teamcost.config import Config  # noqa: E402
from teamcost.emulator import start_emulator  # noqa: E402


@contextlib.contextmanager
def emulated_team(team: str = "core", member: str = "ana@example.com",
                  project_suffix: str = "") -> Iterator[tuple[Any, Config, Path]]:
    """(admin Firestore client, config of a fresh project, scratch folder)."""
    emu = None
    if not os.environ.get("FIRESTORE_EMULATOR_HOST"):
        emu = start_emulator()
        os.environ["FIRESTORE_EMULATOR_HOST"] = emu.host
    from google.cloud import firestore
    project = f"demo-bench-{int(time.time())}{project_suffix}"
    client = firestore.Client(project=project)
    work = Path(tempfile.mkdtemp(prefix="teamcost-bench-"))
    cfg = Config(home=work / "home", team=team, member=member, project=project)
    cfg.home.mkdir(parents=True)
    try:
        yield client, cfg, work
    finally:
        client.close()
        if emu is not None:
            emu.stop()

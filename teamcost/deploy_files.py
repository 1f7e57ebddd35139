"""The Firestore security rules and indexes a team deploys, shipped inside the package.

An installed teamcost (pipx, a wheel) has no repository beside it, yet a team still has to
deploy ``firestore.rules`` and ``firestore.indexes.json`` once (`firebase deploy --only
firestore`). ``write_deploy_files`` writes them, with a ``firebase.json`` naming them, into a
folder. A file already there with other content is someone's edit: it is refused, never
overwritten (exit 2), and nothing is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from teamcost.errors import InvalidValue, TeamcostError

RULES_FILE = "firestore.rules"
INDEXES_FILE = "firestore.indexes.json"
FIREBASE_FILE = "firebase.json"


class DeployFilesError(TeamcostError):
    """The folder cannot be written."""


@dataclass(frozen=True)
class Written:
    path: Path
    status: str        # "written" or "unchanged"

    def to_dict(self) -> dict[str, str]:
        return {"path": str(self.path), "status": self.status}


def shipped(name: str) -> str:
    """The text of one shipped file (RULES_FILE or INDEXES_FILE)."""
    return resources.files("teamcost").joinpath(name).read_text(encoding="utf-8")


def deploy_files() -> dict[str, str]:
    """file name -> content, for everything ``firebase deploy --only firestore`` needs."""
    firebase = {"firestore": {"rules": RULES_FILE, "indexes": INDEXES_FILE}}
    return {RULES_FILE: shipped(RULES_FILE), INDEXES_FILE: shipped(INDEXES_FILE),
            FIREBASE_FILE: json.dumps(firebase, indent=2) + "\n"}


def write_deploy_files(out: Path) -> list[Written]:
    """Write the deploy files into ``out`` (created if missing); refuse before writing
    anything when one of them is already there with other content."""
    files = deploy_files()
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise InvalidValue("out", str(out), "a folder (this is a file)")
    plan: list[tuple[Path, str, bool]] = []
    for name, text in files.items():
        path = out / name
        same = False
        if path.exists() or path.is_symlink():
            try:
                same = path.is_file() and path.read_text(encoding="utf-8") == text
            except (OSError, UnicodeDecodeError):
                same = False
            if not same:
                raise InvalidValue("out", str(out), f"a folder without a {name} of its own: "
                                   f"{path} is already there with other content (move it "
                                   "away, or compare it with `teamcost rules --out "
                                   "ANOTHER_DIR`)")
        plan.append((path, text, same))
    try:
        out.mkdir(parents=True, exist_ok=True)
        for path, text, same in plan:
            if not same:
                path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DeployFilesError(f"cannot write the Firestore deploy files into {out}: "
                               f"{exc.strerror or exc}") from None
    return [Written(p, "unchanged" if same else "written") for p, _, same in plan]

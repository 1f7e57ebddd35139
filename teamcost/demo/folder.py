"""The demo's folder: the demo deletes only what it created there, and nothing else ever.

A folder the demo writes into holds a marker, ``.teamcost-demo.json``, listing every file
and directory the demo created in it. The demo runs in a folder that does not exist yet,
an empty folder, or a folder with its marker; before a new run it removes exactly the
files its marker lists (and the directories it made, once they are empty). A folder
with anything else in it and no marker (a home directory, a project, ``--dir ''``) is
refused before anything is written: it may hold files the demo would overwrite.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from teamcost.errors import InvalidValue, TeamcostError

MARKER = ".teamcost-demo.json"
_ACCEPTED = ("a new or empty folder, or one an earlier `teamcost demo` made (it holds "
             f"{MARKER})")


class DemoFolderError(TeamcostError):
    """The demo folder cannot be prepared or written (permissions, a full disk)."""


@dataclass(frozen=True)
class DemoFolder:
    path: Path
    existing: frozenset[str]   # relative paths present before this run (not the demo's)
    made: tuple[Path, ...] = ()   # directories this run created for it, outermost first

    @property
    def marker(self) -> Path:
        return self.path / MARKER


def _listing(root: Path) -> set[str]:
    out: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        for name in (*dirnames, *filenames):
            out.add(str(rel / name) if str(rel) != "." else name)
    return out


def _read_marker(marker: Path) -> list[str]:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
        created = data["created"]
        if data.get("teamcost_demo") != 1 or not all(isinstance(p, str) for p in created):
            raise ValueError
        return list(created)
    except (OSError, ValueError, KeyError, TypeError):
        raise InvalidValue("directory", str(marker.parent), _ACCEPTED + f"; its {MARKER} is not "
                           "one the demo wrote") from None


# what SQLite keeps beside a database while it is open (or after a crash): part of the file
_COMPANIONS = ("-wal", "-shm", "-journal")


def _with_companions(created: list[str]) -> list[str]:
    return created + [f"{p}{suffix}" for p in created if p.endswith(".db")
                      for suffix in _COMPANIONS]


def _inside(root: Path, rel: str) -> Path | None:
    """``root / rel`` when it stays inside ``root`` (a marker never steers a deletion out)."""
    if not rel or os.path.isabs(rel) or ".." in Path(rel).parts:
        return None
    return root / rel


def _teamcost_own(listing: set[str], homes: Sequence[str], created: list[str]) -> list[str]:
    """What teamcost itself wrote in the demo's folder after the demo ended: the demo's, not
    someone else's. In a TEAMCOST_HOME, its own files (the tour records a call there, which
    writes price-cache.json); beside a ledger the demo made, the ledger's columnar mirror
    (``X.db`` -> ``X.parquet/``, which a report builds)."""
    from teamcost.home import is_own_file

    own: list[str] = []
    for home in homes:
        prefix = home + os.sep
        own += [p for p in listing if p.startswith(prefix) and is_own_file(p[len(prefix):])]
    mirrors = [p[:-len(".db")] + ".parquet" for p in created if p.endswith(".db")]
    own += [p for p in listing if any(p == m or p.startswith(m + os.sep) for m in mirrors)]
    return own


def prepare(directory: str | Path, entries: Sequence[str],
            homes: Sequence[str] = ()) -> DemoFolder:
    """Check ``directory`` and clear what an earlier demo created in it; nothing is written
    or deleted when the folder is refused. ``entries`` are the names the demo writes at the
    folder's top: one that is still there after the clearing holds someone else's files,
    which the demo would overwrite, so the folder is refused."""
    if not str(directory).strip():
        raise InvalidValue("directory", str(directory), _ACCEPTED)
    path = Path(directory).expanduser()
    try:
        path = path.resolve()
        if path.exists() and not path.is_dir():
            raise InvalidValue("directory", str(directory), _ACCEPTED + "; this is a file")
        if not path.exists():
            missing = [p for p in (path, *path.parents) if not p.exists()][::-1]
            path.mkdir(parents=True)
            return DemoFolder(path, frozenset(), tuple(missing))
        marker = path / MARKER
        if not marker.is_file():
            if any(path.iterdir()):
                raise InvalidValue("directory", str(directory), _ACCEPTED + "; this folder has "
                                   "other files in it, which the demo would overwrite")
            return DemoFolder(path, frozenset())
        listing = _listing(path)
        created = _with_companions(_read_marker(marker))
        created += [p for p in _teamcost_own(listing, homes, created) if p not in set(created)]
        ours = set(created)
        for name in entries:   # checked before anything is removed
            theirs = sorted(p for p in listing if (p == name or p.startswith(name + os.sep))
                            and p not in ours)
            if theirs:
                raise InvalidValue("directory", str(directory), _ACCEPTED + f"; {theirs[0]} "
                                   "in it is not the demo's and would be overwritten: move it "
                                   "away")
        _remove_created(path, created)
        return DemoFolder(path, frozenset(_listing(path) - {MARKER}))
    except OSError as exc:
        raise DemoFolderError(f"cannot use {path} for the demo: "
                              f"{exc.strerror or exc}") from None


def _remove_created(root: Path, created: list[str]) -> None:
    dirs: list[Path] = []
    for rel in created:
        p = _inside(root, rel)
        if p is None:
            continue
        if p.is_dir() and not p.is_symlink():
            dirs.append(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
    for d in sorted(dirs, key=lambda d: len(d.parts), reverse=True):
        try:
            d.rmdir()          # only once empty: a file someone else put there stays
        except OSError:
            pass


def check_writable(folder: DemoFolder) -> None:
    """Write the marker first: a folder the demo may not write is refused up front."""
    record(folder)


def record(folder: DemoFolder) -> None:
    """(Re)write the marker with everything in the folder that was not there before."""
    created = sorted(_listing(folder.path) - folder.existing - {MARKER})
    tmp = folder.path / f".{MARKER}.tmp"
    try:
        tmp.write_text(json.dumps({"teamcost_demo": 1, "created": created}, indent=1) + "\n",
                       encoding="utf-8")
        os.replace(tmp, folder.marker)
    except OSError as exc:
        raise DemoFolderError(f"cannot write the demo into {folder.path}: "
                              f"{exc.strerror or exc}") from None


def discard(folder: DemoFolder) -> None:
    """After a failed run: remove what this run created (its files, its marker, and the
    folder itself when the run made it), so a failure leaves the place as it found it.
    Only names that were not there before go; a directory goes only once empty."""
    try:
        created = sorted(_listing(folder.path) - folder.existing)
    except OSError:
        return
    _remove_created(folder.path, created)
    for d in reversed(folder.made):
        try:
            d.rmdir()
        except OSError:
            break   # not empty (someone else's file) or gone: leave it and what holds it

"""Attribution: which repository, branch, ticket and pull request a call was made for.

Five tag keys, fixed (the reports and the team rollups use them as dimensions):
``project`` (the working directory's name), ``repo`` (the normalised git remote, e.g.
``github.com/acme/shop``, or the repository folder's name when it has no remote),
``branch``, ``ticket`` (found in the branch name, then a pull request title or commit
message, by ``config.ticket_pattern``) and ``pr`` (a pull/merge request number from CI).

Everything here is read from the filesystem and the environment, never by running git:
``.git`` (a directory, or a worktree's/submodule's ``gitdir:`` file), ``HEAD`` (a branch, or a
detached commit: no branch) and the ``config`` of the common git directory (the remote's
url). A missing folder, a folder that is no repository, an unreadable or odd file: fewer
tags, never an error. SDK processes read it once (``process_attribution``, cached); log
readers once per distinct working directory (``repo_for``, cached).

Values are bounded (``bound``): surrounding whitespace is dropped, control characters (C0,
C1, DEL, and the line and paragraph separators) become U+FFFD, and anything over
``MAX_VALUE`` characters is cut to ``MAX_VALUE - 1`` and ends in "…". Markup is kept as
it is: the renderers print values literally.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import urlsplit

KEYS = ("project", "repo", "branch", "ticket", "pr")
from teamcost.config import DEFAULT_TICKET_PATTERN  # noqa: E402 - re-exported

ISSUE_NUMBER_PATTERN = r"#[0-9]+"        # the opt-in ``#123`` style
MAX_VALUE = 256                          # models.MAX_TAG_VALUE_LEN
_READ_LIMIT = 64 * 1024                  # HEAD / gitdir files are tiny; config files small
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_PR_REF_RE = re.compile(r"^refs/(?:pull|merge-requests)/([0-9]+)/")
_NUMBER_RE = re.compile(r"^[0-9]{1,12}$")
_SCP_RE = re.compile(r"^(?:[^@/\s]+@)?([^:/\s]+):(?!//)(.+)$")   # git@github.com:acme/shop.git


def bound(value: Any) -> str | None:
    """A tag value as stored: text, no control characters, at most MAX_VALUE characters;
    None for nothing (not text, or empty once trimmed)."""
    if not isinstance(value, str):
        return None
    text = _CONTROL_RE.sub("\ufffd", value.strip())
    # a lone surrogate (undecodable bytes in a path or variable) has no UTF-8 form
    text = text.encode("utf-8", "replace").decode("utf-8")
    if not text:
        return None
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE - 1] + "…"


def clean(tags: Mapping[str, Any]) -> dict[str, str]:
    """The attribution tags of ``tags`` that have a value, bounded."""
    out: dict[str, str] = {}
    for k in KEYS:
        v = bound(tags.get(k))
        if v is not None:
            out[k] = v
    return out


def merge(derived: Mapping[str, str], explicit: Mapping[str, str],
          limit: int = 16) -> dict[str, str]:
    """``explicit`` tags win over ``derived`` ones; a derived tag that would take the call
    past ``limit`` tags (models.MAX_TAGS) is left out rather than failing the recording."""
    out = dict(explicit)
    for k, v in derived.items():
        if k not in out and len(out) < limit:
            out[k] = v
    return out


# -- remotes --

def normalise_remote(url: Any) -> str | None:
    """``host/path`` of a git remote without scheme, credentials, port, ``.git`` or
    trailing slashes, host lowercased: https://user:token@GitHub.com/acme/shop.git,
    git@github.com:acme/shop.git and ssh://git@github.com:22/acme/shop all give
    ``github.com/acme/shop``. A local path gives its folder's name."""
    if not isinstance(url, str) or not url.strip():
        return None
    url = url.strip()
    host, path = "", ""
    if "://" in url:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()     # hostname drops user:pass@ and :port
        except ValueError:
            return None
        path = parts.path
        if parts.scheme == "file" or not host:
            return _folder_name(path)
    elif (m := _SCP_RE.match(url)) and not re.match(r"^[A-Za-z]:[\\/]", url):
        host, path = m.group(1).lower(), m.group(2)
    else:
        return _folder_name(url)
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[:-4].rstrip("/")
    return bound(f"{host}/{path}" if path else host)


def _folder_name(path: str) -> str | None:
    p = path.replace("\\", "/").rstrip("/")
    name = PurePath(p).name if p else ""
    if name.endswith(".git"):
        name = name[:-4]
    return bound(name)


# -- tickets --

def ticket_in(texts: Iterable[Any], pattern: str | re.Pattern[str]) -> str | None:
    """The first match of ``pattern`` in the first text that has one."""
    rx = re.compile(pattern) if isinstance(pattern, str) else pattern
    for text in texts:
        if isinstance(text, str) and text:
            m = rx.search(text[:4 * MAX_VALUE])
            if m:
                return bound(m.group(0))
    return None


# -- the filesystem --

def _read(path: Path) -> str | None:
    try:
        with path.open("rb") as fh:
            return fh.read(_READ_LIMIT).decode("utf-8", "replace")
    except (OSError, ValueError):
        return None


def find_git(start: Path) -> tuple[Path, Path, Path] | None:
    """(work tree root, git directory, common git directory) of the repository holding
    ``start``, or None. A ``.git`` file (worktree, submodule) points at the git directory;
    a linked worktree's ``commondir`` at the shared one (where config lives)."""
    try:
        here = start.resolve()
    except (OSError, RuntimeError):
        return None
    for folder in (here, *here.parents):
        dot = folder / ".git"
        try:
            if dot.is_dir():
                gitdir = dot
            elif dot.is_file():
                text = _read(dot) or ""
                line = text.strip().splitlines()[0] if text.strip() else ""
                if not line.startswith("gitdir:"):
                    continue
                target = Path(line[len("gitdir:"):].strip())
                gitdir = target if target.is_absolute() else folder / target
            else:
                continue
        except OSError:
            continue
        common = gitdir
        named = _read(gitdir / "commondir")
        if named and named.strip():
            c = Path(named.strip())
            try:
                common = (c if c.is_absolute() else gitdir / c).resolve()
            except (OSError, RuntimeError):
                common = gitdir / c
        return folder, gitdir, common
    return None


def head_branch(gitdir: Path) -> str | None:
    """The checked-out branch from ``HEAD``; None when detached (a commit id) or unreadable."""
    text = _read(gitdir / "HEAD")
    if not text:
        return None
    line = text.strip()
    if line.startswith("ref:"):
        ref = line[4:].strip()
        return bound(ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref)
    return None


def remote_url(common: Path) -> str | None:
    """The url of remote ``origin`` in the git config, else of the first remote named."""
    text = _read(common / "config")
    if not text:
        return None
    remotes: dict[str, str] = {}
    section: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            m = re.match(r'^\[\s*remote\s+"((?:[^"\\]|\\.)*)"\s*\]', line)
            section = m.group(1) if m else None
            continue
        if section is None or "=" not in line:
            continue
        key, _, value = line.partition("=")
        if key.strip().lower() == "url" and section not in remotes:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            remotes[section] = value
    url = remotes.get("origin") or next(iter(remotes.values()), None)
    return url


def repo_info(folder: Path | str) -> dict[str, str]:
    """``repo`` and ``branch`` of the repository holding ``folder`` (nothing when it is
    none, or is gone)."""
    found = find_git(Path(folder))
    if found is None:
        return {}
    root, gitdir, common = found
    out: dict[str, str] = {}
    # no remote: the repository's own folder (a linked worktree's main checkout, whose
    # git directory is the common one) rather than the worktree's folder
    main = common.parent if common.name == ".git" else root
    repo = normalise_remote(remote_url(common)) or bound(main.name)
    if repo:
        out["repo"] = repo
    branch = head_branch(gitdir)
    if branch:
        out["branch"] = branch
    return out


_repo_cache: dict[str, str | None] = {}
_repo_lock = threading.Lock()


def repo_for(cwd: Any) -> str | None:
    """The ``repo`` tag of a log line's working directory, resolved once per distinct
    directory; None when it is gone or not in a repository (the import goes on)."""
    # a relative path (or another OS's) would be read against this process's folder
    if not isinstance(cwd, str) or not cwd.strip() or not os.path.isabs(cwd):
        return None
    with _repo_lock:
        if cwd in _repo_cache:
            return _repo_cache[cwd]
    try:
        repo = repo_info(cwd).get("repo")
    except Exception:  # noqa: BLE001 - attribution never fails an import
        repo = None
    with _repo_lock:
        if len(_repo_cache) > 10_000:
            _repo_cache.clear()
        _repo_cache[cwd] = repo
    return repo


def project_name(cwd: Any) -> str | None:
    """The ``project`` tag: the working directory's last component."""
    if not isinstance(cwd, str) or not cwd.strip():
        return None
    path = cwd.strip().rstrip("/\\")
    return bound(PurePath(path.replace("\\", "/")).name or path)


def for_log(cwd: Any = None, branch: Any = None, repo_url: Any = None, pr: Any = None,
            title: Any = None, *, pattern: str = DEFAULT_TICKET_PATTERN) -> dict[str, str]:
    """Attribution of a call read from a log or telemetry: ``cwd`` and ``branch`` as it
    wrote them, the remote url where it names one (else the one found from ``cwd``), a pull
    request number and title (for the ticket) where it has them. Cached per distinct
    argument list (a transcript repeats them on every line); do not change the dict."""
    key = tuple(v if isinstance(v, str) else None
                for v in (cwd, branch, repo_url, pr, title, pattern))
    return _for_log(*key)


@lru_cache(maxsize=4096)
def _for_log(cwd: str | None, branch: str | None, repo_url: str | None, pr: str | None,
             title: str | None, pattern: str) -> dict[str, str]:
    out: dict[str, str] = {}
    project = project_name(cwd)
    if project:
        out["project"] = project
    repo = normalise_remote(repo_url) or repo_for(cwd)
    if repo:
        out["repo"] = repo
    b = bound(branch)
    if b and b != "HEAD":          # Claude Code writes "HEAD" on a detached checkout
        out["branch"] = b
    if pr is not None and _NUMBER_RE.match(pr.strip().lstrip("#")):
        out["pr"] = pr.strip().lstrip("#")
    ticket = ticket_in([out.get("branch"), title], pattern)
    if ticket:
        out["ticket"] = ticket
    return out


# -- CI --

def ci_attribution(env: Mapping[str, str]) -> dict[str, str]:
    """``repo``, ``branch``, ``pr`` and a ``title`` (for tickets) from CI variables:
    GitHub Actions, GitLab CI, Buildkite, CircleCI, Bitbucket Pipelines."""
    g = env.get
    out: dict[str, Any] = {}
    if g("GITHUB_ACTIONS") or g("GITHUB_REF") or g("GITHUB_HEAD_REF"):
        ref = g("GITHUB_REF") or ""
        if m := _PR_REF_RE.match(ref):
            out["pr"] = m.group(1)
        out["branch"] = g("GITHUB_HEAD_REF") or (
            g("GITHUB_REF_NAME") if not out.get("pr") and g("GITHUB_REF_TYPE", "branch")
            == "branch" else None) or (ref[len("refs/heads/"):]
                                       if ref.startswith("refs/heads/") else None)
        if g("GITHUB_REPOSITORY"):
            server = g("GITHUB_SERVER_URL") or "https://github.com"
            out["repo"] = normalise_remote(f"{server.rstrip('/')}/{g('GITHUB_REPOSITORY')}")
    if g("GITLAB_CI") or g("CI_MERGE_REQUEST_IID") or g("CI_COMMIT_REF_NAME"):
        out["pr"] = g("CI_MERGE_REQUEST_IID") or out.get("pr")
        out["branch"] = (g("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME") or g("CI_COMMIT_BRANCH")
                         or g("CI_COMMIT_REF_NAME") or out.get("branch"))
        out["title"] = g("CI_MERGE_REQUEST_TITLE") or g("CI_COMMIT_TITLE")
        if g("CI_PROJECT_URL"):
            out["repo"] = normalise_remote(g("CI_PROJECT_URL"))
    if g("BUILDKITE"):
        pr = g("BUILDKITE_PULL_REQUEST")
        out["pr"] = pr if pr and pr != "false" else out.get("pr")
        out["branch"] = g("BUILDKITE_BRANCH") or out.get("branch")
        out["title"] = g("BUILDKITE_MESSAGE") or out.get("title")
        out["repo"] = normalise_remote(g("BUILDKITE_REPO")) or out.get("repo")
    if g("CIRCLECI"):
        url = g("CIRCLE_PULL_REQUEST") or ""
        tail = url.rstrip("/").rsplit("/", 1)[-1]
        out["pr"] = tail if _NUMBER_RE.match(tail) else out.get("pr")
        out["branch"] = g("CIRCLE_BRANCH") or out.get("branch")
        out["repo"] = normalise_remote(g("CIRCLE_REPOSITORY_URL")) or out.get("repo")
    if g("BITBUCKET_BUILD_NUMBER"):
        out["pr"] = g("BITBUCKET_PR_ID") or out.get("pr")
        out["branch"] = g("BITBUCKET_BRANCH") or out.get("branch")
        out["repo"] = normalise_remote(g("BITBUCKET_GIT_HTTP_ORIGIN")) or out.get("repo")
    if out.get("pr") is not None and not _NUMBER_RE.match(str(out["pr"])):
        out["pr"] = None
    return {k: b for k, v in out.items() if (b := bound(v)) is not None}


def for_process(cwd: Path | str, env: Mapping[str, str], pattern: str) -> dict[str, str]:
    """Attribution of calls made by a process running in ``cwd`` with ``env``: the
    repository there, with what CI says on top (a CI checkout is usually detached)."""
    out: dict[str, str] = {}
    try:
        project = project_name(str(cwd))
        if project:
            out["project"] = project
        out.update(repo_info(cwd))
    except Exception:  # noqa: BLE001 - attribution never fails a recording
        pass
    ci = ci_attribution(env)
    title = ci.pop("title", None)
    out.update(ci)
    ticket = ticket_in([out.get("branch"), title], pattern)
    if ticket:
        out["ticket"] = ticket
    return out


_process: dict[str, str] | None = None
_process_lock = threading.Lock()


def process_attribution(pattern: str = DEFAULT_TICKET_PATTERN) -> dict[str, str]:
    """``for_process`` of this process's working directory and environment, worked out on
    the first call and kept for the life of the process (the recording hot path reads a
    dict). ``TEAMCOST_ATTRIBUTION=0`` turns it off."""
    global _process
    found = _process
    if found is None:
        with _process_lock:
            if _process is None:
                if os.environ.get("TEAMCOST_ATTRIBUTION", "1").strip().lower() in (
                        "0", "false", "no", "off"):
                    _process = {}
                else:
                    try:
                        cwd: str | None = os.getcwd()
                    except OSError:              # the directory was deleted under us
                        cwd = None
                    _process = (for_process(cwd, os.environ, pattern) if cwd
                                else clean(ci_attribution(os.environ)))
            found = _process
    return found


def reset_process_attribution() -> None:
    """Forget the cached attribution (tests; a process that changed directory on purpose)."""
    global _process
    with _process_lock:
        _process = None
    with _repo_lock:
        _repo_cache.clear()
    _for_log.cache_clear()

"""An installed teamcost (a built wheel in a clean virtualenv, no repository beside it)
writes the Firestore rules and indexes a team deploys, and those rules deploy: loaded into
the emulator the way firebase-tools loads them, they allow a member's valid call and refuse
a forged one (issue 26: they shipped only in the repository).

The clean venv gets the wheel with --no-deps; its dependencies come from this checkout's
venv through a path in a .pth file (not its .pth files: the editable install's finder stays
out), so what is imported as ``teamcost`` is the wheel's.
"""

from __future__ import annotations

import json
import site
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.rules_support import Rest
from tests.sync_support import make_calls

pytestmark = [pytest.mark.emulator, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
DENY_ALL = ("rules_version = '2';\nservice cloud.firestore {\n  match /databases/{db}/documents "
            "{\n    match /{doc=**} { allow read, write: if false; }\n  }\n}\n")


def deploy_rules(host: str, project: str, content: str) -> list[object]:
    """What `firebase emulators` does with firestore.rules: PUT them for the project;
    returns the compiler's issues (none for rules that compile)."""
    body = json.dumps({"rules": {"files": [{"name": "firestore.rules", "content": content}]}})
    req = urllib.request.Request(f"http://{host}/emulator/v1/projects/{project}:securityRules",
                                 data=body.encode(), method="PUT",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
        return list(json.loads(resp.read() or b"{}").get("issues", []))


def run(*cmd: str | Path, cwd: Path, timeout: float = 300) -> str:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, (cmd, proc.stdout[-2000:], proc.stderr[-2000:])
    return proc.stdout


def test_the_wheel_writes_rules_that_deploy(firestore_emulator, tmp_path: Path) -> None:
    # build from a clone of the committed tree (the build writes into its source folder)
    src = tmp_path / "src"
    run("git", "clone", "-q", REPO, src, cwd=tmp_path)
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist, src,
        cwd=tmp_path, timeout=600)
    wheel = next(dist.glob("teamcost-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        shipped = {n: z.read(n) for n in z.namelist()
                   if n in ("teamcost/firestore.rules", "teamcost/firestore.indexes.json")}
    assert shipped == {"teamcost/firestore.rules": (REPO / "firestore.rules").read_bytes(),
                       "teamcost/firestore.indexes.json":
                           (REPO / "firestore.indexes.json").read_bytes()}

    venv = tmp_path / "clean"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet",
        "--no-deps", "--no-index", wheel, cwd=tmp_path)
    purelib = next((venv / "lib").glob("python3*/site-packages"))
    (purelib / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    where = run(venv / "bin" / "python", "-c", "import teamcost; print(teamcost.__file__)",
                cwd=tmp_path)
    assert where.strip().startswith(str(purelib)), where
    version = run(venv / "bin" / "teamcost", "--version", cwd=tmp_path).strip()
    assert version.startswith("teamcost ")

    # `teamcost rules` from the installed package, in a folder far from any repository
    out = tmp_path / "deploy"
    said = run(venv / "bin" / "teamcost", "rules", "--out", out, cwd=tmp_path)
    assert "firebase deploy --only firestore" in said
    firebase = json.loads((out / "firebase.json").read_text())
    assert firebase == {"firestore": {"rules": "firestore.rules",
                                      "indexes": "firestore.indexes.json"}}
    assert json.loads((out / firebase["firestore"]["indexes"]).read_text()) == \
        json.loads((REPO / "firestore.indexes.json").read_text())
    rules = (out / firebase["firestore"]["rules"]).read_text()

    # deploy: first rules that refuse everything, then the written ones; a member's valid
    # call goes through only once the written rules are in place, a forged one never
    host, project = firestore_emulator.host, "demo-wheel-rules"
    rec = make_calls(1, "ana@example.com", "ledger-ana", "A", prefix="w")[0]
    from teamcost.sync.mapping import record_to_doc
    doc = record_to_doc(rec)
    ana = Rest.as_member(host, project, "ana@example.com", "A")
    try:
        assert deploy_rules(host, project, DENY_ALL) == []
        assert ana.create(rec.call_id, doc) == 403
        assert deploy_rules(host, project, rules) == []
        assert ana.create(rec.call_id, doc) == 200
        forged = {**doc, "member": "bo@example.com"}
        assert ana.create(rec.call_id + "-forged", forged) == 403
    finally:
        deploy_rules(host, project, (REPO / "firestore.rules").read_text())
        firestore_emulator.emulator.wipe(project)

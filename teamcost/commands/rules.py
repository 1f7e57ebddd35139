"""`teamcost rules`: write the Firestore rules and indexes a team deploys."""

from __future__ import annotations

from pathlib import Path

import typer

from teamcost.commands.output import FORMAT, OutputFormat, console, emit


def rules_cmd(
        out: Path = typer.Option(Path("."), "--out", metavar="DIR", show_default=False,
                                 help="Folder to write them into (created if missing). "
                                      "Default: the current one."),
        fmt: OutputFormat = FORMAT,
) -> None:
    """Write firestore.rules, firestore.indexes.json and firebase.json for `firebase deploy`.

    They ship inside the package, so an installed teamcost (pipx, a wheel) deploys the same
    rules as the repository. A file already there with other content is refused (exit 2)
    and nothing is written. Then: `firebase deploy --only firestore --project ID` in DIR.
    """
    from teamcost.deploy_files import write_deploy_files

    written = write_deploy_files(out)
    emit([w.to_dict() for w in written], fmt, _render)


def _render(rows: list[dict[str, str]]) -> None:
    for r in rows:
        console.print(f"{r['status']}: {r['path']}", markup=False)
    folder = Path(rows[0]["path"]).parent if rows else Path(".")
    console.print(f"deploy them: cd {folder} && firebase deploy --only firestore "
                  "--project YOUR_PROJECT", markup=False)


def register(app: typer.Typer) -> None:
    app.command("rules")(rules_cmd)

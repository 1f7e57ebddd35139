"""The package's shape, checked from the source: no import cycles (module-level or inside
functions: a function-level import that only hides a cycle is still a cycle) and layers that
point one way (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "teamcost"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the teamcost modules it imports anywhere in its source: at module level,
    inside functions and under ``if TYPE_CHECKING:`` alike (each is a dependency)."""
    modules = {module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        deps: set[str] = set()
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".")
                    base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t.startswith("teamcost") and t != name:
                    deps.add(t)
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle as a list of modules, or None; a package importing its own submodules and a
    submodule importing its package's __init__ count like any other edge."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_cycle_finder_finds_a_planted_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycles() -> None:
    graph = import_graph()
    # a package's __init__ re-exporting its submodules is the package's public face, not a
    # dependency of those submodules: drop submodule -> own-package-init edges
    for mod, deps in graph.items():
        graph[mod] = {d for d in deps if not mod.startswith(d + ".")}
    assert find_cycle(graph) is None


_ABOVE_RECORDING = ("teamcost.capture", "teamcost.sync", "teamcost.reports", "teamcost.budget",
                    "teamcost.agent", "teamcost.commands", "teamcost.web", "teamcost.cli",
                    "teamcost.demo", "teamcost.reconcile")
LAYER_RULES = {
    # a package: the packages it must never import (ARCHITECTURE.md's table)
    "teamcost.tracker": _ABOVE_RECORDING,
    "teamcost.home": _ABOVE_RECORDING,
    "teamcost.reprice": _ABOVE_RECORDING,
    "teamcost.auth": _ABOVE_RECORDING,
    "teamcost.sync": ("teamcost.reports", "teamcost.budget", "teamcost.commands", "teamcost.web",
                      "teamcost.agent", "teamcost.cli", "teamcost.reconcile"),
    "teamcost.capture": ("teamcost.sync", "teamcost.reports", "teamcost.budget",
                         "teamcost.commands", "teamcost.web", "teamcost.agent", "teamcost.cli",
                         "teamcost.reconcile"),
    "teamcost.budget": ("teamcost.reports", "teamcost.commands", "teamcost.web", "teamcost.agent",
                        "teamcost.cli"),
    "teamcost.reports": ("teamcost.commands", "teamcost.web", "teamcost.agent", "teamcost.cli",
                         "teamcost.reconcile"),
    "teamcost.plans": ("teamcost.reports", "teamcost.budget", "teamcost.reconcile",
                       "teamcost.commands", "teamcost.web", "teamcost.agent", "teamcost.cli",
                       "teamcost.capture"),
    "teamcost.reconcile": ("teamcost.commands", "teamcost.web", "teamcost.agent", "teamcost.cli"),
    "teamcost.agent": ("teamcost.commands", "teamcost.web", "teamcost.cli"),
    "teamcost.web": ("teamcost.commands", "teamcost.cli"),
}
BASE = ("teamcost.money", "teamcost.models", "teamcost.errors", "teamcost.periods",
        "teamcost.config", "teamcost.ledger", "teamcost.pricing", "teamcost.ids",
        "teamcost.compat", "teamcost.local_read", "teamcost.labels", "teamcost.stdio",
        "teamcost.attribution", "teamcost.presence", "teamcost.deploy_files",
        "teamcost.httpapi")


def test_layers_point_one_way() -> None:
    graph = import_graph()
    bad = []
    for mod, deps in sorted(graph.items()):
        for pkg, forbidden in LAYER_RULES.items():
            if mod == pkg or mod.startswith(pkg + "."):
                bad += [f"{mod} -> {d}" for d in sorted(deps)
                        if any(d == f or d.startswith(f + ".") for f in forbidden)]
        if mod in BASE or any(mod.startswith(b + ".") for b in BASE):
            # the foundation imports only the foundation (and third-party code)
            bad += [f"{mod} -> {d}" for d in sorted(deps)
                    if not any(d == b or d.startswith(b + ".") for b in BASE)]
    assert not bad, "\n".join(bad)

"""The layout of docs/architecture.md, checked on the source: who may import whom, no cycles, one MLflow door.

Every import counts, at module level or inside a function (lazy) or under ``TYPE_CHECKING``: a lazy
import is still a dependency. The implicit import of a module's own parent package is not an edge.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from genaiops.settings import REPO_ROOT

# What each package may import besides itself (docs/architecture.md has the picture).
ALLOWED: dict[str, set[str]] = {
    "genaiops": set(),  # the shared ground: settings, database, MLflow adapter, CLI helpers
    "prompts": {"genaiops"},
    "classic_ml": {"genaiops"},
    "rag": {"genaiops", "prompts"},
    "eval": {"genaiops", "prompts", "rag", "classic_ml"},
    "ui": {"genaiops"},  # the UI only speaks HTTP to the API
    "app": {"genaiops", "prompts", "rag", "classic_ml", "eval", "ui"},  # the wiring: HTTP app and CLI root
    "bench": {"genaiops", "prompts", "rag", "classic_ml", "eval", "ui", "app"},  # the tools
}
PACKAGES = tuple(ALLOWED)
# The only module that may read or set MLflow's process-wide tracking URI or build a client itself.
MLFLOW_ADAPTER = "genaiops.tracking"
MLFLOW_GLOBALS = {"set_tracking_uri", "get_tracking_uri", "set_registry_uri", "get_registry_uri", "MlflowClient"}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # a first-party module it imports
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((REPO_ROOT / pkg).rglob("*.py"))}


@cache
def tree(name: str) -> ast.Module:
    return ast.parse(modules()[name].read_text(encoding="utf-8"), filename=str(modules()[name]))


def _resolve(name: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = name.split(".") if modules()[name].name == "__init__.py" else name.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(name: str) -> Iterator[Import]:
    known = modules()
    for node in ast.walk(tree(name)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, node)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` depends on the deepest module we have
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(f"{target}."):
                yield Import(name, target, node.lineno)


def test_every_package_imports_only_what_its_layer_allows() -> None:
    forbidden = sorted(
        {
            f"{i.module}:{i.line} imports {i.target}"
            for name in modules()
            for i in imports_of(name)
            if (top := i.target.split(".")[0]) != name.split(".")[0] and top not in ALLOWED[name.split(".")[0]]
        }
    )
    assert not forbidden, "imports across the layers of docs/architecture.md:\n" + "\n".join(forbidden)


def test_no_import_cycles() -> None:
    graph = {name: {i.target for i in imports_of(name)} for name in modules()}
    cycles = [cycle for cycle in strongly_connected(graph) if len(cycle) > 1]
    assert not cycles, f"import cycles: {cycles}"


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of ``graph`` (iterative enough for a few hundred modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _names_our_module(node: ast.expr) -> bool:
    text = node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return text is not None and text.split(".")[0] in PACKAGES


def test_our_modules_are_imported_by_name_in_the_code_never_by_a_string() -> None:
    loaders = {"import_module", "__import__", "run_module"}
    found = [
        f"{name}:{node.lineno}"
        for name in modules()
        for node in ast.walk(tree(name))
        if isinstance(node, ast.Call)
        and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) in loaders
        and node.args
        and _names_our_module(node.args[0])
    ]
    assert not found, f"modules loaded by name (use a plain import): {found}"


def test_only_the_adapter_touches_mlflows_process_wide_uri_or_builds_a_client() -> None:
    found = []
    for name in modules():
        if name == MLFLOW_ADAPTER:
            continue
        for node in ast.walk(tree(name)):
            used = getattr(node, "attr", None) if isinstance(node, ast.Attribute) else None
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mlflow"):
                used = next((a.name for a in node.names if a.name in MLFLOW_GLOBALS), None)
            if used in MLFLOW_GLOBALS:
                found.append(f"{name}:{node.lineno} uses {used}")
    assert not found, f"MLflow reached around genaiops.tracking.MlflowStore: {found}"


@pytest.mark.parametrize("package", [p for p in PACKAGES if p not in ("bench",)])
def test_commands_live_in_the_packages_cli_module(package: str) -> None:
    """Typer commands are declared only in ``<package>/cli.py`` (``app/cli.py`` mounts them all)."""
    outside = [
        name
        for name in modules()
        if name.split(".")[0] == package
        and name != f"{package}.cli"
        and any(isinstance(n, ast.Import | ast.ImportFrom) and "typer" in ast.unparse(n) for n in ast.walk(tree(name)))
    ]
    assert not outside, f"command-line code outside {package}/cli.py: {outside}"

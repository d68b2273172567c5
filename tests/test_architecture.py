"""The layout the code promises: import contracts (import-linter, as `make lint` runs it) and
routes that only parse, call a service and answer."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "stockteacher"
MAX_ROUTE_LINES = 25


def test_the_import_contracts_hold() -> None:
    """core imports nothing of ours; services never import views; only cluster/, api/serve.py
    and the entry points import ray; no cycles between sibling packages or modules."""
    lint_imports = pathlib.Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "4 kept, 0 broken" in result.stdout


def test_the_contracts_name_every_package() -> None:
    """A new package is covered by the contracts the day it is added: the core may import none
    of it, and only the declared places may import ray."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    by_name = {c["name"]: c for c in contracts}
    ours = {f"stockteacher.{p.stem if p.is_file() else p.name}" for p in PACKAGE.iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}  # fmt: skip
    core = by_name["core imports nothing of ours"]
    assert set(core["forbidden_modules"]) == ours - {"stockteacher.core"}
    ray = by_name["only cluster/, api/serve.py and the entry points import ray"]
    entry_points = {"stockteacher.cluster", "stockteacher.cli", "stockteacher.demo", "stockteacher.api"}
    api_parts = {
        f"stockteacher.api.{p.stem}" for p in (PACKAGE / "api").glob("*.py") if p.stem not in {"__init__", "serve"}
    }
    assert set(ray["source_modules"]) == (ours - entry_points) | api_parts


def _routes() -> list[tuple[str, str, int]]:
    found = []
    for path in sorted(PACKAGE.rglob("views.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if any(isinstance(d, ast.Call) and getattr(d.func, "attr", "") in
                   {"get", "post", "put", "patch", "delete", "websocket"} for d in node.decorator_list):  # fmt: skip
                start = min(d.lineno for d in node.decorator_list)
                found.append((f"{path.parent.name}.{node.name}", path.name, node.end_lineno - start + 1))
    return found


def test_every_package_with_routes_has_models_service_and_views() -> None:
    packages = {path.parent for path in PACKAGE.rglob("views.py")}
    assert {p.name for p in packages} >= {"reports", "subscriptions", "channels", "chat", "operations"}
    for package in packages:
        assert (package / "service.py").is_file() and (package / "models.py").is_file(), package.name


@pytest.mark.parametrize(("route", "lines"), [(name, lines) for name, _, lines in _routes()])
def test_routes_are_short(route: str, lines: int) -> None:
    assert lines <= MAX_ROUTE_LINES, f"{route}: {lines} lines (decorator included)"


def test_nothing_outside_api_and_views_imports_the_web_framework() -> None:
    """Services, models and the pipeline know nothing of HTTP (chat's turn relay uses
    starlette's thread pool helper only)."""
    allowed = {"api", "views.py", "turns.py"}
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if allowed & set(path.relative_to(PACKAGE).parts) or path.name in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])  # fmt: skip
            if any(n.split(".")[0] in {"fastapi", "starlette", "sse_starlette"} for n in names):
                offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []

"""The layout rules of the code base, checked on its source (no model, no index)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

MAX_FUNCTION_LINES = 60


def sources() -> list[Path]:
    return sorted((REPO / "qa").rglob("*.py")) + [REPO / "ui.py"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every `qa...` module a file imports, at top level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name == "qa" or name.startswith("qa.")}


def test_no_module_but_the_entry_point_imports_the_cli():
    offenders = [
        module_name(path)
        for path in sources()
        if module_name(path) not in ("qa.cli", "qa.__main__") and "qa.cli" in imported_modules(path)
    ]
    assert offenders == []


def test_no_import_cycles_between_modules():
    known = {module_name(path): path for path in sources()}
    graph = {
        name: {m for m in imported_modules(path) if m in known and m != name}
        for name, path in known.items()
    }
    # Package __init__ files are not part of a step's data flow.
    graph = {
        n: {m for m in deps if not known[m].name == "__init__.py"} for n, deps in graph.items()
    }

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return [*path, nxt]
                if nxt not in path:
                    stack.append((nxt, [*path, nxt]))
        return None

    cycles = [c for c in (cycle_from(name) for name in graph) if c]
    assert cycles == [], f"import cycles: {cycles[:3]}"


def test_no_function_is_longer_than_the_limit():
    long = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines})")
    assert long == []


def test_no_bare_except_exception_outside_the_ui_last_resort():
    # The page's last resort, and the serving batcher's, which hands any failure to the one
    # request it belongs to instead of losing the others in the batch.
    allowed = {"qa/ui/app.py", "qa/serving.py"}
    found = []
    for path in sources():
        rel = str(path.relative_to(REPO))
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ExceptHandler) and (
                node.type is None
                or (isinstance(node.type, ast.Name) and node.type.id == "Exception")
            ):
                if rel not in allowed:
                    found.append(f"{rel}:{node.lineno}")
    assert found == []

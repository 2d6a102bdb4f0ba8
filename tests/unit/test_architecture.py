"""The shape of the code, read from its imports (nothing is imported or run):

- one composition root, `chalicelib/wiring.py`, imported only by entry points: app.py, the API
  blueprints, the jobs' module, the CLI (autofunnel/) and the benchmarks; everything below
  receives what it needs;
- no import circle among chalicelib's modules, counting imports inside functions too (a lazy
  import only hides a circle until the day someone moves it to the top);
- no test double in production code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WIRING = "chalicelib.wiring"
ENTRY_POINTS = ("app", "chalicelib.api.", "chalicelib.jobs", "autofunnel.", "bench.")
DOUBLES = ("Recording", "Fake", "Stub", "Dummy", "Mock")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources(*folders: str) -> dict[str, Path]:
    found = {module_name(ROOT / "app.py"): ROOT / "app.py"}
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            found[module_name(path)] = path
    return found


def imported(path: Path) -> Iterator[str]:
    """Every module the file imports, at the top or inside a function; `from package import
    name` yields both the package and `package.name` (which may be a module). Imports under
    `if TYPE_CHECKING:` are for type checkers only and are skipped."""

    def visit(node: ast.AST) -> Iterator[str]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                yield from (alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                yield child.module
                yield from (f"{child.module}.{alias.name}" for alias in child.names)
            yield from visit(child)

    yield from visit(ast.parse(path.read_text(encoding="utf-8")))


def test_only_entry_points_import_the_composition_root() -> None:
    lower = [
        name
        for name, path in sources("chalicelib", "autofunnel", "bench").items()
        if name != WIRING
        and not name.startswith(ENTRY_POINTS)
        and name != "app"
        and WIRING in set(imported(path))
    ]
    assert lower == [], f"{lower} import the composition root: pass them what they need instead"


def test_chalicelib_has_no_import_circles() -> None:
    modules = {n: p for n, p in sources("chalicelib").items() if n.startswith("chalicelib")}
    graph = {name: {m for m in imported(path) if m in modules} for name, path in modules.items()}
    circles = strongly_connected(graph)
    assert circles == [], f"import circles: {circles}"


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [["a", "b", "c"]]


def test_no_test_doubles_in_production_code() -> None:
    doubles = [
        f"{name}.{node.name}"
        for name, path in sources("chalicelib").items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef) and node.name.startswith(DOUBLES)
    ]
    assert doubles == [], f"test doubles in chalicelib: {doubles} (they belong in tests/)"

"""The layers README's "Layout" table promises, checked on the source: reporter's packages import each
other in one direction only, and the report model depends on nothing but pydantic and the standard library.

Imports are read with `ast`, including those inside functions (the lazy imports that keep torch out of
light commands are imports all the same).
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "reporter"


def _unit(module: str) -> str | None:
    """The part of reporter a module belongs to: a subpackage (`tasks`) or a top-level module (`cli.py`)."""
    parts = module.split(".")
    if parts[0] != "reporter":
        return None
    if len(parts) == 1 or parts[1] == "__version__":
        return "reporter/__init__.py"
    return parts[1] if (PACKAGE / parts[1]).is_dir() else f"{parts[1]}.py"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every absolute module an import statement anywhere in the file names, with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            assert node.module is not None
            if node.module == "reporter":  # `from reporter import gates` imports reporter.gates
                found += [(f"reporter.{alias.name}", node.lineno) for alias in node.names]
            else:
                found.append((node.module, node.lineno))
    return found


def import_graph() -> dict[str, dict[str, list[str]]]:
    """unit -> imported unit -> the places (file:line) that import it."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _unit(_module_name(path))
        assert source is not None
        for module, line in _imports(path):
            target = _unit(module)
            if target is not None and target != source:
                graph[source][target].append(f"{path.relative_to(ROOT)}:{line}")
    return graph


def _cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Strongly connected components with more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_reader_sees_lazy_imports():
    """Guards the reader itself: a function-level import (pipeline -> checkpoint) is an edge."""
    graph = import_graph()
    assert any("reporter/pipeline.py" in place for place in graph["pipeline.py"]["checkpoint"])
    assert "report" in graph["analysis"] and "tasks" in graph["cli.py"]


def test_no_two_parts_of_reporter_import_each_other():
    graph = import_graph()
    problems = []
    for component in _cycles(graph):
        members = set(component)
        edges = [f"{a} -> {b} ({', '.join(graph[a][b][:3])})" for a in component for b in graph[a] if b in members]
        problems.append("cycle between " + ", ".join(component) + ":\n    " + "\n    ".join(edges))
    assert not problems, "\n".join(problems)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b": ["x"]}, "b": {"c": ["y"]}, "c": {"a": ["z"]}, "d": {"a": ["w"]}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b": ["x"]}, "b": {}}) == []


def test_the_report_model_imports_only_pydantic_and_the_standard_library():
    allowed = set(sys.stdlib_module_names) | {"pydantic", "pydantic_core"}
    problems = []
    for path in sorted((PACKAGE / "report").rglob("*.py")):
        for module, line in _imports(path):
            top = module.split(".")[0]
            if module.startswith("reporter.report") or top in allowed:
                continue
            problems.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    assert not problems, "\n".join(problems)

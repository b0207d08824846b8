"""Templates and renderers compute nothing: every number a report prints is in its model, computed by
the analyses (README "Layout"). The templates' syntax trees and the renderers' Python are scanned for
arithmetic, aggregation and positional pairing; formatting is allowed (string concatenation with `~`,
a rule or an indent repeated with `"=" * 80`, the display filters of reporter/render/environment.py).
"""

from __future__ import annotations

import ast
import inspect
import typing
from pathlib import Path

import jinja2
from jinja2 import nodes

from reporter.render.environment import environment
from reporter.report.base import ReportModel

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
RENDER = ROOT / "reporter" / "render"

_ARITHMETIC = (nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.Pow, nodes.Neg)
_AGGREGATING_FILTERS = {"sum", "max", "min", "round", "abs", "sort"}
_COUNTING_FILTERS = {"length", "count"}
_SUBSET_FILTERS = {"select", "reject", "selectattr", "rejectattr", "unique", "map", "batch", "slice"}
#: Value tests that decide what is shown (`reject("in", ["weight", "bias"])`) belong to the analyses;
#: grouping by an attribute the model holds (`selectattr("severity", ...)`) is presentation.
_DECIDING_FILTERS = {"select", "reject"}


def _is_string(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Const) and isinstance(node.value, str)


def _template_problems(source: str) -> list[tuple[int, str]]:
    """(line, what) for each computation in one template."""
    tree = environment("html").parse(source)
    subsets = {node.target.name for node in tree.find_all(nodes.Assign)
               if isinstance(node.target, nodes.Name) and _takes_subset(node.node)}
    problems = []
    for node in tree.find_all(nodes.Node):
        what = None
        if isinstance(node, nodes.Neg):
            if not isinstance(node.node, nodes.Const):  # xs[-1] is the last item, not a computation
                what = "arithmetic (Neg)"
        elif isinstance(node, _ARITHMETIC):
            if not (isinstance(node, nodes.Mul) and (_is_string(node.left) or _is_string(node.right))):
                what = f"arithmetic ({type(node).__name__})"
        elif isinstance(node, nodes.Filter) and node.name in _AGGREGATING_FILTERS:
            what = f"aggregation (|{node.name})"
        elif isinstance(node, nodes.Filter) and node.name in _DECIDING_FILTERS:
            what = f"a value test deciding what is shown (|{node.name})"
        elif isinstance(node, nodes.Filter) and node.name in _COUNTING_FILTERS and node.node is not None and (
                _takes_subset(node.node) or any(n.name in subsets for n in node.node.find_all(nodes.Name))
                or (isinstance(node.node, nodes.Name) and node.node.name in subsets)):
            what = f"counting a subset (|{node.name})"
        elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name in (
                "sum", "max", "min", "range", "len", "abs", "round"):
            what = f"{node.node.name}()"
        elif isinstance(node, nodes.Getitem) and any(
                isinstance(n, nodes.Name) and n.name == "loop" for n in node.arg.find_all(nodes.Name)):
            what = "positional pairing (list[loop.index0])"
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Name) and node.arg.name == "loop":
            what = "positional pairing (list[loop...])"
        if what:
            problems.append((node.lineno, what))
    return problems


def _takes_subset(node: nodes.Node) -> bool:
    return any(isinstance(n, nodes.Filter) and n.name in _SUBSET_FILTERS for n in node.find_all(nodes.Filter)) or (
        isinstance(node, nodes.Filter) and node.name in _SUBSET_FILTERS)


def _templates() -> list[Path]:
    # index_sort.js.j2 is the index page's sorting script, inlined as text (never rendered by Jinja).
    return sorted(p for p in TEMPLATES.rglob("*.j2") if not p.name.endswith(".js.j2"))


def test_templates_compute_nothing():
    problems = [f"{path.relative_to(ROOT)}:{line}: {what}" for path in _templates()
                for line, what in _template_problems(path.read_text(encoding="utf-8"))]
    assert not problems, "\n".join(problems)


def test_the_template_scanner_finds_computations():
    found = {what.split(" (")[0].split("(")[0] for _, what in _template_problems(
        '{{ a + b }}{{ xs | sum(attribute="n") }}{{ xs | selectattr("s", "ne", "d") | list | length }}'
        '{% set hits = xs | rejectattr("s") | list %}{{ hits | length }}{% for x in xs %}{{ ys[loop.index0] }}'
        '{% endfor %}{% for i in range(3) %}{% endfor %}{{ xs | reject("in", ["w"]) | list }}{{ n * 100 }}')}
    assert found == {"arithmetic", "aggregation", "counting a subset", "positional pairing", "range",
                     "a value test deciding what is shown"}
    assert _template_problems('{{ "=" * 80 }}{{ "  " * m.depth ~ m.name }}{{ xs | length }}{{ a ~ b }}'
                              '{% for f in xs | selectattr("s", "equalto", "x") %}{{ f }}{% endfor %}') == []


# --- renderers (Python) ---------------------------------------------------------------------------------


def _numeric_fields() -> set[str]:
    """Names of the number fields of every report model (int or float, alone or in a list)."""
    import reporter.compare.model  # noqa: F401  (the comparison and index models register themselves too)
    import reporter.report.model  # noqa: F401
    import reporter.tasks.model  # noqa: F401

    names: set[str] = set()
    pending = list(ReportModel.__subclasses__())
    while pending:
        model = pending.pop()
        pending += model.__subclasses__()
        for name, info in model.model_fields.items():
            if _has_number(info.annotation):
                names.add(name)
    return names


def _has_number(annotation: object) -> bool:
    if annotation in (int, float):
        return True
    return any(_has_number(arg) for arg in typing.get_args(annotation))


def _model_names() -> set[str]:
    names = set()
    pending = list(ReportModel.__subclasses__())
    while pending:
        model = pending.pop()
        pending += model.__subclasses__()
        names.add(model.__name__)
    return names


class _Scanner(ast.NodeVisitor):
    """Arithmetic and aggregation on numbers read from report models, per function: parameters
    annotated with a report model are the sources; names bound from them (assignments, loops,
    comprehensions) carry their values on."""

    def __init__(self, numeric: set[str], models: set[str]) -> None:
        self.numeric, self.models = numeric, models
        self.problems: list[tuple[int, str]] = []
        self.sources: set[str] = set()  # names holding report objects
        self.values: set[str] = set()  # names holding report numbers

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        saved = (set(self.sources), set(self.values))
        for arg in [*node.args.args, *node.args.kwonlyargs]:
            if arg.annotation is not None and {n.id for n in ast.walk(arg.annotation)
                                               if isinstance(n, ast.Name)} & self.models:
                self.sources.add(arg.arg)
        self.generic_visit(node)
        self.sources, self.values = saved

    def _reads_number(self, node: ast.AST) -> bool:
        """Whether the expression's value comes from a number of a report model."""
        if isinstance(node, ast.Name):
            return node.id in self.values
        if isinstance(node, ast.Attribute) and node.attr in self.numeric and self._from_source(node.value):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len":
            return False  # how many items a list holds: a size, not a sum of its numbers
        if isinstance(node, ast.Call):  # a method's object (chart.series[0].values.index) is not its result
            return any(self._reads_number(arg) for arg in [*node.args, *(k.value for k in node.keywords)])
        return any(self._reads_number(sub) for sub in ast.iter_child_nodes(node))

    def _from_source(self, node: ast.AST) -> bool:
        return any(isinstance(n, ast.Name) and n.id in self.sources | self.values for n in ast.walk(node))

    def _bind(self, target: ast.AST, value: ast.AST) -> None:
        names = [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
        if self._reads_number(value):
            self.values.update(names)
        elif self._from_source(value):
            self.sources.update(names)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        for target in node.targets:
            self._bind(target, node.value)

    def visit_For(self, node: ast.For) -> None:
        self._bind(node.target, node.iter)
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        self._bind(node.target, node.iter)
        self.generic_visit(node)

    def visit_ListComp(self, node: ast.ListComp) -> None:
        for generator in node.generators:  # bind the loop names before the element is read
            self.visit(generator)
        self.visit(node.elt)

    visit_GeneratorExp = visit_SetComp = visit_ListComp  # type: ignore[assignment]

    def visit_BinOp(self, node: ast.BinOp) -> None:
        text = isinstance(node.op, (ast.Add, ast.Mult)) and (_is_text(node.left) or _is_text(node.right))
        if not text and (self._reads_number(node.left) or self._reads_number(node.right)):
            self.problems.append((node.lineno, ast.unparse(node)))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in ("sum", "max", "min", "abs", "round") and any(
                self._reads_number(arg) for arg in node.args):
            self.problems.append((node.lineno, ast.unparse(node)))
        self.generic_visit(node)


def _is_text(node: ast.AST) -> bool:
    """A string expression: `"a" + b` joins text and `"  " * depth` indents, neither computes a figure."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join":
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
        return _is_text(node.left) or _is_text(node.right)
    return isinstance(node, ast.IfExp) and _is_text(node.body) and _is_text(node.orelse)


#: Geometry, not figures: where a chart's axis ends and where a label sits next to its bar follow from
#: the largest value drawn (matplotlib would autoscale the same way). Each entry is one expression.
ALLOWED_LAYOUT = {
    ("charts.py", "max(values)"): "the bar chart's x axis ends past the longest bar",
    ("charts.py", "v + peak * 0.01"): "a bar's value label starts just past the bar",
    ("charts.py", "peak * 0.01"): "the label's gap from its bar",
    ("charts.py", "peak * 1.32"): "room for the value labels right of the longest bar",
    ("charts.py", "max([top, *series.values])"): "the line chart's y axis covers every point",
    ("charts.py", "top * 1.08"): "headroom above the highest point",
    ("charts.py", "max(top, chart.threshold)"): "the y axis covers the threshold line",
    ("charts.py", "start + width"): "a stacked segment starts where the one before it ends",
    ("charts.py", "end * 1.01"): "a stacked bar's total label starts just past the bar",
    ("charts.py", "max([*ends, chart.threshold or 0.0]) * 1.25"): "room for the total labels and the threshold",
    ("charts.py", "max([*ends, chart.threshold or 0.0])"): "the x axis covers the longest bar and the threshold",
}


def _renderer_problems(path: Path, source: str) -> list[tuple[int, str]]:
    scanner = _Scanner(_numeric_fields(), _model_names())
    scanner.visit(ast.parse(source))
    return [(line, text) for line, text in scanner.problems if (path.name, text) not in ALLOWED_LAYOUT]


def test_renderers_compute_nothing():
    problems = [f"{path.relative_to(ROOT)}:{line}: {text}" for path in sorted(RENDER.glob("*.py"))
                for line, text in _renderer_problems(path, path.read_text(encoding="utf-8"))]
    assert not problems, "\n".join(problems)


def test_the_renderer_scanner_finds_computations():
    source = inspect.cleandoc('''
        def draw(chart: Chart, step: FlowStep, box: Box) -> str:
            total = sum(step.member_params)
            values = chart.series[0].values
            shares = [v / max(values) for v in values]
            width = box.w - 2 * PAD
            return f"{total} {len(step.children) * LINE} {width}"
    ''')
    found = [text for _, text in _renderer_problems(Path("x.py"), source)]
    assert found == ["sum(step.member_params)", "v / max(values)", "max(values)"]


def test_the_allowed_layout_expressions_are_still_there():
    """An allow-list entry whose expression is gone is stale: remove it."""
    sources = {path.name: ast.unparse(ast.parse(path.read_text(encoding="utf-8"))) for path in RENDER.glob("*.py")}
    assert [key for key in ALLOWED_LAYOUT if key[1] not in sources[key[0]]] == []


def test_jinja_is_the_parser_the_templates_use():
    assert isinstance(environment("terminal"), jinja2.Environment)

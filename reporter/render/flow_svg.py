"""SVG rendering of the flow section: a self-contained diagram (no script, no external font).

Layout: stages are horizontal bands from top to bottom. Before the repeated blocks the main path
(embeddings) runs in the left column and the conditioning path in the right column; the folded
block is one box with its ×N badge and the inner sequence of one instance, and side inputs such as
the condition vector run down a bus into the inner rows that read them. Edges between
non-adjacent boxes run along gutters beside the columns, each in its own lane. Colours come from
``currentColor`` and translucent fills so the drawing works on light and dark pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import escape

from reporter.render.escape import visible
from reporter.render.flow_words import params_each, params_in_all
from reporter.report.flow import FlowSection, FlowStep


def _text(content: str) -> str:
    """SVG text or attribute content: markup characters escaped, control characters shown visibly."""
    return str(escape(visible(content)))


FONT = 12
SMALL = 11
CHAR = 0.6 * FONT  # monospace advance width
SMALL_CHAR = 0.6 * SMALL
LINE = 16
SMALL_LINE = 14
PAD = 8
WIDTH = 1000
MAIN_X, MAIN_W = 150, 480
COND_X, COND_W = 686, 284
GAP = 30
LANE = 7
MAX_CHILD_LINES = 6

_STYLE = """
.gf-flow text{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace;
 font-size:12px;fill:currentColor}
.gf-flow .small{font-size:11px}
.gf-flow .bold{font-weight:bold}
.gf-flow .muted{fill-opacity:.72}
.gf-flow .stage-title{font-weight:bold;font-size:12px;letter-spacing:.04em}
.gf-flow .band{fill:currentColor;fill-opacity:.035;stroke:none}
.gf-flow .box{stroke:currentColor;stroke-width:1;fill:currentColor;fill-opacity:.04}
.gf-flow .k-input{fill:#16a34a;fill-opacity:.13}
.gf-flow .k-output{fill:#dc2626;fill-opacity:.12}
.gf-flow .k-module{fill:#2563eb;fill-opacity:.11}
.gf-flow .k-function,.gf-flow .k-chain{fill:currentColor;fill-opacity:.05;stroke-dasharray:4 3}
.gf-flow .k-repeat{fill:#d97706;fill-opacity:.08;stroke-width:1.6}
.gf-flow .row{stroke:currentColor;stroke-opacity:.45;fill:currentColor;fill-opacity:.05}
.gf-flow .badge{fill:#d97706;stroke:none}
.gf-flow .badge-text{fill:#fff;font-weight:bold}
.gf-flow .edge{fill:none;stroke:currentColor;stroke-width:1.2}
.gf-flow .skip{fill:none;stroke:currentColor;stroke-width:1.1;stroke-opacity:.75}
.gf-flow .side{fill:none;stroke:#d97706;stroke-width:1.4;stroke-dasharray:5 3}
.gf-flow .side-text{fill:#b45309}
.gf-flow .arrow{fill:currentColor}
.gf-flow .side-arrow{fill:#d97706}
"""


def _fit(text: str, width: float, char: float = CHAR) -> str:
    """Cut text to the width available, marking the cut with an ellipsis."""
    limit = max(int(width // char), 1)
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def _wrap(text: str, width: float, char: float = CHAR, max_lines: int = 3) -> list[str]:
    limit = max(int(width // char), 8)
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > limit:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = _fit(lines[-1] + " …", width, char)
    return [_fit(line, width, char) for line in lines]


@dataclass
class _Box:
    step: FlowStep
    x: float
    y: float
    w: float
    h: float
    column: str  # "main", "cond" or "input"
    order: int = 0  # position within its column
    rows: dict[str, float] = field(default_factory=dict)  # inner row id -> y centre (repeat boxes)
    row_x: float = 0.0


class _Canvas:
    def __init__(self) -> None:
        self.back: list[str] = []
        self.edges: list[str] = []
        self.front: list[str] = []

    def text(self, x: float, y: float, content: str, cls: str = "", anchor: str = "start") -> None:
        attrs = f' class="{cls}"' if cls else ""
        if anchor != "start":
            attrs += f' text-anchor="{anchor}"'
        self.front.append(f'<text x="{x:.1f}" y="{y:.1f}"{attrs}>{_text(content)}</text>')

    def rect(
        self, x: float, y: float, w: float, h: float, cls: str, radius: float = 6, layer: str = "front"
    ) -> None:
        target = self.back if layer == "back" else self.front
        target.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{radius}" class="{cls}"/>'
        )

    def path(self, points: list[tuple[float, float]], cls: str, marker: str = "gf-arrow") -> None:
        d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points)
        end = f' marker-end="url(#{marker})"' if marker else ""
        self.edges.append(f'<path d="{d}" class="{cls}"{end}/>')


# --- box contents -----------------------------------------------------------------------------
def _shape_line(step: FlowStep) -> str:
    return "→ " + ", ".join(t.text for t in step.outputs) if step.outputs else ""


def _child_lines(step: FlowStep) -> list[str]:
    if step.kind == "chain":
        lines = [f"{c.name} → {c.outputs[0].text if c.outputs else ''}" for c in step.children]
    elif step.kind == "module":
        lines = [f"{c.label} → {c.outputs[0].text if c.outputs else ''}" for c in step.children]
    else:
        return []
    if len(lines) > MAX_CHILD_LINES:
        lines = lines[: MAX_CHILD_LINES - 1] + [f"… {len(lines) - MAX_CHILD_LINES + 1} more"]
    return lines


def _input_lines(step: FlowStep, width: float) -> list[tuple[str, str]]:
    lines = [(step.name, "bold"), (step.outputs[0].text + "  " + step.outputs[0].dtype, "")]
    if step.channels:
        lines += [
            (line, "small") for line in _wrap("[" + ", ".join(step.channels) + "]", width, SMALL_CHAR, 2)
        ]
    if step.description:
        lines += [(line, "small muted") for line in _wrap(step.description, width, SMALL_CHAR, 3)]
    return lines


def _box_height(step: FlowStep, width: float) -> float:
    if step.kind == "input":
        lines = _input_lines(step, width - 2 * PAD)
        return 2 * PAD + sum(LINE if cls in ("", "bold") else SMALL_LINE for _, cls in lines)
    if step.kind == "output":
        return 2 * PAD + 2 * LINE + SMALL_LINE * len(_output_lines(step, width))
    children = _child_lines(step)
    return 2 * PAD + 2 * LINE + (SMALL_LINE * len(children) + 4 if children else 0)


def _output_lines(step: FlowStep, width: float) -> list[str]:
    text = step.description
    if step.channels:
        text += " [" + ", ".join(step.channels) + "]"
    return _wrap(text, width - 2 * PAD, SMALL_CHAR, 3) if text.strip() else []


def _draw_box(canvas: _Canvas, box: _Box) -> None:
    step = box.step
    radius = 16 if step.kind in ("input", "output") else 6
    canvas.rect(box.x, box.y, box.w, box.h, f"box k-{step.kind}", radius)
    inner = box.w - 2 * PAD
    y = box.y + PAD + 12
    if step.kind == "input":
        for content, cls in _input_lines(step, inner):
            canvas.text(box.x + PAD, y, content, cls)
            y += LINE if cls in ("", "bold") else SMALL_LINE
        return
    if step.kind == "output":
        canvas.text(box.x + PAD, y, "output", "bold")
        canvas.text(box.x + PAD, y + LINE, ", ".join(t.text for t in step.outputs))
        for k, line in enumerate(_output_lines(step, box.w)):
            canvas.text(box.x + PAD, y + 2 * LINE + k * SMALL_LINE, line, "small muted")
        return
    params = f"{step.params:,} params" if step.kind == "module" and step.params else ""
    canvas.text(box.x + PAD, y, _fit(step.label, inner), "bold")
    shape = _shape_line(step)
    canvas.text(box.x + PAD, y + LINE, _fit(shape, inner - len(params) * CHAR - PAD))
    if params:
        canvas.text(box.x + box.w - PAD, y + LINE, params, "muted", anchor="end")
    for k, line in enumerate(_child_lines(step)):
        canvas.text(
            box.x + PAD + 10,
            y + 2 * LINE + 2 + k * SMALL_LINE,
            _fit(line, inner - 10, SMALL_CHAR),
            "small muted",
        )


# --- repeated block ------------------------------------------------------------------------------
def _repeat_header(step: FlowStep) -> list[str]:
    return [
        f"{step.members[0]} … {step.members[-1]}",
        f"{params_each(step)} · {params_in_all(step)}",
        f"{', '.join(t.text for t in step.inputs[:1])} → {', '.join(t.text for t in step.outputs)}",
    ]


def _repeat_height(step: FlowStep) -> float:
    header = PAD + 12 + LINE * len(_repeat_header(step)) + 12 + 14
    return header + len(step.children) * (SMALL_LINE + 6 + 12) + PAD


def _draw_repeat(canvas: _Canvas, box: _Box) -> None:
    step = box.step
    canvas.rect(box.x, box.y, box.w, box.h, "box k-repeat", 8)
    badge = f"× {step.repeat}"
    bw = len(badge) * CHAR + 16
    canvas.rect(box.x + box.w - bw - PAD, box.y + PAD, bw, 20, "badge", 10)
    canvas.text(box.x + box.w - PAD - bw / 2, box.y + PAD + 14, badge, "badge-text", anchor="middle")
    y = box.y + PAD + 12
    canvas.text(box.x + PAD, y, _fit(step.label, box.w - bw - 3 * PAD), "bold")
    for line in _repeat_header(step):
        y += LINE
        canvas.text(box.x + PAD, y, _fit(line, box.w - 2 * PAD), "muted")
    row_x = box.x + 46
    row_w = box.w - 46 - PAD - 14
    y += 12
    canvas.text(row_x + 34, y + 2, f"inside each block ({step.members[0]} shown):", "small muted")
    y += 14
    box.row_x = row_x
    positions: dict[str, tuple[float, float]] = {}
    for number, child in enumerate(step.children, start=1):
        h = SMALL_LINE + 6
        canvas.rect(row_x, y, row_w, h, "row", 4)
        params = f"{child.params:,}" if child.kind == "module" and child.params else ""
        shape = child.outputs[0].text if child.outputs else ""
        right = f"{shape}  {params}".rstrip()
        canvas.text(
            row_x + 6,
            y + h - 6,
            _fit(f"{number}. {child.label}", row_w - len(right) * SMALL_CHAR - 18, SMALL_CHAR),
            "small",
        )
        canvas.text(row_x + row_w - 6, y + h - 6, right, "small muted", anchor="end")
        positions[child.id] = (y, y + h)
        box.rows[child.id] = y + h / 2
        y += h + 12
    _draw_inner_edges(canvas, box, positions)


def _draw_inner_edges(canvas: _Canvas, box: _Box, positions: dict[str, tuple[float, float]]) -> None:
    """Arrows between consecutive rows; residual and skip inputs run down the left gutter."""
    step = box.step
    order = [c.id for c in step.children]
    entry_y = positions[order[0]][0] - 8 if order else box.y
    lane = 0
    for index, child in enumerate(step.children):
        top, _ = positions[child.id]
        mid = top + (SMALL_LINE + 6) / 2
        for source in child.sources:
            if source in positions and index > 0 and source == order[index - 1]:
                x = box.row_x + 24
                canvas.path([(x, positions[source][1]), (x, top)], "edge")
            elif source in positions or source == step.main_source:
                start_y = positions[source][1] - 4 if source in positions else entry_y
                x = box.row_x - 10 - LANE * (lane % 4)
                lane += 1
                if source == step.main_source and index == 0:
                    canvas.path([(box.row_x + 24, entry_y - 4), (box.row_x + 24, top)], "edge")
                    continue
                start_x = box.row_x if source in positions else box.row_x + 24
                canvas.path([(start_x, start_y), (x, start_y), (x, mid), (box.row_x, mid)], "skip")


# --- layout ---------------------------------------------------------------------------------------
def _stage_steps(section: FlowSection, key: str) -> list[FlowStep]:
    return [s for stage in section.stages if stage.key == key for s in stage.steps]


def _consumers(section: FlowSection) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for stage in section.stages:
        for step in stage.steps:
            for source in step.sources:
                found.setdefault(source, []).append(step.id)
    return found


def _stack(steps: list[FlowStep], x: float, w: float, y: float, column: str, boxes: dict[str, _Box]) -> float:
    """Stack boxes down a column; `order` continues across stages so that a box directly below
    another one in the same column counts as adjacent."""
    first = sum(1 for b in boxes.values() if b.column == column)
    for order, step in enumerate(steps, start=first):
        height = _repeat_height(step) if step.kind == "repeat" else _box_height(step, w)
        boxes[step.id] = _Box(step, x, y, w, height, column, order)
        y += height + GAP
    return y - GAP if steps else y


def _place_inputs(
    steps: list[FlowStep], x: float, w: float, y: float, boxes: dict[str, _Box], per_row: int = 2
) -> float:
    bottom = y
    for start in range(0, len(steps), per_row):
        row = steps[start : start + per_row]
        each = min((w - 12 * (len(row) - 1)) / len(row), 240.0)
        height = max(_box_height(s, each) for s in row)
        for k, step in enumerate(row):
            boxes[step.id] = _Box(step, x + k * (each + 12), y, each, height, "input", start + k)
        y += height + 12
        bottom = y - 12
    return bottom


class _Router:
    """Draws edges between boxes, giving each gutter route its own lane."""

    def __init__(self, canvas: _Canvas, boxes: dict[str, _Box], input_gap: tuple[float, float]) -> None:
        self.canvas = canvas
        self.boxes = boxes
        self.gap_top, self.gap_bottom = input_gap
        self.lanes = {"left": 0, "middle": 0, "right": 0, "gap": 0}
        self.incoming: dict[str, int] = {}

    def lane(self, name: str) -> int:
        self.lanes[name] += 1
        return self.lanes[name] - 1

    def gutter_x(self, column: str, side: str) -> float:
        if column == "cond" and side == "left" or column == "main" and side == "right":
            return MAIN_X + MAIN_W + 14 + LANE * (self.lane("middle") % 5)
        if column == "cond":
            return COND_X + COND_W + 10 + LANE * (self.lane("right") % 3)
        return MAIN_X - 14 - LANE * (self.lane("left") % 6)

    def entry_x(self, target: _Box, total: int) -> float:
        k = self.incoming.get(target.step.id, 0)
        self.incoming[target.step.id] = k + 1
        return target.x + target.w * (k + 1) / (total + 1)

    def edge(self, source: _Box, target: _Box, total_in: int, adjacent: bool) -> None:
        sx = source.x + source.w / 2
        if adjacent:
            tx = self.entry_x(target, total_in)
            if abs(tx - sx) < 1:
                self.canvas.path([(sx, source.y + source.h), (tx, target.y)], "edge")
            else:
                mid = target.y - GAP / 2
                self.canvas.path([(sx, source.y + source.h), (sx, mid), (tx, mid), (tx, target.y)], "edge")
            return
        if source.column == "input":
            lane_y = self.gap_top + 6 + LANE * (self.lane("gap") % 4)
            if target.order == 0:
                tx = self.entry_x(target, total_in)
                self.canvas.path(
                    [(sx, source.y + source.h), (sx, lane_y), (tx, lane_y), (tx, target.y)], "edge"
                )
                return
            gx = self.gutter_x(target.column, "left")
            side_x = target.x if gx < target.x else target.x + target.w
            ty = target.y + 12
            self.canvas.path(
                [(sx, source.y + source.h), (sx, lane_y), (gx, lane_y), (gx, ty), (side_x, ty)], "skip"
            )
            return
        same = source.column == target.column
        side = (
            "left"
            if same and source.column == "main"
            else ("right" if same else ("right" if source.column == "main" else "left"))
        )
        gx = self.gutter_x(source.column if not same else target.column, side)
        sy = source.y + source.h - 10
        ty = target.y + 12
        out_x = source.x if gx < source.x else source.x + source.w
        in_x = target.x if gx < target.x else target.x + target.w
        self.canvas.path([(out_x, sy), (gx, sy), (gx, ty), (in_x, ty)], "skip")


def _side_bus(canvas: _Canvas, boxes: dict[str, _Box], repeat: _Box, section: FlowSection) -> None:
    """The condition vector (or any side input) runs down to every inner row that reads it."""
    for k, side in enumerate(repeat.step.side_inputs):
        source = boxes.get(side.source)
        rows = [repeat.rows[c] for c in side.consumers if c in repeat.rows]
        if source is None:
            continue
        right = repeat.x + repeat.w
        if source.column == "cond" or source.x > right:
            bus_x = min(source.x + 30 + 16 * k, source.x + source.w - 10)
        else:
            bus_x = right + 16 + 10 * k
        start_y = source.y + source.h
        targets = rows or [repeat.y + 20]
        canvas.path([(bus_x, start_y), (bus_x, max(targets))], "side", marker="")
        for y in targets:
            canvas.path([(bus_x, y), (right, y)], "side", marker="gf-side-arrow")
        label = f"{side.label} {side.tensor.text if side.tensor else ''}".strip()
        canvas.text(bus_x + 6, start_y + 14, _fit(label, WIDTH - bus_x - 10, SMALL_CHAR), "small side-text")
        canvas.text(bus_x + 6, start_y + 28, "→ every block", "small side-text")


def flow_to_svg(section: FlowSection) -> str:
    """The flow as a standalone, deterministic SVG document (embeddable inline in HTML)."""
    canvas = _Canvas()
    layout = _place_stages(section, canvas)
    _draw_bands(canvas, layout.bands)
    _draw_boxes(canvas, layout.boxes)
    _draw_edges(canvas, layout, section)
    height = _draw_title_and_notes(canvas, section, layout.bottom)
    return _svg_document(canvas, section, height)


@dataclass
class _Layout:
    """Where every step's box sits, the stage bands behind them, and where the drawing ends."""

    boxes: dict[str, _Box]
    bands: list[tuple[str, float, float, float, float]]  # title, x, y, w, h
    input_gap: tuple[float, float]  # the free strip below the inputs, where edges fan out
    bottom: float


def _place_stages(section: FlowSection, canvas: _Canvas) -> _Layout:
    """Stack the stages top to bottom: inputs, embeddings (conditioning beside them), blocks, output."""
    boxes: dict[str, _Box] = {}
    consumers = _consumers(section)
    conditioning = _stage_steps(section, "conditioning")
    cond_ids = {s.id for s in conditioning}
    inputs = _stage_steps(section, "inputs")
    cond_inputs = [s for s in inputs if consumers.get(s.id) and all(c in cond_ids for c in consumers[s.id])]
    main_inputs = [s for s in inputs if s not in cond_inputs]

    y: float = 48
    bands: list[tuple[str, float, float, float, float]] = []
    top = y
    bottom = _place_inputs(main_inputs + cond_inputs, MAIN_X, COND_X + COND_W - MAIN_X, y + 22, boxes, 4)
    bands.append(("INPUTS", 0, top, WIDTH, bottom + 10 - top))
    input_gap = (bottom, bottom + GAP + 22)
    y = bottom + GAP + 22

    embedding = _stage_steps(section, "embedding") + _stage_steps(section, "body")
    top = y
    end_main = _stack(embedding, MAIN_X, MAIN_W, y + 22, "main", boxes) if embedding else y
    end_cond = _stack(conditioning, COND_X, COND_W, y + 22, "cond", boxes) if conditioning else y
    if embedding or conditioning:
        key = "LAYERS" if _stage_steps(section, "body") else "EMBEDDINGS"
        bands.append((key if embedding else "", 0, top, WIDTH, max(end_main, end_cond) + 10 - top))
        if conditioning:
            canvas.text(COND_X, top + 15, "CONDITIONING", "stage-title")
        y = max(end_main, end_cond) + GAP + 22

    blocks = _stage_steps(section, "blocks")
    if blocks:
        top = y
        end = _stack(blocks, MAIN_X, MAIN_W, y + 22, "main", boxes)
        bands.append(("REPEATED BLOCKS", 0, top, WIDTH, end + 10 - top))
        y = end + GAP + 22
    output = _stage_steps(section, "output")
    top = y
    end = _stack(output, MAIN_X, MAIN_W, y + 22, "main", boxes)
    bands.append(("OUTPUT", 0, top, WIDTH, end + 10 - top))
    return _Layout(boxes=boxes, bands=bands, input_gap=input_gap, bottom=end + 26)


def _draw_bands(canvas: _Canvas, bands: list[tuple[str, float, float, float, float]]) -> None:
    """The shaded band of each stage behind its boxes, with the stage's title."""
    for title, bx, by, bw, bh in bands:
        canvas.rect(bx + 4, by, bw - 8, bh, "band", 4, layer="back")
        if title:
            canvas.text(14, by + 15, title, "stage-title")


def _draw_boxes(canvas: _Canvas, boxes: dict[str, _Box]) -> None:
    for box in boxes.values():
        if box.step.kind == "repeat":
            _draw_repeat(canvas, box)
        else:
            _draw_box(canvas, box)


def _draw_edges(canvas: _Canvas, layout: _Layout, section: FlowSection) -> None:
    """An arrow from each source to the step it feeds; a folded block's side inputs as a bus."""
    boxes = layout.boxes
    router = _Router(canvas, boxes, layout.input_gap)
    for box in boxes.values():
        step = box.step
        sources = [step.main_source] if step.kind == "repeat" and step.main_source else step.sources
        drawn = [s for s in sources if s in boxes]
        for source_id in drawn:
            source = boxes[source_id]
            adjacent = source.column == box.column != "input" and source.order == box.order - 1
            router.edge(source, box, len(drawn), adjacent)
        if step.kind == "repeat":
            _side_bus(canvas, boxes, box, section)


_TITLE_Y = 24


def _draw_title_and_notes(canvas: _Canvas, section: FlowSection, y: float) -> float:
    """The title line at the top, the normalization and notes below the drawing; the document's height."""
    canvas.text(
        14,
        _TITLE_Y,
        f"{section.model_class} · forward pass at batch {section.batch_size} · "
        f"{section.total_params:,} parameters",
        "bold",
    )
    notes = [f"Normalization: {section.normalization.summary}"] + section.notes
    for note in notes:
        for line in _wrap(note, WIDTH - 28, SMALL_CHAR, 4):
            canvas.text(14, y, line, "small muted")
            y += SMALL_LINE
        y += 4
    return y + 10


_DEFS = (
    '<defs><marker id="gf-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
    'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow"/></marker>'
    '<marker id="gf-side-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
    'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="side-arrow"/></marker></defs>'
)


def _svg_document(canvas: _Canvas, section: FlowSection, height: float) -> str:
    """The SVG element around the drawn layers: bands behind, boxes, edges on top."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="gf-flow" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" role="img" '
        f'aria-label="{_text(section.model_class)} data flow">',
        f"<style>{_STYLE}</style>",
        _DEFS,
        *canvas.back,
        *canvas.front,
        *canvas.edges,
        "</svg>",
    ]
    return "\n".join(parts) + "\n"

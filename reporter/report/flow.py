"""Report-section models for the data flow of a forward pass (the JSON form of the flow).

Built by :func:`reporter.flow.structure.build_flow_section` from a traced graph; drawn by the SVG,
Mermaid and terminal renderers, which compute nothing beyond layout.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reporter.report.base import ReportModel

StepKind = Literal["input", "module", "function", "chain", "repeat", "output"]
StageKey = Literal["inputs", "embedding", "conditioning", "blocks", "body", "output"]


class FlowTensor(ReportModel):
    """Shape (with the concrete batch size) and dtype of a tensor flowing between steps."""

    shape: list[int]
    dtype: str
    text: str = Field(description="Shape as printed, e.g. '(512, 2, 5160)'")


class SideInput(ReportModel):
    """A tensor entering a composite or repeated step from outside its main chain (e.g. the
    condition vector feeding every AdaLN of every block)."""

    source: str = Field(description="id of the step producing it")
    label: str
    tensor: FlowTensor | None = None
    consumers: list[str] = Field(default_factory=list, description="ids of inner steps that read it")


class FlowStep(ReportModel):
    """One step of the flow: an input, a module call, a functional step (or a chain of them), a
    folded run of identical blocks, or the output."""

    id: str
    kind: StepKind
    name: str = Field(description="Qualified module name, operation, or input name")
    type: str = Field(description="Module class, operation name, or 'input'/'output'")
    label: str = Field(description="Short text shown in diagrams")
    inputs: list[FlowTensor] = Field(default_factory=list)
    outputs: list[FlowTensor] = Field(default_factory=list)
    params: int = Field(default=0, description="Parameters of the module and its children (one instance)")
    sources: list[str] = Field(default_factory=list, description="ids of the steps feeding this one")
    uses: list[str] = Field(default_factory=list, description="Parameters/buffers read directly")
    channels: list[str] = Field(default_factory=list, description="Semantic channel names")
    description: str = ""
    children: list[FlowStep] = Field(default_factory=list)
    side_inputs: list[SideInput] = Field(default_factory=list)
    main_source: str | None = Field(default=None, description="Source of the main (first) input")
    repeat: int = 1
    members: list[str] = Field(default_factory=list, description="Names of the folded instances")
    member_params: list[int] = Field(default_factory=list)
    member_params_total: int = Field(default=0, description="A folded run: the parameters of all its instances")
    identical: bool = Field(default=True, description="False when folded instances differ in parameters")


class FlowStage(ReportModel):
    """A group of consecutive steps with one role in the forward pass."""

    key: StageKey
    title: str
    steps: list[FlowStep]


class HierarchyRow(ReportModel):
    """One module call or recorded functional step of the full trace (the --verbose listing)."""

    name: str
    type: str
    kind: Literal["module", "function"]
    depth: int
    inputs: list[FlowTensor]
    outputs: list[FlowTensor]
    own_params: int
    uses: list[str] = Field(default_factory=list)


class FlowTableRow(ReportModel):
    """One row of the shape table shown beside the diagram (HTML, Markdown): the steps of every
    stage in order, with one folded block's inner steps at depth 1."""

    stage: str
    depth: int
    step: str
    kind: str
    inputs: str
    outputs: str
    params: str = Field(description="Formatted parameter count ('' when none)")
    note: str = ""


class FlowNormalization(ReportModel):
    """Where input normalization happens (reference §5.2), from the architecture's spec and from
    what the trace saw the forward pass read."""

    where: Literal["forward", "dataloader", "unknown"]
    formula: str | None = None
    buffers: list[str] = Field(default_factory=list)
    note: str = ""
    observed_in_forward: list[str] = Field(
        default_factory=list, description="Functional steps seen reading buffers, as 'op(buffer)'"
    )
    summary: str


class FlowSection(ReportModel):
    """The data flow of one forward pass at a given batch size."""

    model_class: str
    batch_size: int
    total_params: int
    stages: list[FlowStage]
    tokens: FlowTensor | None = Field(
        default=None, description="Main input of the repeated blocks (e.g. (B, L, H) tokens)"
    )
    normalization: FlowNormalization
    table: list[FlowTableRow] = Field(default_factory=list)
    hierarchy: list[HierarchyRow]
    notes: list[str] = Field(default_factory=list)

    def step(self, step_id: str) -> FlowStep | None:
        """Find a step (at any nesting depth) by id."""
        pending = [s for stage in self.stages for s in stage.steps]
        while pending:
            current = pending.pop()
            if current.id == step_id:
                return current
            pending.extend(current.children)
        return None

"""The report model: everything a report shows, as typed data.

Analyses (reporter/analysis/*) fill these objects; renderers (reporter/render/*) and the Jinja2
templates only read them. `SCHEMA_VERSION` changes whenever a field changes meaning or is removed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from reporter.report.base import Chart, Finding, ReportModel, Severity
from reporter.report.checkpoint import CheckpointReport
from reporter.report.flow import FlowSection
from reporter.report.memory import MemorySection
from reporter.report.task import TaskSection

SCHEMA_VERSION = "2.0"

JsonValue = Any  # a value as it appears in YAML/JSON: str, number, bool, None, list


class ToolInfo(ReportModel):
    name: str = "genesis-report"
    version: str
    torch_version: str
    python_version: str


InputRole = Literal["config", "checkpoint", "report", "log"]


class InputFile(ReportModel):
    """A file the report was made from, identified by content so archived reports can be traced."""

    role: InputRole
    path: str
    size_bytes: int
    sha256: str
    sha256_from_cache: bool = Field(default=False, description="sha256 reused from the digest cache, not "
                                    "computed for this report (--verify-digest always computes it)")


class ReportMeta(ReportModel):
    schema_version: str = SCHEMA_VERSION
    tool: ToolInfo
    generated_at: str = Field(description="UTC ISO-8601; taken from SOURCE_DATE_EPOCH when set")
    reproducible: bool = Field(description="True when generated_at came from SOURCE_DATE_EPOCH")
    inputs: list[InputFile]
    options: dict[str, JsonValue] = Field(default_factory=dict, description="Options that shape numbers")
    cached_sections: list[str] = Field(default_factory=list, description="Sections reused from the analysis "
                                       "cache (same inputs, same genesis-report code, same torch)")


ConfigSource = Literal["file", "default", "extension", "inferred", "checkpoint", "weights", "genesis", "option"]
GenesisBasis = Literal["assumed", "config", "option", "weights"]


class ConfigField(ReportModel):
    key: str
    value: JsonValue = Field(description="the value the report's model was built with")
    source: ConfigSource = Field(
        description="file: set in the input; default: GENESIS's dataclass default; extension: a genesis-report "
        "key; inferred: recovered from checkpoint tensors; checkpoint: embedded config; weights: the "
        "checkpoint's weights hold another value than the config (see input_value); genesis: GENESIS's code "
        "builds this whatever the config says (see input_value); option: a command-line option")
    input_value: JsonValue = Field(default=None, description="what the input (or its defaults) said, when "
                                   "source is weights, genesis or option and it differs from value")


class ConfigSection(ReportModel):
    """The resolved GENESIS config, section by section (defaults filled as GENESIS fills them)."""

    source: str = Field(description="Where the config came from: a YAML path, 'checkpoint', 'inferred'")
    experiment_name: str | None
    description: str | None
    top_level: list[ConfigField]
    sections: dict[str, list[ConfigField]]
    set_fields: dict[str, int] = Field(description="per section, how many fields are not at GENESIS's default "
                                       "(set in the input, by the weights, GENESIS's code or an option)")


class KeyValue(ReportModel):
    label: str
    value: JsonValue


class GenesisCode(ReportModel):
    """Which GENESIS code the report's model is: a config does not say; a checkpoint's weights may."""

    version: str | None = Field(description="genesis-report's name for the version, e.g. pmt_dit@27a044fa")
    code: str = Field(description="GENESIS file and commit")
    description: str
    basis: GenesisBasis = Field(
        description="assumed: the default for configs that do not say; config: named in the input; "
        "option: --genesis-version; weights: proven by the checkpoint's keys and shapes")
    basis_text: str


class SummarySection(ReportModel):
    """The seed's "Model Summary": what the model is and how big it is (all figures exact)."""

    model_class: str
    architecture: str
    genesis: GenesisCode | None = Field(default=None, description="Which GENESIS version the model is")
    configuration: list[KeyValue]
    total_parameters: int
    trainable_parameters: int
    frozen_parameters: int
    buffer_count: int
    buffer_elements: int
    buffer_bytes: int
    parameter_dtype: str
    parameter_bytes: int = Field(description="Bytes of all parameters in their own dtype")
    size_fp32_bytes: int
    size_bf16_bytes: int
    size_fp16_bytes: int
    state_dict_keys: int
    state_dict_elements: int = Field(description="Parameters plus buffers, as a checkpoint stores them")
    notes: list[str] = Field(default_factory=list, description="How our implementation differs from GENESIS")


class ParameterGroup(ReportModel):
    name: str
    parameters: int
    tensors: int
    share: float = Field(description="Fraction of all parameters, 0..1")
    members: list[str] = Field(description="Qualified names of the parameter tensors in this group")
    local_names: list[str] = Field(description="Distinct attribute names of those tensors (e.g. pos, in_proj_weight)")
    notable_names: bool = Field(description="Some of those names are not weight or bias (pos, in_proj_weight, "
                                "gate_attn): the terminal lists them")


class ParametersSection(ReportModel):
    """Parameters attributed to their owning module: every parameter counted exactly once."""

    total: int
    total_tensors: int = Field(description="Parameter tensors in all (each table's Tensors column sums to it)")
    by_type: list[ParameterGroup]
    by_top_level: list[ParameterGroup]
    charts: list[Chart]


class ParameterTensor(ReportModel):
    name: str
    shape: list[int]
    dtype: str
    numel: int
    trainable: bool


class ModuleRow(ReportModel):
    name: str = Field(description="Qualified module name; '' is the root")
    type: str
    depth: int
    own_parameters: int
    total_parameters: int
    tensors: list[ParameterTensor]


class ModulesSection(ReportModel):
    """Every module (the seed's --verbose listing), with parameter shapes."""

    rows: list[ModuleRow]


class ChannelValue(ReportModel):
    channel: str
    offset: float
    scale: float


class NormalizationCopy(ReportModel):
    source: str = Field(description="'model' (ModelConfig / buffers) or 'data' (DataConfig)")
    time_transform: str | None
    signal: list[ChannelValue]
    label: list[ChannelValue]


class OffsetScale(ReportModel):
    offset: float | None = Field(description="None where this copy lacks the channel")
    scale: float | None


class NormalizationRow(ReportModel):
    """One channel across the copies: the table every format prints."""

    channel: str
    label: bool = Field(description="An event-label channel (else an input signal channel)")
    values: list[OffsetScale] = Field(description="Each copy's offset and scale, in the order of `copies`")


class NormalizationSection(ReportModel):
    """Offsets and scales with channel names, and where GENESIS applies them."""

    copies: list[NormalizationCopy]
    rows: list[NormalizationRow]
    copies_differ: bool
    applied_in: str = Field(description="'forward' or 'dataloader'")
    formula: str
    explanation: str


ReportSubject = Literal["config", "checkpoint", "module"]


class Report(ReportModel):
    """One report: a config, a checkpoint, or both."""

    meta: ReportMeta
    title: str
    subject: ReportSubject
    findings: list[Finding]
    summary: SummarySection | None = Field(description="None only when no model could be built")
    config: ConfigSection | None
    parameters: ParametersSection | None
    normalization: NormalizationSection | None
    task: TaskSection | None = Field(default=None, description="GENESIS task folder: checkpoints, loss history")
    checkpoint: CheckpointReport | None = None
    memory: MemorySection | None = Field(default=None, description="Traced training-step memory and FLOPs")
    flow: FlowSection | None = Field(default=None, description="Forward-pass data flow traced on fake tensors")
    modules: ModulesSection | None = None

    @property
    def security_findings(self) -> list[Finding]:
        """The findings of severity security (files that ask to run code), shown apart and first."""
        return [f for f in self.findings if f.severity == Severity.security]

    @property
    def other_findings(self) -> list[Finding]:
        """Every finding but the security ones, in the report's order."""
        return [f for f in self.findings if f.severity != Severity.security]

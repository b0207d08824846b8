"""Report sections for checkpoints: training state, optimizer, scheduler, sizes, security, weights.

Filled by ``reporter.checkpoint`` analyses; renderers only read them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from reporter.report.base import Chart, Finding, ReportModel

SuffixSource = Literal["file", "name"]
ModelSource = Literal["embedded-config", "given-config", "inferred", "none"]


class SectionSize(ReportModel):
    """Bytes of the file attributed to one section (tensor storages; 'other' holds the rest)."""

    section: str
    bytes: int
    fraction: float


class FileSummary(ReportModel):
    path: str
    format: str = Field(description="torch-zip, torch-legacy, safetensors or pickle")
    structure: str = Field(description="trainer-checkpoint, state-dict, module, tensors or none")
    size_bytes: int
    sha256: str | None = Field(description="hex digest of the whole file; None when not computed")
    sha256_from_cache: bool = Field(default=False, description="the digest was reused from the digest cache "
                                    "(file unchanged: device, inode, size, mtime, ctime), not computed now")
    top_level: dict[str, str] = Field(default_factory=dict, description="top-level key -> type")
    sections: list[SectionSize] = Field(default_factory=list)
    module_class: str | None = Field(default=None, description="pickled nn.Module class (never imported)")


class TrainingState(ReportModel):
    epoch_stored: int | None = Field(default=None, description="'epoch' as saved: the 0-based loop index")
    epochs_completed: int | None = Field(default=None, description="epoch_stored + 1")
    global_step: int | None = None
    best_loss: float | None = None
    suffix: str | None = Field(default=None, description="best, early_stop, final, ...: from the file when it "
                               "stored one, else from GENESIS's file name")
    suffix_source: SuffixSource | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


class ParamGroupSummary(ReportModel):
    lr: float | None = None
    betas: list[float] | None = None
    eps: float | None = None
    weight_decay: float | None = None
    momentum: float | None = None
    amsgrad: bool | None = None
    n_params: int = 0


class OptimizerSummary(ReportModel):
    type: str
    type_evidence: str = Field(description="why this type was inferred")
    param_groups: list[ParamGroupSummary]
    step_count: int | None = None
    state_tensors: int = 0
    state_bytes: int = 0
    params_with_state: int = 0


class SchedulerSummary(ReportModel):
    type: str
    type_evidence: str
    current_lr: list[float] | None = None
    base_lrs: list[float] | None = None
    last_epoch: int | None = None
    counters: dict[str, Any] = Field(default_factory=dict)


class EarlyStoppingSummary(ReportModel):
    counter: int | None = Field(default=None, description="as stored by GENESIS's EarlyStopping (stops at patience)")
    patience: int | None = None
    best_epoch: int | None = None
    best_score: float | None = None
    min_delta: float | None = Field(default=None, description="as configured (early_stopping_min_delta)")
    min_delta_stored: float | None = Field(default=None, description="as stored: GENESIS negates it for mode min")
    mode: str | None = None
    early_stop: bool | None = None
    best_weights_tensors: int = 0
    best_weights_bytes: int = 0


class ForeignGlobal(ReportModel):
    name: str
    kind: Literal["data-holder", "refused-callable", "module-class", "unknown-callable"]
    references: int
    calls: list[str] = Field(default_factory=list, description="what the pickle tried to call (not run)")


class TensorStats(ReportModel):
    """Statistics of one stored tensor; mean to l2 are over its finite values (None when it has none)."""

    name: str
    dtype: str
    shape: list[int]
    numel: int
    mean: float | None = None
    std: float | None = Field(default=None, description="sample standard deviation (n - 1)")
    min: float | None = None
    max: float | None = None
    l2: float | None = Field(default=None, description="Euclidean norm")
    zero_fraction: float | None = Field(default=None, description="share of exact zeros, 0..1 (None: empty)")
    nan_count: int = 0
    inf_count: int = 0


class ModuleRollup(ReportModel):
    module: str
    tensors: int
    numel: int
    l2: float
    zero_fraction: float
    nan_count: int
    inf_count: int


class WeightHealth(ReportModel):
    method: str = Field(default="", description="how the statistics were computed, in the same words everywhere")
    tensors: list[TensorStats]
    modules: list[ModuleRollup]
    histograms: list[Chart] = Field(default_factory=list)
    total_numel: int
    findings: list[Finding] = Field(default_factory=list)


class WeightDecision(ReportModel):
    """A `model:` value where the weights and the config (or its defaults) disagree: the weights win."""

    key: str
    config_value: Any = Field(description="what the config said, or GENESIS's default when it said nothing")
    weights_value: Any = Field(description="what the state_dict's keys, shapes or buffer values hold (used)")
    stated: bool = Field(description="True when the config stated the value; False when a default applied")


class ModelFromCheckpoint(ReportModel):
    """The model a checkpoint was trained with: its weights decide, the config fills in the rest."""

    source: ModelSource = Field(
        description="where values the weights cannot tell came from")
    architecture: str | None = None
    class_name: str | None = None
    values: dict[str, Any] = Field(default_factory=dict, description="model: section used to build it")
    parameters: int | None = Field(default=None, description="exact parameter count of the built model")
    unrecoverable: list[str] = Field(default_factory=list, description="values the weights cannot tell")
    assumptions: list[str] = Field(default_factory=list)
    decisions: list[WeightDecision] = Field(default_factory=list,
                                            description="config values the weights replaced")
    findings: list[Finding] = Field(default_factory=list, description="missing/unexpected keys, shapes")


class CheckpointReport(ReportModel):
    """Everything checkpoint mode reports, in the order it is shown (security findings first)."""

    security_findings: list[Finding] = Field(default_factory=list)
    file: FileSummary
    training: TrainingState | None = None
    config: dict[str, Any] | None = Field(default=None, description="embedded config as plain values")
    model: ModelFromCheckpoint | None = None
    optimizer: OptimizerSummary | None = None
    scheduler: SchedulerSummary | None = None
    early_stopping: EarlyStoppingSummary | None = None
    foreign_globals: list[ForeignGlobal] = Field(default_factory=list)
    weight_health: WeightHealth | None = None
    findings: list[Finding] = Field(
        default_factory=list,
        description="every non-security finding (reading, model check, weights, optimizer state); "
                    "model and weight_health also keep their own for context")

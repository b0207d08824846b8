"""Report sections for memory and compute: a traced training step's peak by category, and its FLOPs.

Data only: `reporter.analysis.memory_section` fills these from the memory engine. Exact figures
(parameters, gradients, optimizer state, inputs) are sums of known tensor sizes; activations, hence the
peak, are predictions whose error `bench/memory_accuracy.py` measured and each section quotes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reporter.report.base import Chart, Finding, ReportModel

#: How a figure was obtained; the same word in every format.
FigureKind = Literal["exact", "predicted", "measured", "estimate", "assumption", "torch default", "unknown"]


class MemoryPart(ReportModel):
    """A named part of a row (what its note breaks it into), per column."""

    label: str
    fp32: int | None = None
    amp: int | None = None
    same: bool = Field(default=False, description="True when both columns hold the same value (shown once)")


class MemoryRow(ReportModel):
    """One line of the memory table, with both precisions side by side (None: not in that column)."""

    key: str = Field(description="parameters, buffers, gradients, optimizer_state, workspace, input_data, "
                                 "geometry, labels, activations, total, cuda_context, allocator_headroom, required")
    label: str
    figure: FigureKind
    fp32: int | None
    amp: int | None = None
    note: str = ""
    parts: list[MemoryPart] = Field(default_factory=list)
    below_peak: bool = Field(default=False, description="True for lines added to the traced peak (context, "
                                                         "headroom, required)")


class AttentionKernelInfo(ReportModel):
    """The SDPA kernel assumed for one kind of attention call, and why (reporter.memory.predict.AttentionKernel)."""

    kernel: str
    reason: str
    dtype: str
    head_dim: int
    seq_len: int
    dropout: bool


class MemoryEstimate(ReportModel):
    """Peak of one traced step at one precision and batch size (the raw figures behind a table column)."""

    mode: Literal["training", "inference"]
    precision: Literal["fp32", "fp16", "bf16"]
    batch_size: int
    peak_bytes: int
    peak_phase: str = Field(description="forward, backward or optimizer")
    at_peak: dict[str, int] = Field(description="bytes live at the peak, by category")
    attention: list[AttentionKernelInfo] = Field(default_factory=list)


class BatchSweepInfo(ReportModel):
    precision: str
    batch_sizes: list[int]
    peak_bytes: list[int]
    traced: list[bool] = Field(description="True: a traced step; False: read off lines fitted through two "
                                           "traced steps (not covered by the measured accuracy)")
    capacity_bytes: int | None = Field(description="largest traced peak that fits; None: capacity unknown")
    largest_fitting_batch: int | None
    largest_fitting_peak_bytes: int | None


class AccuracyStatement(ReportModel):
    """The measured error of predicted figures, quoted from the committed benchmark record."""

    text: str
    covers: str = Field(default="", description="which figures the measurement covers")
    device: str | None = None
    date: str | None = None
    machine: str | None = None
    configurations: int | None = None
    median_abs_error_pct: float | None = None
    max_abs_error_pct: float | None = None


class ModuleFlops(ReportModel):
    """Forward FLOPs of one top-level module (``(root)``: the model's own code outside its children)."""

    module: str
    forward_flops: int


class FlopsSection(ReportModel):
    """FLOPs of one training step (forward + backward) at the report's batch size."""

    batch_size: int
    precision: str = Field(description="the traced step the FLOPs were counted on")
    attention_kernel: str | None = Field(default=None, description="attention kernel of that step: its "
                                         "backward counts differently (math recomputes nothing, flash does)")
    forward_flops: int
    training_flops: int
    by_module: list[ModuleFlops]
    not_counted_ops: list[str]
    method: str


class MemorySection(ReportModel):
    """Peak memory of a training step on a target, fp32 and mixed precision side by side."""

    target: str
    target_kind: Literal["cpu", "cuda"]
    target_description: str = ""
    target_basis: str = Field(default="", description="why this target: --target, the config's device, a default")
    capacity_bytes: int | None = Field(description="the target's memory; None for a CUDA GPU not named")
    batch_size: int
    training_precision: str = Field(description="the precision GENESIS trains this config with on the target")
    precision_basis: str = Field(default="", description="why: use_amp and how GENESIS applies autocast")
    amp_label: str | None = Field(default=None, description="heading of the mixed-precision column")
    table: list[MemoryRow] = Field(description="the seed's rows with true values; both columns per row")
    fp32: MemoryEstimate
    amp: MemoryEstimate | None = None
    inference: MemoryEstimate | None = None
    sweep: BatchSweepInfo | None = None
    largest_fitting_batch: int | None = None
    largest_fitting_precision: str | None = None
    accuracy: AccuracyStatement
    charts: list[Chart] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    flops: FlopsSection | None = None
    seed_estimate_total_bytes: int | None = Field(
        default=None,
        description="what the seed inspector printed (B·L·hidden·depth activations), for contrast",
    )

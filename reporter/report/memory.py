"""Report sections for memory and compute: a traced training step's peak by category, and its FLOPs.

Exact figures (parameters, gradients, optimizer state, inputs) are sums of known tensor sizes; the rest
(activations, temporaries, hence the peak) are predictions whose error was measured by
``bench/memory_accuracy.py`` and is quoted from its committed record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import Field

from reporter.memory.categories import MEMORY_CATEGORIES
from reporter.report.base import Chart, Finding, ReportModel, Series, Severity

MiB = 1024**2


class MemoryRow(ReportModel):
    """One line of the memory table (the seed's rows, with true values)."""

    label: str
    bytes: int
    exact: bool = Field(description="True: a sum of known tensor sizes; False: predicted by the traced step")
    note: str = ""


class AttentionKernelInfo(ReportModel):
    kernel: str
    reason: str
    dtype: str
    head_dim: int
    seq_len: int
    dropout: bool


class MemoryEstimate(ReportModel):
    """Peak of one traced step at one precision and batch size."""

    mode: Literal["training", "inference"]
    precision: Literal["fp32", "fp16", "bf16"]
    batch_size: int
    peak_bytes: int
    peak_phase: str = Field(description="forward, backward or optimizer")
    at_peak: dict[str, int] = Field(description="bytes live at the peak, by category")
    rows: list[MemoryRow]
    attention: list[AttentionKernelInfo] = Field(default_factory=list)


class BatchSweepInfo(ReportModel):
    precision: str
    batch_sizes: list[int]
    peak_bytes: list[int]
    traced: list[bool]
    capacity_bytes: int
    largest_fitting_batch: int | None
    largest_fitting_peak_bytes: int | None


class AccuracyStatement(ReportModel):
    """The measured error of predicted figures, quoted from the committed benchmark record."""

    text: str
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
    capacity_bytes: int
    cuda_context_bytes: int = Field(description="CUDA context (not part of the traced peak)")
    cuda_context_measured: bool = Field(default=False, description="True: measured on this GPU kind; "
                                        "False: an estimate")
    allocator_headroom_bytes: int = Field(description="assumed caching-allocator headroom above the peak")
    batch_size: int
    training_precision: str = Field(description="the precision the config trains with (training.use_amp)")
    fp32: MemoryEstimate
    amp: MemoryEstimate | None = None
    inference: MemoryEstimate | None = None
    sweep: BatchSweepInfo | None = None
    largest_fitting_batch: int | None = None
    accuracy: AccuracyStatement
    charts: list[Chart] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    flops: FlopsSection | None = None
    seed_estimate_total_bytes: int | None = Field(
        default=None,
        description="what the seed inspector printed (B·L·hidden·depth activations), for contrast",
    )


# -- conversion from the engine --------------------------------------------------------------------
_INPUT_ROWS = {"geom": "Geometry", "label": "Labels"}


def _human(size: float) -> str:
    """Binary units for the notes in the table (the byte counts themselves stay exact in `bytes`)."""
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", MiB), ("KiB", 1024)):
        if abs(size) >= scale:
            return f"{size / scale:,.2f} {unit}"
    return f"{size:,.0f} B"


def _rows(p) -> list[MemoryRow]:
    """The seed's table (plus Buffers) at the peak; rows add up to the total."""
    at = p.at_peak
    inputs = {"Input Data": 0, "Geometry": 0, "Labels": 0}
    for name, size in p.input_bytes.items():
        inputs[_INPUT_ROWS.get(name, "Input Data")] += size
    input_note = ", ".join(f"{k} {_human(v)}" for k, v in p.input_bytes.items())
    grads_note = ""
    if p.mode == "training" and at.get("gradients", 0) != p.gradient_bytes:
        grads_note = f"live at the peak; all gradients together: {_human(p.gradient_bytes)}"
    rows = [
        MemoryRow(label="Parameters", bytes=at.get("parameters", 0), exact=True),
        MemoryRow(label="Buffers", bytes=at.get("buffers", 0), exact=True),
    ]
    if p.mode == "training":
        rows += [
            MemoryRow(label="Gradients", bytes=at.get("gradients", 0), exact=True, note=grads_note),
            MemoryRow(label="Optimizer States", bytes=at.get("optimizer_state", 0), exact=True),
        ]
    if at.get("workspace", 0):
        rows.append(MemoryRow(label="cuBLAS Workspace", bytes=at["workspace"], exact=True,
                              note="the autograd thread's own cuBLAS workspace (torch's default size)"))
    rows += [
        MemoryRow(label="Input Data", bytes=inputs["Input Data"], exact=True, note=input_note),
        MemoryRow(label="Geometry", bytes=inputs["Geometry"], exact=True),
        MemoryRow(label="Labels", bytes=inputs["Labels"], exact=True),
        MemoryRow(
            label="Activations",
            bytes=at.get("saved_activations", 0) + at.get("temporaries", 0),
            exact=False,
            note=f"saved for backward {_human(at.get('saved_activations', 0))}, "
            f"temporaries {_human(at.get('temporaries', 0))}",
        ),
        MemoryRow(label="Total", bytes=p.peak_bytes, exact=False, note=f"peak in {p.peak_phase}"),
    ]
    return rows


def estimate_from_prediction(p) -> MemoryEstimate:
    """Report model of a :class:`reporter.memory.predict.MemoryPrediction`."""
    return MemoryEstimate(
        mode=p.mode,
        precision=p.precision,
        batch_size=p.batch_size,
        peak_bytes=p.peak_bytes,
        peak_phase=p.peak_phase,
        at_peak=dict(p.at_peak),
        rows=_rows(p),
        attention=[
            AttentionKernelInfo(
                kernel=a.kernel,
                reason=a.reason,
                dtype=a.dtype,
                head_dim=a.head_dim,
                seq_len=a.seq_len,
                dropout=a.dropout,
            )
            for a in p.attention
        ],
    )


def accuracy_statement(target_kind: str) -> AccuracyStatement:
    """Quote the committed benchmark record (reporter/memory/measured_accuracy.py)."""
    record = None
    if target_kind == "cuda":
        try:
            from reporter.memory.measured_accuracy_cuda import MEASURED_ACCURACY as record
        except ImportError:
            record = None
    if record is None:
        try:
            from reporter.memory.measured_accuracy import MEASURED_ACCURACY as record
        except ImportError:
            return AccuracyStatement(text="The prediction's error has not been measured in this build.")
    s = record["summary"]
    text = (
        f"Predicted figures: median |error| {s['median_abs_error_pct']:.2f}%, "
        f"max {s['max_abs_error_pct']:.2f}% "
        f"against the measured peak of the same step on {s['configs_ge_40mb']} configurations with peaks "
        f"≥ 40 MB ({record['device']}, {record['machine']}, {record['date']})."
    )
    if target_kind == "cuda" and record["device"] != "cuda":
        text += (
            " For CUDA targets that measurement is on the CPU; the CUDA-specific rules (attention "
            "kernel, foreach optimizer, 512-byte rounding) have not been checked on a GPU in this build."
        )
    return AccuracyStatement(
        text=text,
        device=record["device"],
        date=record["date"],
        machine=record["machine"],
        configurations=s["configs_ge_40mb"],
        median_abs_error_pct=s["median_abs_error_pct"],
        max_abs_error_pct=s["max_abs_error_pct"],
    )


def flops_section(flops, batch_size: int) -> FlopsSection:
    modules = sorted(flops.forward_by_module, key=lambda m: -flops.forward_by_module[m])
    return FlopsSection(
        batch_size=batch_size,
        forward_flops=flops.forward_total,
        training_flops=flops.training_total,
        by_module=[ModuleFlops(module=m, forward_flops=flops.forward_by_module[m]) for m in modules],
        not_counted_ops=list(flops.not_counted_ops),
        method="torch.utils.flop_counter.FlopCounterMode on the traced step "
        "(2 FLOPs per multiply-add; matrix products, convolutions and attention only; the optimizer update "
        "is not counted). Per-module figures are for the forward pass: torch's module tracker cannot split "
        "backward FLOPs by module when a module's inputs need no gradient.",
    )


def _charts(fp32: MemoryEstimate, amp: MemoryEstimate | None, sweep: BatchSweepInfo | None) -> list[Chart]:
    estimates = [e for e in (fp32, amp) if e is not None]
    categories = [e.precision for e in estimates]
    layers = [c for c in MEMORY_CATEGORIES if any(e.at_peak.get(c, 0) for e in estimates)]
    charts = [
        Chart(
            id="memory-by-category",
            title="Peak memory by category (training step)",
            kind="stacked_bar",
            categories=categories,
            unit="bytes",
            x_label="bytes live at the peak",
            series=[
                Series(
                    name=layer.replace("_", " "), values=[float(e.at_peak.get(layer, 0)) for e in estimates]
                )
                for layer in layers
            ],
        )
    ]
    if sweep is not None:
        charts.append(
            Chart(
                id="memory-batch-sweep",
                title=f"Peak memory over batch size ({sweep.precision})",
                kind="line",
                x=[float(b) for b in sweep.batch_sizes],
                x_label="batch size",
                y_label="predicted peak",
                unit="bytes",
                series=[Series(name="predicted peak", values=[float(b) for b in sweep.peak_bytes])],
                threshold=float(sweep.capacity_bytes),
                threshold_label="target capacity for the step",
                log_y=True,
            )
        )
    return charts


def seed_estimate_bytes(model_cfg: Mapping[str, Any], n_params: int, batch_size: int) -> int:
    """The seed inspector's formula (for contrast only): params·4·4 + inputs + B·L·hidden·depth·4."""
    seq = int(model_cfg.get("seq_len", 5160))
    hidden = int(model_cfg.get("hidden", 512))
    depth = int(model_cfg.get("depth", 3))
    batch = batch_size * (2 * seq * 4 + 3 * seq * 4 + int(model_cfg.get("label_dim", 6)) * 4)
    return n_params * 4 * 4 + batch + batch_size * seq * hidden * depth * 4


def build_memory_section(
    spec_or_callables: Any,
    model_cfg: Mapping[str, Any],
    training_cfg: Mapping[str, Any] | None,
    batch_size: int,
    target: Any = "cpu",
    sample_batch: int | None = None,
    *,
    gpu_memory: str | None = None,
    amp_dtype: Literal["fp16", "bf16"] | None = None,
    sweep: bool = True,
    flops: bool = True,
) -> MemorySection:
    """Trace fp32 and mixed precision, a batch sweep, inference and FLOPs; return the report section.

    ``spec_or_callables`` is an ``ArchitectureSpec`` (``build(cfg)``, ``example_inputs(cfg, B)``) or a pair
    ``(build_model: () -> nn.Module, make_inputs: (B) -> dict)``; ``target`` a ``TargetProfile`` or a name.
    """
    from reporter.memory.predict import TrainingTrace
    from reporter.memory.step import OptimizerSpec
    from reporter.memory.sweep import sweep_batch_sizes
    from reporter.memory.targets import TargetProfile, target_from_name

    build, make_inputs = _callables(spec_or_callables, model_cfg)
    training_cfg = training_cfg or {}
    profile = target if isinstance(target, TargetProfile) else target_from_name(str(target), gpu_memory)
    use_amp = bool(training_cfg.get("use_amp", True))
    amp = amp_dtype or ("fp16" if profile.is_cuda else "bf16")
    trace = TrainingTrace(
        build, make_inputs, optimizer=OptimizerSpec.from_training_config(training_cfg), target=profile
    )
    p32 = trace.training(batch_size, "fp32", count_flops=flops)
    pamp = trace.training(batch_size, amp)
    trained = pamp if use_amp else p32
    sweep_result = sweep_batch_sizes(trace, batch_size, trained.precision, main=trained) if sweep else None
    inference = trace.inference(sample_batch, trained.precision) if sample_batch else None

    fp32_est, amp_est = estimate_from_prediction(p32), estimate_from_prediction(pamp)
    sweep_info = BatchSweepInfo(**sweep_result.__dict__) if sweep_result else None
    notes = [
        "Steady-state step (the second): the optimizer state exists; gradients are freed by "
        "zero_grad(set_to_none=True) at the end of each step.",
        f"Optimizer: {trace.optimizer.__class__.__name__}"
        + (" with foreach=True (the CUDA default)" if profile.is_cuda else "")
        + ".",
        f"Mixed precision is traced with autocast ({amp}); GENESIS trains with "
        f"{'fp16 autocast on CUDA' if use_amp else 'fp32 (use_amp false)'}. GradScaler and gradient "
        "clipping add only per-parameter scalars and are not traced.",
    ]
    if profile.is_cuda:
        notes.append(
            f"CUDA allocations are rounded up to {profile.allocation_rounding} bytes. The CUDA context "
            f"({profile.cuda_context_bytes / MiB:.0f} MiB) "
            + ("was measured on an H200 (torch 2.11, CUDA 13.0) after a training step's kernels were "
               "loaded; other drivers and CUDA versions differ by tens of MiB"
               if profile.context_measured else "is an estimate that was not measured on this GPU")
            + f"; the allocator headroom ({profile.headroom_fraction:.0%} of the peak) is an assumption. "
            "Both are shown separately from the traced peak."
        )
    findings = []
    kernels = {a.kernel for a in trained.attention}
    if "math" in kernels:
        findings.append(
            Finding(
                severity=Severity.warning,
                code="memory.attention-math",
                message="attention falls back to the math kernel, which stores B·heads·L² "
                "scores: " + trained.attention[0].reason,
                # the usual causes: attention dropout (CPU) or a head_dim the fused kernels refuse
                where="model.dropout" if trained.attention[0].dropout and not profile.is_cuda else "model.heads",
            )
        )
    if sweep_result is not None and sweep_result.largest_fitting_batch is None:
        findings.append(
            Finding(
                severity=Severity.warning,
                code="memory.does-not-fit",
                message=f"a training step does not fit {profile.name} even at batch size 1",
            )
        )
    elif sweep_result is not None and sweep_result.largest_fitting_batch < batch_size:
        findings.append(
            Finding(
                severity=Severity.warning,
                code="memory.batch-too-large",
                message=f"batch size {batch_size} does not fit {profile.name}; the largest that "
                f"fits is {sweep_result.largest_fitting_batch}",
                where="data.batch_size",
            )
        )
    n_params = sum(p.numel() for p in trace.model.parameters())
    return MemorySection(
        target=profile.name,
        target_kind="cuda" if profile.is_cuda else "cpu",
        target_description=profile.description,
        capacity_bytes=profile.memory_bytes,
        cuda_context_bytes=profile.cuda_context_bytes,
        cuda_context_measured=profile.context_measured,
        allocator_headroom_bytes=profile.headroom_bytes(trained.peak_bytes),
        batch_size=batch_size,
        training_precision=trained.precision,
        fp32=fp32_est,
        amp=amp_est,
        inference=estimate_from_prediction(inference) if inference else None,
        sweep=sweep_info,
        largest_fitting_batch=sweep_result.largest_fitting_batch if sweep_result else None,
        accuracy=accuracy_statement("cuda" if profile.is_cuda else "cpu"),
        charts=_charts(fp32_est, amp_est, sweep_info),
        notes=notes,
        findings=findings,
        flops=flops_section(p32.flops, batch_size) if p32.flops else None,
        seed_estimate_total_bytes=seed_estimate_bytes(model_cfg, n_params, batch_size),
    )


def _callables(spec_or_callables: Any, model_cfg: Mapping[str, Any]) -> tuple[Callable, Callable]:
    if isinstance(spec_or_callables, tuple):
        return spec_or_callables
    spec = spec_or_callables
    return (lambda: spec.build(model_cfg)), (lambda b: spec.example_inputs(model_cfg, b))

"""The memory section: a training step traced on fake tensors, for the hardware and precision GENESIS trains with.

GENESIS runs its step in `torch.autocast('cuda')` with a GradScaler when `training.use_amp` is true: fp16 on
a GPU, and plain fp32 on a CPU, where that autocast does nothing (reference §6). So a CUDA target gets an
fp32 and an fp16 column (the trained one marked), a CPU target only fp32 (plus CPU autocast when asked with
`--amp-dtype`, labelled as not what GENESIS runs). Every row holds both columns and says how its figure
was obtained, in the same words for every format.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from reporter.memory.categories import MEMORY_CATEGORIES
from reporter.report.base import Chart, Finding, Series, Severity
from reporter.report.memory import (
    AccuracyStatement,
    AttentionKernelInfo,
    BatchSweepInfo,
    FlopsSection,
    MemoryEstimate,
    MemoryPart,
    MemoryRow,
    MemorySection,
    ModuleFlops,
)

if TYPE_CHECKING:  # the engine imports torch: the analysis imports it only when it traces
    from reporter.memory.predict import MemoryPrediction, TrainingTrace
    from reporter.memory.step import Precision
    from reporter.memory.sweep import BatchSweep
    from reporter.memory.targets import TargetProfile

MiB = 1024**2
_INPUT_ROWS = {"geom": "geometry", "label": "labels"}
_INPUT_WORDS = {"x_sig_t": "x_sig_t (noisy signal)", "x_sig": "x_sig (noisy signal)", "t": "t (timesteps)",
                "target": "target (the noise ε the loss compares with)"}
_ACCURACY_COVERS = ("the traced steps: the predicted rows of the table, the traced points of the batch sweep and "
                    "the largest fitting batch; sweep points read off the fitted lines are not covered")


def analyse_memory(
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
    parallel: bool = True,
) -> MemorySection:
    """Trace the training step GENESIS runs (and fp32 or mixed precision beside it), a batch sweep,
    inference and FLOPs; return the report section.

    ``spec_or_callables`` is an ``ArchitectureSpec`` or a pair ``(build_model, make_inputs)``; ``target`` a
    ``TargetChoice``, a ``TargetProfile`` or a target name. ``parallel=False`` traces the fp32 step here,
    after the others, instead of in a forked child: without a spare core the child only competes for one,
    and its copied pages cost memory (reporter.pipeline.start_traces has the measurements).
    """
    from reporter.memory.predict import TrainingTrace
    from reporter.memory.step import OptimizerSpec
    from reporter.memory.sweep import sweep_batch_sizes
    from reporter.memory.target_choice import TargetChoice
    from reporter.memory.targets import TargetProfile, target_from_name
    from reporter.memory.worker import Forked

    if isinstance(target, TargetChoice):
        profile, basis = target.profile, target.basis
    elif isinstance(target, TargetProfile):
        profile, basis = target, "given"
    else:
        profile, basis = target_from_name(str(target), gpu_memory), f"chosen with --target {target}"
    build, make_inputs = _callables(spec_or_callables, model_cfg)
    training_cfg = training_cfg or {}
    use_amp = bool(training_cfg.get("use_amp", True))
    trained, amp, amp_label, precision_basis = _precisions(profile.is_cuda, use_amp, amp_dtype)
    optimizer = OptimizerSpec.from_training_config(training_cfg)

    def fp32_step() -> MemoryPrediction:
        trace32 = TrainingTrace(build, make_inputs, optimizer=optimizer, target=profile)
        return trace32.training(batch_size, "fp32", count_flops=flops and trained == "fp32")

    # The fp32 and mixed-precision steps are independent: with a mixed-precision column the fp32 step runs
    # in a forked child (its own model and warm-up) while this process traces the other steps.
    if amp and parallel:
        import torch._dynamo  # noqa: F401 - fake tensors need it: imported here once, not in each process
    fp32_job = Forked(fp32_step, fork=parallel) if amp else None
    trace = TrainingTrace(build, make_inputs, optimizer=optimizer, target=profile)
    pamp = trace.training(batch_size, amp, count_flops=flops and trained == amp) if amp else None
    p32 = fp32_job.result() if fp32_job is not None else trace.training(batch_size, "fp32",
                                                                        count_flops=flops and trained == "fp32")
    main = p32 if pamp is None or trained == "fp32" else pamp
    sweep_result = sweep_batch_sizes(trace, batch_size, main.precision, main=main) if sweep else None
    inference = trace.inference(sample_batch, main.precision) if sample_batch else None

    fp32_est = estimate_from_prediction(p32)
    amp_est = estimate_from_prediction(pamp) if pamp else None
    sweep_info = BatchSweepInfo(**sweep_result.__dict__) if sweep_result else None
    parameter_bytes = sum(p.numel() * p.element_size() for p in trace.model.parameters())
    n_params = sum(p.numel() for p in trace.model.parameters())
    return MemorySection(
        target=profile.name,
        target_kind="cuda" if profile.is_cuda else "cpu",
        target_description=profile.description,
        target_basis=basis,
        capacity_bytes=profile.memory_bytes if profile.capacity_known else None,
        batch_size=batch_size,
        training_precision=main.precision,
        precision_basis=precision_basis,
        amp_label=amp_label,
        table=memory_table(p32, pamp, profile, parameter_bytes),
        fp32=fp32_est,
        amp=amp_est,
        inference=estimate_from_prediction(inference) if inference else None,
        sweep=sweep_info,
        largest_fitting_batch=sweep_result.largest_fitting_batch if sweep_result else None,
        largest_fitting_precision=main.precision if sweep_result and sweep_result.largest_fitting_batch else None,
        accuracy=accuracy_statement("cuda" if profile.is_cuda else "cpu"),
        charts=_charts(fp32_est, amp_est, main.precision, sweep_info),
        notes=_notes(trace, profile),
        findings=_findings(main, sweep_result, profile, batch_size),
        flops=flops_section(main, batch_size) if main.flops else None,
        seed_estimate_total_bytes=seed_estimate_bytes(model_cfg, n_params, batch_size),
    )


def _precisions(cuda: bool, use_amp: bool, amp_dtype: Literal["fp16", "bf16"] | None
                ) -> tuple[Precision, Precision | None, str | None, str]:
    """(trained precision, mixed precision to trace or None, its column heading, why)."""
    if cuda:
        amp: Literal["fp16", "bf16"] = amp_dtype or "fp16"
        if use_amp:
            basis = (f"use_amp: true: GENESIS runs its step in torch.autocast('cuda') with a GradScaler, "
                     f"{'fp16 (autocast' + chr(39) + 's default)' if amp == 'fp16' else amp + ' (--amp-dtype)'}")
            return amp, amp, None, basis
        return "fp32", amp, f"AMP {amp} (if use_amp were true)", "use_amp: false: GENESIS trains in fp32"
    basis = ("GENESIS wraps its step in torch.autocast('cuda'), which does nothing on a CPU: it trains in fp32 "
             "there" if use_amp else "use_amp: false: GENESIS trains in fp32")
    if amp_dtype:
        return "fp32", amp_dtype, f"{amp_dtype} CPU autocast (--amp-dtype; not what GENESIS runs)", basis
    return "fp32", None, None, basis


def estimate_from_prediction(p: MemoryPrediction) -> MemoryEstimate:
    """Report model of a :class:`reporter.memory.predict.MemoryPrediction`."""
    return MemoryEstimate(
        mode=p.mode, precision=p.precision, batch_size=p.batch_size, peak_bytes=p.peak_bytes,
        peak_phase=p.peak_phase, at_peak=dict(p.at_peak),
        attention=[AttentionKernelInfo(**asdict(a)) for a in p.attention],
    )


class _Columns(TypedDict):
    """A row's figure in both columns (None: no mixed-precision column)."""

    fp32: int | None
    amp: int | None


def _both(p32: MemoryPrediction, pamp: MemoryPrediction | None,
          value: Callable[[MemoryPrediction], int]) -> _Columns:
    return {"fp32": value(p32), "amp": value(pamp) if pamp is not None else None}


def memory_table(p32: MemoryPrediction, pamp: MemoryPrediction | None, profile: TargetProfile,
                 parameter_bytes: int) -> list[MemoryRow]:
    """The seed's rows (plus Buffers and, on CUDA, the lines added to the traced peak), both columns each."""
    columns = [p for p in (p32, pamp) if p is not None]

    def both(value: Callable[[MemoryPrediction], int]) -> _Columns:
        return _both(p32, pamp, value)

    def at(category: str) -> _Columns:
        return both(lambda p: p.at_peak.get(category, 0))

    def data_input(name: str) -> _Columns:  # an input of the step every column has
        return both(lambda p: p.input_bytes[name])

    def other_input(name: str) -> _Columns:  # geometry, labels: not every model takes them
        return both(lambda p: p.input_bytes.get(name, 0))

    def part(label: str, values: _Columns) -> MemoryPart:
        return MemoryPart(label=label, **values, same=pamp is None or values["fp32"] == values["amp"])

    rows = [MemoryRow(key="parameters", label="Parameters", figure="exact", **at("parameters"))]
    if profile.is_cuda and p32.at_peak.get("parameters", 0) != parameter_bytes:
        rows[0].note = "each tensor rounded up to 512 bytes by the CUDA caching allocator"
        rows[0].parts = [part("unrounded (the summary's size)", both(lambda p: parameter_bytes))]
    rows.append(MemoryRow(key="buffers", label="Buffers", figure="exact", **at("buffers")))
    if p32.mode == "training":
        rows.append(MemoryRow(
            key="gradients", label="Gradients", figure="exact", **at("gradients"),
            note="live at the peak (gradients of layers backward has not reached yet do not exist)",
            parts=[part("all gradients once backward completes", both(lambda p: p.gradient_bytes))]))
        rows.append(MemoryRow(key="optimizer_state", label="Optimizer States", figure="exact",
                              **at("optimizer_state")))
    if any(p.at_peak.get("workspace", 0) for p in columns):
        rows.append(MemoryRow(
            key="workspace", label="cuBLAS Workspace", figure="torch default", **at("workspace"),
            note="the autograd thread's own cuBLAS workspace: torch's default size for this GPU "
                 "(CUBLAS_WORKSPACE_CONFIG), live at every step-2 peak measured on an H200"))
    data_names = [n for n in p32.input_bytes if n not in _INPUT_ROWS]
    rows.append(MemoryRow(
        key="input_data", label="Input Data", figure="exact",
        **both(lambda p: sum(p.input_bytes[n] for n in data_names)),
        parts=[part(_INPUT_WORDS.get(n, n), data_input(n)) for n in data_names]))
    for name, key in _INPUT_ROWS.items():
        rows.append(MemoryRow(key=key, label=key.capitalize(), figure="exact", **other_input(name)))
    rows.append(MemoryRow(
        key="activations", label="Activations", figure="predicted",
        **both(lambda p: p.at_peak.get("saved_activations", 0) + p.at_peak.get("temporaries", 0)),
        parts=[part("saved for backward", at("saved_activations")), part("temporaries", at("temporaries"))]))
    phases = ", ".join(f"{p.peak_phase} ({p.precision})" for p in columns)
    rows.append(MemoryRow(key="total", label="Total", figure="predicted", **both(lambda p: p.peak_bytes),
                          note=f"the traced peak, in {phases}"))
    if profile.is_cuda:
        rows += _device_rows(profile, p32, pamp)
    return rows


def _device_rows(profile: TargetProfile, p32: MemoryPrediction, pamp: MemoryPrediction | None) -> list[MemoryRow]:
    """CUDA context, allocator headroom and what must fit: added to the traced peak, never folded into it."""
    def both(value: Callable[[MemoryPrediction], int]) -> _Columns:
        return _both(p32, pamp, value)

    if profile.context_known:
        context = MemoryRow(
            key="cuda_context", label="+ CUDA context", below_peak=True,
            figure="measured" if profile.context_measured else "estimate",
            **both(lambda p: profile.cuda_context_bytes),
            note="measured on an H200 (sm90; torch 2.11, CUDA 13.0) once a training step's kernels loaded; "
                 "other drivers differ by tens of MiB" if profile.context_measured
            else f"not measured on {profile.name}: an estimate")
    else:
        context = MemoryRow(key="cuda_context", label="+ CUDA context", below_peak=True, figure="unknown",
                            fp32=None, amp=None,
                            note="depends on the GPU and driver (704 MiB measured on an H200); name the GPU "
                                 "with --target")
    headroom = MemoryRow(
        key="allocator_headroom", label="+ allocator headroom", figure="assumption", below_peak=True,
        **both(lambda p: profile.headroom_bytes(p.peak_bytes)),
        note=f"{profile.headroom_fraction:.0%} of each column's traced peak for the caching allocator's "
             "fragmentation")
    rows = [context, headroom]
    if profile.context_known:
        rows.append(MemoryRow(
            key="required", label="= Required on the GPU", figure="predicted", below_peak=True,
            **both(lambda p: p.peak_bytes + profile.cuda_context_bytes + profile.headroom_bytes(p.peak_bytes)),
            note="compared with the GPU's memory for the fits / does not fit verdicts"))
    return rows


def accuracy_statement(target_kind: str) -> AccuracyStatement:
    """Quote the committed benchmark record (reporter/memory/measured_accuracy*.py)."""
    record = _measured_record(target_kind)
    if record is None:
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
        text=text, covers=_ACCURACY_COVERS, device=record["device"], date=record["date"],
        machine=record["machine"], configurations=s["configs_ge_40mb"],
        median_abs_error_pct=s["median_abs_error_pct"], max_abs_error_pct=s["max_abs_error_pct"],
    )


def _measured_record(target_kind: str) -> Mapping[str, Any] | None:
    """The CUDA record for a CUDA target when this build has one, else the CPU record, else None."""
    if target_kind == "cuda":
        try:
            from reporter.memory import measured_accuracy_cuda
        except ImportError:
            pass
        else:
            return measured_accuracy_cuda.MEASURED_ACCURACY
    try:
        from reporter.memory import measured_accuracy
    except ImportError:
        return None
    return measured_accuracy.MEASURED_ACCURACY


def flops_section(prediction: MemoryPrediction, batch_size: int) -> FlopsSection:
    """FLOPs counted on the traced step GENESIS trains with (its attention kernel changes the backward)."""
    flops = prediction.flops
    if flops is None:
        raise ValueError("flops_section needs a step traced with count_flops=True")
    modules = sorted(flops.forward_by_module, key=lambda m: -flops.forward_by_module[m])
    kernels = sorted({a.kernel for a in prediction.attention})
    return FlopsSection(
        batch_size=batch_size,
        precision=prediction.precision,
        attention_kernel=", ".join(kernels) or None,
        forward_flops=flops.forward_total,
        training_flops=flops.training_total,
        by_module=[ModuleFlops(module=m, forward_flops=flops.forward_by_module[m]) for m in modules],
        not_counted_ops=list(flops.not_counted_ops),
        method="torch.utils.flop_counter.FlopCounterMode on the traced step "
        "(2 FLOPs per multiply-add; matrix products, convolutions and attention only; the optimizer update "
        "is not counted). The attention kernel changes the count: flash attention's backward recomputes "
        "the scores, the math kernel keeps them. Per-module figures are for the forward pass: torch's module "
        "tracker cannot split backward FLOPs by module when a module's inputs need no gradient.",
    )


def _notes(trace: TrainingTrace, profile: TargetProfile) -> list[str]:
    return [
        "Steady-state step (the second): the optimizer state exists; gradients are freed by "
        "zero_grad(set_to_none=True) at the end of each step.",
        f"Optimizer: {trace.optimizer.__class__.__name__}"
        + (" with foreach=True (the CUDA default)" if profile.is_cuda else "")
        + ". GradScaler and gradient clipping add only per-parameter scalars and are not traced.",
    ]


def _findings(main: MemoryPrediction, sweep_result: BatchSweep | None, profile: TargetProfile,
              batch_size: int) -> list[Finding]:
    findings: list[Finding] = []
    kernels = {a.kernel for a in main.attention}
    if "math" in kernels:
        findings.append(Finding(
            severity=Severity.warning, code="memory.attention-math",
            message=f"attention falls back to the math kernel in {main.precision}, which stores B·heads·L² "
                    "scores: " + main.attention[0].reason,
            # the usual causes: attention dropout (CPU) or a head_dim the fused kernels refuse
            where="model.dropout" if main.attention[0].dropout and not profile.is_cuda else "model.heads"))
    if sweep_result is None or sweep_result.capacity_bytes is None:
        return findings
    if sweep_result.largest_fitting_batch is None:
        findings.append(Finding(
            severity=Severity.error, code="memory.does-not-fit",
            message=f"a {main.precision} training step does not fit {profile.name} even at batch size 1"))
    elif sweep_result.largest_fitting_batch < batch_size:
        findings.append(Finding(
            severity=Severity.error, code="memory.batch-too-large", where="data.batch_size",
            message=f"batch size {batch_size} does not fit {profile.name} in {main.precision}; the largest "
                    f"that fits is {sweep_result.largest_fitting_batch:,}"))
    return findings


def _charts(fp32: MemoryEstimate, amp: MemoryEstimate | None, trained: str,
            sweep: BatchSweepInfo | None) -> list[Chart]:
    """One bar per precision, each on its own scale (an fp32 math-attention peak must not hide the fp16
    one GENESIS trains with), trained precision first; the sweep on linear axes."""
    estimates = sorted([e for e in (fp32, amp) if e is not None], key=lambda e: e.precision != trained)
    charts = []
    for e in estimates:
        layers = [c for c in MEMORY_CATEGORIES if e.at_peak.get(c, 0)]
        charts.append(Chart(
            id=f"memory-by-category-{e.precision}",
            title=f"Peak memory by category, {e.precision}"
                  + (" (as GENESIS trains)" if e.precision == trained else " (for comparison)"),
            kind="stacked_bar", categories=[e.precision], unit="bytes", x_label="bytes live at the traced peak",
            series=[Series(name=layer.replace("_", " "), values=[float(e.at_peak.get(layer, 0))])
                    for layer in layers],
            totals=[float(sum(e.at_peak.get(layer, 0) for layer in layers))]))
    if sweep is not None:
        traced = [(b, p) for b, p, t in zip(sweep.batch_sizes, sweep.peak_bytes, sweep.traced, strict=True) if t]
        fitted = [(b, p) for b, p, t in zip(sweep.batch_sizes, sweep.peak_bytes, sweep.traced, strict=True)]
        charts.append(Chart(
            id="memory-batch-sweep", title=f"Peak memory over batch size ({sweep.precision})", kind="line",
            x_label="batch size", y_label="traced peak", unit="bytes",
            series=[Series(name="sweep (untraced points read off lines fitted through two traced steps)",
                           x=[float(b) for b, _ in fitted],
                           values=[float(p) for _, p in fitted], style="dashed"),
                    Series(name="traced step", x=[float(b) for b, _ in traced],
                           values=[float(p) for _, p in traced], style="points")],
            threshold=float(sweep.capacity_bytes) if sweep.capacity_bytes is not None else None,
            threshold_label="largest peak that fits the target"))
    return charts


def seed_estimate_bytes(model_cfg: Mapping[str, Any], n_params: int, batch_size: int) -> int:
    """The seed inspector's formula (for contrast only): params·4·4 + inputs + B·L·hidden·depth·4."""
    seq = int(model_cfg.get("seq_len", 5160))
    hidden = int(model_cfg.get("hidden", 512))
    depth = int(model_cfg.get("depth", 3))
    batch = batch_size * (2 * seq * 4 + 3 * seq * 4 + int(model_cfg.get("label_dim", 6)) * 4)
    return n_params * 4 * 4 + batch + batch_size * seq * hidden * depth * 4


def _callables(spec_or_callables: Any, model_cfg: Mapping[str, Any]) -> tuple[Callable, Callable]:
    if isinstance(spec_or_callables, tuple):
        return spec_or_callables
    spec = spec_or_callables
    return (lambda: spec.build(model_cfg)), (lambda b: spec.example_inputs(model_cfg, b))

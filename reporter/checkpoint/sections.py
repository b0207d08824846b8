"""Training state, optimizer, scheduler, early stopping, file sizes and security from a checkpoint.

Only metadata is used here (tensor shapes and dtypes, never their values).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from reporter.checkpoint.names import parse_checkpoint_name
from reporter.checkpoint.reader import CheckpointFile
from reporter.checkpoint.structure import iter_tensors
from reporter.checkpoint.tensors import TensorRef
from reporter.report.base import Finding, Severity
from reporter.report.checkpoint import (
    EarlyStoppingSummary,
    FileSummary,
    ForeignGlobal,
    OptimizerSummary,
    ParamGroupSummary,
    SchedulerSummary,
    SectionSize,
    SuffixSource,
    TrainingState,
)

SECTION_ORDER = ("model", "optimizer", "early-stopping copy", "other")
_JSON_INT = 1 << 63


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond the float range is not a usable figure
        return None


def _integer(value: Any) -> int | None:
    """A 64-bit integer, or None (a larger one cannot be a GENESIS counter and breaks JSON readers)."""
    if isinstance(value, int) and not isinstance(value, bool) and -_JSON_INT <= value < _JSON_INT:
        return int(value)
    return None


def file_summary(ckpt: CheckpointFile) -> FileSummary:
    """Format, size, sha256 and the file's bytes split by section (storages counted once)."""
    totals = dict.fromkeys(SECTION_ORDER, 0)
    for key, section in ckpt.storage_sections.items():
        storage = ckpt.storages.get(key)
        if storage is not None and section != "other":
            totals[section] += storage.nbytes
    totals["other"] = max(ckpt.size_bytes - sum(totals.values()), 0)
    sections = [SectionSize(section=name, bytes=size, fraction=size / ckpt.size_bytes)
                for name, size in totals.items() if size or name == "model"]
    return FileSummary(path=ckpt.path, format=ckpt.format, structure=ckpt.structure,
                       size_bytes=ckpt.size_bytes, sha256=ckpt.sha256, sha256_from_cache=ckpt.sha256_from_cache,
                       top_level=ckpt.top_level,
                       sections=sections, module_class=ckpt.module_class)


def training_state(ckpt: CheckpointFile) -> TrainingState | None:
    """Epoch (0-based as stored, and epochs completed), step, best loss, metrics, metadata."""
    if ckpt.structure != "trainer-checkpoint":
        return None
    epoch = _integer(ckpt.training.get("epoch"))
    stored = ckpt.training.get("suffix")
    named = parse_checkpoint_name(Path(ckpt.path).stem)
    suffix_source: SuffixSource = "file" if stored not in (None, "") else "name"
    suffix = str(stored) if suffix_source == "file" else named.suffix
    return TrainingState(
        epoch_stored=epoch,
        epochs_completed=epoch + 1 if epoch is not None else None,
        global_step=_integer(ckpt.training.get("global_step")),
        best_loss=_number(ckpt.training.get("best_loss")),
        suffix=suffix,
        suffix_source=suffix_source if suffix is not None else None,
        metrics=_jsonable(ckpt.metrics or {}),
        metadata=_jsonable(ckpt.checkpoint_metadata or {}),
    )


def _jsonable(value: Any) -> Any:
    """Plain values for the report: tensors become a short description, integers beyond 64 bits a
    string (JSON readers lose or reject them; the digits are kept exactly up to 100 of them)."""
    if isinstance(value, int) and not isinstance(value, bool) and not -_JSON_INT <= value < _JSON_INT:
        return str(value) if value.bit_length() < 330 else f"<integer of {value.bit_length():,} bits>"
    if isinstance(value, TensorRef):
        return f"tensor{list(value.shape)} {str(value.dtype).removeprefix('torch.')}"
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def config_section(ckpt: CheckpointFile) -> dict[str, Any] | None:
    return _jsonable(ckpt.config) if ckpt.config is not None else None


def infer_optimizer_type(groups: list[dict], states: list[dict], configured: str | None = None,
                         ) -> tuple[str, str]:
    """Name the optimizer from param-group and state keys (no class is stored in a state_dict).

    ``configured`` is the embedded config's ``training.optimizer``; it only decides Adam vs AdamW
    when the keys cannot (torch before ``decoupled_weight_decay`` was added to the param groups).
    """
    group = groups[0] if groups else {}
    state_keys = set().union(*(s.keys() for s in states)) if states else set()
    if "exp_avg" in state_keys or "betas" in group:
        if "decoupled_weight_decay" in group:
            name = "AdamW" if group["decoupled_weight_decay"] else "Adam"
            return name, f"betas + decoupled_weight_decay={group['decoupled_weight_decay']} (torch >= 2.x)"
        if configured in ("Adam", "AdamW"):
            return configured, ("Adam-family state without decoupled_weight_decay key (older torch); "
                                f"type from the embedded config training.optimizer={configured!r}")
        if "amsgrad" in group:
            guess = "AdamW" if (_number(group.get("weight_decay")) or 0) > 0 else "Adam"
            return guess, ("Adam-family state (exp_avg/exp_avg_sq) without decoupled_weight_decay key: "
                           f"Adam vs AdamW guessed from weight_decay={group.get('weight_decay')}")
        return "Adam-family", "exp_avg state"
    if "momentum_buffer" in state_keys or {"momentum", "dampening", "nesterov"} <= set(group):
        return "SGD", "momentum/dampening/nesterov param-group keys"
    if "square_avg" in state_keys or "alpha" in group and "centered" in group:
        return "RMSprop", "square_avg state / alpha+centered keys"
    if "sum" in state_keys or "lr_decay" in group:
        return "Adagrad", "sum state / lr_decay key"
    return "unknown", f"param-group keys {sorted(k for k in group if k != 'params')}"


def optimizer_summary(ckpt: CheckpointFile) -> OptimizerSummary | None:
    opt = ckpt.optimizer
    if not isinstance(opt, dict) or "param_groups" not in opt:
        return None
    groups = [g for g in opt.get("param_groups") or [] if isinstance(g, dict)]
    stored_state = opt.get("state")
    state = stored_state if isinstance(stored_state, dict) else {}
    states = [s for s in state.values() if isinstance(s, dict)]
    training = (ckpt.config or {}).get("training")
    configured = training.get("optimizer") if isinstance(training, dict) else None
    kind, evidence = infer_optimizer_type(groups, states, configured if isinstance(configured, str) else None)
    tensors = [ref for _, ref in iter_tensors(state)]
    steps = [step for s in states if "step" in s and (step := _step_value(s.get("step"))) is not None]
    return OptimizerSummary(
        type=kind, type_evidence=evidence,
        param_groups=[_group_summary(g) for g in groups],
        step_count=max(steps) if steps else None,
        state_tensors=len(tensors), state_bytes=sum(t.nbytes for t in tensors),
        params_with_state=len(states),
    )


def _step_value(step: Any) -> int | None:
    if isinstance(step, TensorRef):
        if step.numel != 1 or step._source is None:
            return None
        return int(step.load().reshape(-1)[0].item())
    number = _number(step)
    return int(number) if number is not None else None


def _group_summary(group: dict) -> ParamGroupSummary:
    betas = group.get("betas")
    params = group.get("params")
    return ParamGroupSummary(
        lr=_number(group.get("lr")),
        betas=[float(b) for b in betas] if isinstance(betas, (list, tuple)) else None,
        eps=_number(group.get("eps")), weight_decay=_number(group.get("weight_decay")),
        momentum=_number(group.get("momentum")),
        amsgrad=group.get("amsgrad") if isinstance(group.get("amsgrad"), bool) else None,
        n_params=len(params) if isinstance(params, (list, tuple)) else 0,
    )


_SCHEDULER_SIGNATURES: list[tuple[str, set[str]]] = [
    ("ReduceLROnPlateau", {"num_bad_epochs", "patience", "factor"}),
    ("CosineAnnealingWarmRestarts", {"T_0", "T_i", "T_mult"}),
    ("CosineAnnealingLR", {"T_max", "eta_min"}),
    ("OneCycleLR", {"total_steps", "_schedule_phases"}),
    ("CyclicLR", {"base_lrs", "max_lrs", "step_size_up"}),
    ("MultiStepLR", {"milestones", "gamma"}),
    ("StepLR", {"step_size", "gamma"}),
    ("LinearLR", {"start_factor", "end_factor", "total_iters"}),
    ("PolynomialLR", {"total_iters", "power"}),
    ("ConstantLR", {"factor", "total_iters"}),
    ("SequentialLR", {"_milestones", "_schedulers"}),
    ("LambdaLR", {"lr_lambdas"}),
    ("ExponentialLR", {"gamma"}),
]
_COUNTER_KEYS = ("last_epoch", "_step_count", "num_bad_epochs", "cooldown_counter", "best", "patience",
                 "factor", "T_max", "eta_min", "step_size", "gamma", "total_iters", "mode", "threshold",
                 "cooldown", "start_factor", "end_factor", "power")


def infer_scheduler_type(state: dict) -> tuple[str, str]:
    keys = set(state)
    for name, signature in _SCHEDULER_SIGNATURES:
        if signature <= keys:
            return name, f"state keys {sorted(signature)}"
    return "unknown", f"state keys {sorted(keys)}"


def scheduler_summary(ckpt: CheckpointFile) -> SchedulerSummary | None:
    state = ckpt.scheduler
    if not isinstance(state, dict):
        return None
    kind, evidence = infer_scheduler_type(state)
    last_lr = state.get("_last_lr")
    base = state.get("base_lrs")
    return SchedulerSummary(
        type=kind, type_evidence=evidence,
        current_lr=[float(x) for x in last_lr] if isinstance(last_lr, (list, tuple)) else None,
        base_lrs=[float(x) for x in base] if isinstance(base, (list, tuple)) else None,
        last_epoch=_integer(state.get("last_epoch")),
        counters={k: _jsonable(state[k]) for k in _COUNTER_KEYS if k in state and k != "last_epoch"},
    )


def early_stopping_summary(ckpt: CheckpointFile) -> EarlyStoppingSummary | None:
    state = ckpt.early_stopping
    if not isinstance(state, dict):
        return None
    weights = [ref for _, ref in iter_tensors(state.get("best_weights"))]
    return EarlyStoppingSummary(
        counter=_integer(state.get("counter")), patience=_integer(state.get("patience")),
        best_epoch=_integer(state.get("best_epoch")), best_score=_number(state.get("best_score")),
        min_delta=_configured_min_delta(_number(state.get("min_delta")), state.get("mode")),
        min_delta_stored=_number(state.get("min_delta")),
        mode=state.get("mode") if isinstance(state.get("mode"), str) else None,
        early_stop=state.get("early_stop") if isinstance(state.get("early_stop"), bool) else None,
        best_weights_tensors=len(weights),
        best_weights_bytes=sum(ref.storage.nbytes for ref in {id(r.storage): r for r in weights}.values()),
    )


def _configured_min_delta(stored: float | None, mode: Any) -> float | None:
    """GENESIS's EarlyStopping stores min_delta negated for mode 'min' (reference §6); undo it."""
    if stored is None:
        return None
    return -stored if mode == "min" else stored


def foreign_globals(ckpt: CheckpointFile) -> list[ForeignGlobal]:
    return [ForeignGlobal(name=g.name, kind=g.kind, references=g.references, calls=list(g.calls))
            for g in sorted(ckpt.foreign_globals, key=lambda g: (g.kind != "refused-callable", g.name))]


def security_findings(ckpt: CheckpointFile) -> list[Finding]:
    """One `security` finding per global outside the allow-list (``checkpoint.allowlist``): loading the
    file with ``torch.load(weights_only=False)`` would import it and build or call it. None was run."""
    findings = []
    for record in ckpt.refused:
        attempted = "; ".join(record.calls[:3]) if record.calls else "referenced, not called"
        findings.append(Finding(
            severity=Severity.security, code="checkpoint.code-execution",
            message=(f"the pickle names {record.name}, which is not on the allow-list of what a checkpoint "
                     "may construct: torch.load(weights_only=False) would import and run it — refused, "
                     f"nothing was executed (attempted: {attempted}). Do not load this file with "
                     "torch.load(weights_only=False)."),
            where=record.name,
        ))
    return findings


def reading_findings(ckpt: CheckpointFile) -> list[Finding]:
    """Non-security notes about the read: unknown callables, parts that could not be read."""
    findings = [Finding(severity=Severity.warning, code="checkpoint.unknown-callable",
                        message=f"the pickle names {g.name}, an unknown function; it was not called",
                        where=g.name)
                for g in ckpt.foreign_globals if g.kind == "unknown-callable"]
    findings += [Finding(severity=Severity.warning, code="checkpoint.partly-unreadable", message=problem,
                         where=ckpt.path) for problem in ckpt.read_problems]
    if ckpt.structure == "module":
        findings.append(Finding(
            severity=Severity.warning, code="checkpoint.pickled-module",
            message=(f"the file is a whole pickled nn.Module of class {ckpt.module_class}; the class was "
                     "not imported, its weights were read from the pickled state"),
            where=ckpt.module_class))
    if ckpt.structure == "trainer-checkpoint" and not math.isfinite(
            _number(ckpt.training.get("best_loss")) or 0.0):
        findings.append(Finding(severity=Severity.info, code="checkpoint.best-loss-inf",
                                message="best_loss is not finite (no evaluation improved on the initial inf)",
                                where="best_loss"))
    return findings

"""The model behind a checkpoint: from the embedded config, a given config, or the weights themselves.

The model is built on the meta device (no memory, no data) and compared with the checkpoint's
state_dict shapes. Without a config, architecture and hyper-parameters come from the zoo's
``infer_model_config``; what the weights cannot tell is listed together with what was assumed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from reporter import limits
from reporter.checkpoint.compare import compare_state_dict
from reporter.checkpoint.reader import CheckpointFile
from reporter.errors import InputError
from reporter.models.defaults import MODEL_DEFAULTS, MODEL_EXTENSION_KEYS
from reporter.models.inference import InferredModel, infer_model_config
from reporter.models.registry import build_model
from reporter.report.base import Finding, Severity
from reporter.report.checkpoint import ModelFromCheckpoint

# Normalization buffers whose values (not shapes) give the config's tuples.
_BUFFER_VALUES = {"affine_offset": "affine_offsets", "affine_scale": "affine_scales",
                  "label_offset": "label_offsets", "label_scale": "label_scales"}


def model_from_checkpoint(ckpt: CheckpointFile, given_config: Mapping[str, Any] | None = None,
                          ) -> ModelFromCheckpoint | None:
    """Build the checkpoint's model and check its weights against it.

    ``given_config`` is a whole GENESIS config (``--config X``); it wins over the embedded one and
    every difference between the two is listed.
    """
    shapes = ckpt.shapes()
    if not shapes:
        return None
    findings: list[Finding] = []
    if all(key.startswith("module.") for key in shapes):  # saved from a DataParallel wrapper
        shapes = {key.removeprefix("module."): shape for key, shape in shapes.items()}
        findings.append(Finding(severity=Severity.info, code="checkpoint.module-prefix",
                                message="state_dict keys carry a DataParallel 'module.' prefix; "
                                        "compared without it"))
    assumptions: list[str] = []
    unrecoverable: list[str] = []
    inferred = _try_infer(shapes, findings)
    embedded = ckpt.config if isinstance(ckpt.config, Mapping) else None
    if given_config is not None:
        # Differences between the given and embedded configs are listed by the pipeline, which
        # compares both after GENESIS's defaults are applied (so only real differences show).
        source, model_cfg = "given-config", dict(given_config.get("model") or {})
    elif embedded is not None and isinstance(embedded.get("model"), Mapping):
        source, model_cfg = "embedded-config", dict(embedded["model"])
    elif inferred is not None:
        source, model_cfg = "inferred", dict(inferred.values)
        model_cfg.update(_buffer_values(ckpt))
        unrecoverable = list(inferred.unrecoverable)
        assumptions = list(inferred.assumptions)
        assumptions += [f"{key}: not recoverable from the weights; GENESIS default {MODEL_DEFAULTS[key]!r} "
                        "assumed" for key in unrecoverable if key in MODEL_DEFAULTS
                        and key not in model_cfg]
    else:
        return ModelFromCheckpoint(source="none", findings=findings)
    if inferred is not None and source != "inferred":
        for key in MODEL_EXTENSION_KEYS:
            if key not in model_cfg and key in inferred.values:
                model_cfg[key] = inferred.values[key]
                assumptions.append(f"{key} = {inferred.values[key]!r}: GENESIS configs do not say; "
                                   "read from the state_dict keys")
    try:
        with torch.device("meta"), limits.build_guard():
            model = build_model(model_cfg)
    except (InputError, TypeError, ValueError, RuntimeError, OverflowError, limits.LimitExceeded) as exc:
        findings.append(Finding(severity=Severity.error, code="checkpoint.model-not-built",
                                message=f"the model could not be built from the {source}: {exc}"))
        return ModelFromCheckpoint(source=source, architecture=str(model_cfg.get("architecture", "dit")),
                                   values=_plain(model_cfg), unrecoverable=unrecoverable,
                                   assumptions=assumptions, findings=findings)
    findings += compare_state_dict(model, shapes)
    return ModelFromCheckpoint(
        source=source, architecture=str(model_cfg.get("architecture", "dit")),
        class_name=type(model).__name__, values=_plain(model_cfg),
        parameters=sum(p.numel() for p in model.parameters()),
        unrecoverable=unrecoverable, assumptions=assumptions, findings=findings)


def _try_infer(shapes: Mapping[str, tuple], findings: list[Finding]) -> InferredModel | None:
    try:
        return infer_model_config(shapes)
    except InputError as exc:
        findings.append(Finding(severity=Severity.warning, code="checkpoint.architecture-unknown",
                                message=f"the state_dict matches no GENESIS architecture: {exc.problem}"))
        return None


def _buffer_values(ckpt: CheckpointFile) -> dict[str, tuple[float, ...]]:
    """Normalization tuples read from the (tiny) buffers, so the rebuilt model matches them."""
    values = {}
    for key, field_name in _BUFFER_VALUES.items():
        ref = ckpt.state_dict.get(key)
        if ref is not None and ref.numel <= 64 and ref._source is not None:
            values[field_name] = tuple(float(v) for v in ref.load().reshape(-1).tolist())
    return values


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): list(v) if isinstance(v, tuple) else v for k, v in values.items()}

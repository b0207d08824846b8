"""The model behind a checkpoint: the weights decide; a config only fills in what weights cannot tell.

A checkpoint's embedded config (or `--config`) may describe another model than the one GENESIS trained:
its factory ignored some YAML values (c-dit), its PMTDit changed between versions without the config
saying so (`pos`), Era A kept constructor defaults in its label buffers. So the values the state_dict's
key names, shapes and normalization buffers prove replace the config's, every difference is listed in
one finding, and every report section is built from the result. Values weights cannot tell (heads,
dropout, seq_len without `pos`, time_transform) come from the config, else GENESIS's defaults.

Models are built on the meta device (no memory, no data) and checked against the state_dict's shapes.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import torch

from reporter import limits
from reporter.checkpoint.compare import compare_state_dict
from reporter.checkpoint.reader import CheckpointFile
from reporter.errors import InputError
from reporter.models.defaults import MODEL_DEFAULTS, MODEL_EXTENSION_KEYS, resolve_model_config
from reporter.models.inference import InferredModel, infer_model_config
from reporter.models.registry import build_model
from reporter.models.versions import resolve_version
from reporter.report.base import Finding, Severity
from reporter.report.checkpoint import ModelFromCheckpoint, ModelSource, WeightDecision

# Normalization buffers whose values (not shapes) give the config's tuples.
_BUFFER_VALUES = {"affine_offset": "affine_offsets", "affine_scale": "affine_scales",
                  "label_offset": "label_offsets", "label_scale": "label_scales"}
_SOURCE_WORDS = {"given-config": "the given config", "embedded-config": "the embedded config"}


def model_from_checkpoint(ckpt: CheckpointFile, given_config: Mapping[str, Any] | None = None,
                          genesis_version: str | None = None, given_name: str | None = None,
                          ) -> ModelFromCheckpoint | None:
    """Build the model the checkpoint's weights hold and check the weights against it.

    ``given_config`` is a whole GENESIS config (``--config X``); it replaces the embedded one as the source
    of what the weights cannot tell. ``genesis_version`` (``--genesis-version``) is checked like a config
    value: the weights win where they tell.
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
    inferred = _try_infer(shapes, findings)
    embedded = ckpt.config if isinstance(ckpt.config, Mapping) else None
    if given_config is not None:
        source: ModelSource = "given-config"
        base = dict(given_config.get("model") or {})
    elif embedded is not None and isinstance(embedded.get("model"), Mapping):
        source, base = "embedded-config", dict(embedded["model"])
    elif inferred is not None:
        source, base = "inferred", {}
    else:
        return ModelFromCheckpoint(source="none", findings=findings)
    if genesis_version is not None:
        base["genesis_version"] = genesis_version
    assumptions: list[str] = []
    unrecoverable: list[str] = []
    decisions: list[WeightDecision] = []
    if inferred is None:
        model_cfg = dict(base)
    else:
        model_cfg, decisions, from_weights = weights_decide(base, inferred, _buffer_values(ckpt), shapes)
        unrecoverable = list(inferred.unrecoverable)
        # how values were read off the weights matters only where the weights, not the config, decided
        assumptions = list(inferred.assumptions) if from_weights else []
        if source == "inferred":
            assumptions += [f"{key}: not recoverable from the weights; GENESIS default {MODEL_DEFAULTS[key]!r} "
                            "assumed" for key in unrecoverable if key in MODEL_DEFAULTS]
    if decisions and source != "inferred":
        words = f"`{given_name}`" if source == "given-config" and given_name else _SOURCE_WORDS.get(source, source)
        findings.append(_decision_finding(decisions, words))
    try:
        with torch.device("meta"), limits.build_guard():
            model = build_model(model_cfg)
    except (InputError, TypeError, ValueError, RuntimeError, OverflowError, limits.LimitExceeded) as exc:
        findings.append(Finding(severity=Severity.error, code="checkpoint.model-not-built",
                                message=f"the model could not be built from the {source}: {exc}"))
        return ModelFromCheckpoint(source=source, architecture=str(model_cfg.get("architecture", "dit")),
                                   values=_plain(model_cfg), unrecoverable=unrecoverable,
                                   assumptions=assumptions, decisions=decisions, findings=findings)
    findings += compare_state_dict(model, shapes)
    return ModelFromCheckpoint(
        source=source, architecture=str(model_cfg.get("architecture", "dit")),
        class_name=type(model).__name__, values=_plain(model_cfg),
        parameters=sum(p.numel() for p in model.parameters()),
        unrecoverable=unrecoverable, assumptions=assumptions, decisions=decisions, findings=findings)


def weights_decide(base: Mapping[str, Any], inferred: InferredModel, buffers: Mapping[str, tuple[float, ...]],
                   shapes: Mapping[str, tuple]) -> tuple[dict[str, Any], list[WeightDecision], bool]:
    """The `model:` values the weights hold, starting from ``base`` (a config's `model:` section).

    When the base config already builds exactly the weights' keys and shapes it is kept (weights cannot
    prefer, say, cnn over resnet, or one of two PMTDit versions with the same keys); otherwise every value
    the weights determine replaces the base's. Buffer values always come from the weights. Returns the
    values, each difference from the base, and whether the weights (not the base) gave the structure.
    """
    resolved = resolve_model_config(base)
    architecture = str(resolved.get("architecture", "dit"))
    stated_version = resolved.get("genesis_version")
    if architecture == inferred.architecture or {architecture, inferred.architecture} <= {"cnn", "resnet"}:
        resolved["genesis_version"] = _version_name(architecture, resolved)
    decided: dict[str, Any] = dict(resolved)
    from_weights = not base or not _builds_exactly(resolved, shapes)
    if from_weights:
        decided.update(inferred.values)
    for key, values in buffers.items():  # the buffers are float32: a config value they round to is the same
        if not _same_float32(resolved.get(key), values):
            decided[key] = values
    decisions = []
    for key in sorted(set(decided) | set(resolved)):
        before, after = resolved.get(key), decided.get(key)
        if key in MODEL_EXTENSION_KEYS and key != "genesis_version":
            continue
        if _same(before, after):
            continue
        stated = key in base or (key == "genesis_version" and stated_version is not None)
        decisions.append(WeightDecision(key=key, config_value=_plain_value(before), weights_value=_plain_value(after),
                                        stated=stated))
    for key in ("pos_embedding", "dit_layout"):  # legacy spellings of the version: the version now says it
        decided.pop(key, None)
    return decided, decisions, from_weights


def _builds_exactly(model_cfg: Mapping[str, Any], shapes: Mapping[str, tuple]) -> bool:
    try:
        with torch.device("meta"), limits.build_guard():
            model = build_model(model_cfg)
    except (InputError, TypeError, ValueError, RuntimeError, OverflowError, limits.LimitExceeded):
        return False
    return not compare_state_dict(model, shapes)


def _version_name(architecture: str, model_cfg: Mapping[str, Any]) -> str | None:
    try:
        version = resolve_version(architecture, model_cfg)
    except InputError:
        return None
    return version.name if version is not None and version.architecture == architecture else None


def _decision_finding(decisions: list[WeightDecision], source_words: str) -> Finding:
    parts = []
    for d in decisions:
        said = f"{source_words} says {_show(d.config_value)}" if d.stated else \
            f"{source_words} does not say (default {_show(d.config_value)})"
        parts.append(f"model.{d.key}: {said}, the weights hold {_show(d.weights_value)}")
    return Finding(severity=Severity.warning, code="checkpoint.weights-decide", where="model",
                   message="the weights describe another model than " + source_words + "; every section uses "
                           "the weights' values: " + "; ".join(parts))


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


def _same_float32(config_value: Any, buffer_values: tuple[float, ...]) -> bool:
    if not isinstance(config_value, (list, tuple)) or len(config_value) != len(buffer_values):
        return False
    return all(struct.unpack("f", struct.pack("f", float(c)))[0] == b
               for c, b in zip(config_value, buffer_values, strict=True))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return a == b


def _plain_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) + "]"
    return repr(value)


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): _plain_value(v) for k, v in values.items()}

"""Which model GENESIS built: from a config (a named or assumed GENESIS version) or from a checkpoint's weights.

Every report section is built from the `model:` values chosen here, so one place decides, and every
choice a config does not state is written down: the version assumed (with the parameter counts other
versions give), YAML values GENESIS's code ignores, keys GENESIS's loader rejects, and for checkpoints
each value the weights hold differently from the config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reporter.config.loader import LoadedConfig
from reporter.models.defaults import MODEL_EXTENSION_KEYS
from reporter.models.versions import VERSIONS, GenesisVersion, apply_version, resolve_version
from reporter.report.base import Finding, Severity
from reporter.report.checkpoint import ModelFromCheckpoint
from reporter.report.model import ConfigSource, GenesisBasis, GenesisCode

#: What a version choice rests on, in words for the summary.
_BASIS_TEXT = {
    "assumed": "assumed: a config does not say which GENESIS version it is for (--genesis-version chooses)",
    "config": "named in the config (genesis-report key)",
    "option": "chosen with --genesis-version",
}


@dataclass
class ModelChoice:
    """The `model:` values to build, which GENESIS they are, and what differs from the input."""

    model_cfg: dict[str, Any]
    genesis: GenesisCode | None
    findings: list[Finding] = field(default_factory=list)
    replaced: dict[str, tuple[ConfigSource, Any]] = field(default_factory=dict)  # key -> (source, input value)


def choose_for_config(config: LoadedConfig, option_version: str | None = None) -> ModelChoice:
    """The model GENESIS builds from this config, in the GENESIS version named, chosen or assumed."""
    stated = {key.split(".", 1)[1] for key in config.given if key.startswith("model.")}
    model_cfg = dict(config.model)
    architecture = str(model_cfg.get("architecture", "dit"))
    basis: GenesisBasis = "option" if option_version else "config" if _names_version(stated) else "assumed"
    if option_version:
        model_cfg["genesis_version"] = option_version
        model_cfg.pop("pos_embedding", None)
        model_cfg.pop("dit_layout", None)
    version = resolve_version(architecture, model_cfg)
    built, ignored = apply_version(architecture, model_cfg, stated)
    choice = ModelChoice(model_cfg=built, genesis=_genesis_code(version, basis) if version else None)
    if option_version and config.model.get("genesis_version") not in (None, option_version):
        choice.replaced["genesis_version"] = ("option", config.model.get("genesis_version"))
    for key, value in built.items():
        if key in config.model and key not in MODEL_EXTENSION_KEYS and _differs(value, config.model[key]):
            choice.replaced[key] = ("genesis", config.model[key])
    if ignored and version is not None:  # only a known GENESIS version ignores values
        choice.findings.append(Finding(
            severity=Severity.warning, code="config.genesis-ignores", where="model",
            message=f"{version.code} does not build what the config says; the report describes what it "
                    "builds: " + "; ".join(ignored)))
    extension = sorted(stated & set(MODEL_EXTENSION_KEYS))
    if extension:
        keys = ", ".join(f"`model.{k}`" for k in extension)
        choice.findings.append(Finding(
            severity=Severity.error, code="config.not-loadable-by-genesis", where="model",
            message=f"{keys} {'is a genesis-report key' if len(extension) == 1 else 'are genesis-report keys'}: "
                    "GENESIS's load_config_from_file raises TypeError on unknown keys, so GENESIS cannot load "
                    "this YAML as it is; pass --genesis-version instead to keep the YAML loadable"))
    if version is not None and architecture in VERSIONS:
        choice.findings += _other_versions(architecture, built, version, basis)
    return choice


def choose_for_checkpoint(config: LoadedConfig | None, model: ModelFromCheckpoint) -> ModelChoice:
    """The model the checkpoint's weights hold (``model.values``, decided in reporter.checkpoint.model_check)."""
    model_cfg = dict(model.values)
    architecture = str(model_cfg.get("architecture", "dit"))
    version = resolve_version(architecture, model_cfg)
    genesis = None
    if version is not None:
        genesis = GenesisCode(version=version.name if architecture in VERSIONS else None, code=version.code,
                              description=version.description, basis="weights",
                              basis_text=_weights_basis(version, model))
    choice = ModelChoice(model_cfg=model_cfg, genesis=genesis)
    for decision in model.decisions:
        choice.replaced[decision.key] = ("weights", decision.config_value)
    return choice


def _names_version(stated: set[str]) -> bool:
    return bool(stated & {"genesis_version", "pos_embedding", "dit_layout"})


def _genesis_code(version: GenesisVersion, basis: GenesisBasis) -> GenesisCode:
    named = version.name if version.architecture else None
    return GenesisCode(version=named, code=version.code, description=version.description,
                       basis=basis if named else "config",
                       basis_text=_BASIS_TEXT[basis] if named else "the only IceCube-era forward of this class")


def _weights_basis(version: GenesisVersion, model: ModelFromCheckpoint) -> str:
    if version.name == "pmt_dit@27a044fa":
        return ("the weights' keys and shapes fit models/pmt_dit.py @27a044fa and @2628e571 alike; @27a044fa "
                "assumed (@2628e571 normalizes in forward instead of the dataloader)")
    if not version.architecture:
        return "the only IceCube-era forward of this class"
    return "proven by the weights' keys and shapes"


def _other_versions(architecture: str, model_cfg: dict[str, Any], chosen: GenesisVersion,
                    basis: str) -> list[Finding]:
    """Parameter counts of the same config in the other GENESIS versions (built on the meta device)."""
    counts = {name: _count(architecture, {**model_cfg, "genesis_version": name, **v.fixed_values})
              for name, v in VERSIONS[architecture].items()}
    if counts[chosen.name] is None:
        return []
    others = [f"{name} {counts[name]:,}" for name in VERSIONS[architecture]
              if name != chosen.name and counts[name] is not None]
    reason = {"assumed": "assumed, since a config does not say", "config": "named in the config",
              "option": "chosen with --genesis-version"}[basis]
    return [Finding(
        severity=Severity.info,  # the summary says "assumed" beside the version; a warning would fire on every config
        code="config.genesis-version", where="model",
        message=f"this config means {counts[chosen.name]:,} parameters in {chosen.code} ({reason}); the same "
                "YAML in the other IceCube-era GENESIS versions: " + ", ".join(others)
                + " parameters (--genesis-version chooses; a checkpoint's weights decide)")]


def _count(architecture: str, model_cfg: dict[str, Any]) -> int | None:
    import torch

    from reporter import limits
    from reporter.errors import InputError
    from reporter.models.registry import get_architecture

    try:
        with torch.device("meta"), limits.build_guard():
            module = get_architecture(architecture).build(model_cfg)
    except (InputError, TypeError, ValueError, RuntimeError, OverflowError, limits.LimitExceeded):
        return None
    return sum(p.numel() for p in module.parameters())


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return [float(x) for x in a] != [float(y) for y in b]
    return a != b

"""Which GENESIS code a `model:` section means: the historical versions that build different models.

One YAML means different models in different GENESIS versions (reference §2.1, §6): `configs/default.yaml`
is 98,648 parameters with the learned `pos` of models/pmt_dit.py @27a044fa and 16,088 without it in the
latest @4037ba45; GENESIS's c-dit factory ignores the YAML's C-DiT settings. A report names the version
it assumed (config reports) or the one the weights prove (checkpoints), never silently.

This module is torch-free: the config loader uses it to check values and to name the assumption.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reporter.errors import InputError

#: The Era-A PMTDit constructor defaults for its label buffers. Its factory never passes the YAML's
#: label_offsets/label_scales, so every Era-A model holds these (reference §6).
ERA_A_LABEL_DEFAULTS: dict[str, tuple[float, ...]] = {
    "label_offsets": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "label_scales": (1e-7, 1.0, 1.0, 0.01, 0.01, 0.01),
}


@dataclass(frozen=True)
class GenesisVersion:
    """One historical GENESIS implementation of an architecture, described by what changes a report.

    `layout` is the state_dict key layout of PMTDit ("pmt_dit": `mlp.fc1`, `embedder.label_to_film`;
    "era_a": `mlp.0`, `embedder.film.gamma`). `forward_normalization` says whether forward() applies
    `(x + offset) * scale` (otherwise the dataloader normalized and the buffers are metadata).
    `factory_values` are what GENESIS's ModelFactory builds whatever the YAML says.
    """

    name: str
    architecture: str
    code: str
    description: str
    layout: str = "pmt_dit"
    pos: bool = False
    forward_normalization: bool = False
    normalizes_labels: bool = False
    label_buffers: bool = True
    geometry_readded: bool = False
    fixed_values: dict[str, Any] = field(default_factory=dict)


DIT_VERSIONS: dict[str, GenesisVersion] = {
    v.name: v
    for v in (
        GenesisVersion(
            "pmt_dit@4037ba45", "dit", "models/pmt_dit.py @4037ba45 (latest IceCube era)",
            "no learned pos; the dataloader normalizes (buffers are metadata)", pos=False),
        GenesisVersion(
            "pmt_dit@27a044fa", "dit", "models/pmt_dit.py @27a044fa",
            "learned pos (1, seq_len, hidden); the dataloader normalizes (buffers are metadata)", pos=True),
        GenesisVersion(
            "pmt_dit@2628e571", "dit", "models/pmt_dit.py @2628e571",
            "learned pos; forward() applies (x + offset) * scale to signal and geometry (labels are not "
            "normalized)", pos=True, forward_normalization=True),
        GenesisVersion(
            "pmt_dit@9ca9f92d", "dit", "models/pmt_dit.py @9ca9f92d (earliest)",
            "learned pos; only affine_offset/affine_scale buffers; forward() applies (x + offset) * scale "
            "to signal and geometry", pos=True, forward_normalization=True, label_buffers=False),
        GenesisVersion(
            "architectures@38a35944", "dit", "models/architectures.py @38a35944 (Era A PMTDit)",
            "learned pos; keys mlp.0/mlp.3 and embedder.film; forward() normalizes signal, geometry and "
            "labels and re-adds the geometry embedding before ln_out; label buffers always hold the "
            "constructor defaults", layout="era_a", pos=True, forward_normalization=True,
            normalizes_labels=True, geometry_readded=True, fixed_values=dict(ERA_A_LABEL_DEFAULTS)),
    )
}

#: What GENESIS's c-dit factory builds whatever the YAML says (reference §2.0, §6): ArchitectureConfig has
#: no C-DiT fields, so `create_model` falls back to its getattr defaults.
_CDIT_FACTORY = {"classifier_size": 128, "factor": 2, "combine": "add", "n_cls_tokens": 1}

CDIT_VERSIONS: dict[str, GenesisVersion] = {
    v.name: v
    for v in (
        GenesisVersion(
            "pmt_c_dit@8b1d32d6", "c-dit", "models/pmt_c_dit.py with models/architectures.py @8b1d32d6",
            "the factory builds classifier_size 128, factor 2, combine add, 1 classifier token and "
            "update_with_classifier True whatever the YAML says",
            fixed_values={**_CDIT_FACTORY, "update_with_classifier": True}),
        GenesisVersion(
            "pmt_c_dit@2481422014", "c-dit", "models/architectures.py (stored version id 2481422014)",
            "the factory builds classifier_size 128, factor 2, combine add, 1 classifier token and "
            "update_with_classifier False whatever the YAML says",
            fixed_values={**_CDIT_FACTORY, "update_with_classifier": False}),
    )
}

ARCHITECTURES_CODE = GenesisVersion(
    "architectures", "", "models/architectures.py (every IceCube-era version read has this forward)",
    "forward() applies (x + offset) * scale to signal and geometry; labels are not normalized",
    forward_normalization=True, label_buffers=False)

DEFAULT_VERSION = {"dit": "pmt_dit@27a044fa", "c-dit": "pmt_c_dit@8b1d32d6"}
VERSIONS: dict[str, dict[str, GenesisVersion]] = {"dit": DIT_VERSIONS, "c-dit": CDIT_VERSIONS}

#: Older genesis-report layout keys, still read from YAML files (GENESIS itself rejects them).
LEGACY_LAYOUT_KEYS = ("pos_embedding", "dit_layout")


def version_names(architecture: str | None = None) -> list[str]:
    """Every version name (for --genesis-version), or those of one architecture."""
    tables = [VERSIONS[architecture]] if architecture in VERSIONS else list(VERSIONS.values())
    return [name for table in tables for name in table]


def legacy_dit_version(model_cfg: Mapping[str, Any]) -> str | None:
    """The version the legacy keys `pos_embedding`/`dit_layout` describe, or None when neither is set."""
    layout, pos = model_cfg.get("dit_layout"), model_cfg.get("pos_embedding")
    if layout is None and pos is None:
        return None
    if layout == "era_a":
        if pos is False:
            raise InputError("model.dit_layout 'era_a' always has the learned pos; pos_embedding: false "
                             "describes no GENESIS version")
        return "architectures@38a35944"
    if layout not in (None, "pmt_dit"):
        raise InputError(f"model.dit_layout must be one of pmt_dit, era_a, got {layout!r}")
    return "pmt_dit@4037ba45" if pos is False else "pmt_dit@27a044fa"


def resolve_version(architecture: str, model_cfg: Mapping[str, Any]) -> GenesisVersion | None:
    """The GENESIS version a resolved `model:` section describes (None for third-party architectures).

    `genesis_version` wins; the legacy keys must agree with it; otherwise the architecture's default.
    """
    if architecture not in VERSIONS:
        return ARCHITECTURES_CODE if architecture in ("cnn", "resnet", "hybrid", "mlp") else None
    table = VERSIONS[architecture]
    chosen = model_cfg.get("genesis_version")
    legacy = legacy_dit_version(model_cfg) if architecture == "dit" else None
    if chosen is None:
        return table[legacy or DEFAULT_VERSION[architecture]]
    if chosen not in table:
        raise InputError(f"GENESIS version {chosen!r} is not a {architecture} version; known: "
                         f"{', '.join(table)}")
    if legacy is not None and legacy != chosen and not _legacy_agrees(table[chosen], model_cfg):
        raise InputError(f"model.pos_embedding/dit_layout describe {legacy}, which contradicts the GENESIS "
                         f"version {chosen}")
    return table[chosen]


def _legacy_agrees(version: GenesisVersion, model_cfg: Mapping[str, Any]) -> bool:
    pos, layout = model_cfg.get("pos_embedding"), model_cfg.get("dit_layout")
    return (pos is None or bool(pos) == version.pos) and (layout is None or layout == version.layout)


def apply_version(architecture: str, model_cfg: Mapping[str, Any],
                  stated: set[str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The `model:` values GENESIS's code really builds from a config, and a sentence per value it ignores.

    Fixed values (the c-dit factory's, Era A's label buffers) replace the config's; the version's name is
    written to `genesis_version` so builders and checks read one key. ``stated`` holds the `model:` keys
    the input set itself (the others are GENESIS's ModelConfig defaults), for the wording only.
    """
    cfg = dict(model_cfg)
    version = resolve_version(architecture, cfg)
    ignored: list[str] = []
    if version is None or architecture not in VERSIONS:
        return cfg, ignored
    cfg["genesis_version"] = version.name
    for key, value in version.fixed_values.items():
        if key in cfg and _norm(cfg[key]) != _norm(value):
            said = "the config says" if stated is None or key in stated else "ModelConfig's default is"
            ignored.append(f"model.{key}: {said} {_show(cfg[key])}, {version.code} builds {_show(value)}")
        cfg[key] = value
    for key in LEGACY_LAYOUT_KEYS:
        cfg.pop(key, None)
    return cfg, ignored


def _norm(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(float(v) for v in value)
    return value


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) + "]"
    return repr(value)

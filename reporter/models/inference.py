"""Recover a GENESIS `model:` section from state_dict key names and shapes (reference §2.1, §2.2, §2.4).

Only names and shapes are used, so this works on a checkpoint's metadata without loading tensor data.
What weights cannot tell (heads, dropout, seq_len without `pos`, time_transform) is listed as
unrecoverable; every guess is written down as an assumption.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reporter.errors import InputError
from reporter.models.defaults import MODEL_DEFAULTS

Shapes = Mapping[str, tuple[int, ...]]

NORMALIZATION_NOTE = (
    "affine/label offsets and scales are the values of the normalization buffers, not their shapes; "
    "read them from the state_dict"
)


@dataclass
class InferredModel:
    """Result of inference: architecture, recovered `model:` values and what could not be recovered."""

    architecture: str
    class_name: str
    values: dict[str, Any] = field(default_factory=dict)
    unrecoverable: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)


def _shape(shapes: Shapes, key: str) -> tuple[int, ...]:
    if key not in shapes:
        raise InputError(f"state_dict lacks {key!r}, which this architecture always has")
    return tuple(int(d) for d in shapes[key])


def _block_indices(shapes: Shapes, pattern: str = r"blocks\.(\d+)\.") -> list[int]:
    found = {int(m.group(1)) for key in shapes if (m := re.match(pattern, key))}
    return sorted(found)


def _depth(shapes: Shapes) -> int:
    indices = _block_indices(shapes)
    if indices != list(range(len(indices))):
        raise InputError(f"state_dict block indices are not contiguous from 0: {indices}")
    return len(indices)


def _detect(shapes: Shapes) -> str:
    """Architecture name from marker keys (reference §2.4)."""
    if "cls_token" in shapes:
        return "c-dit"
    if "embedder.signal_net.0.weight" in shapes and "t_mlp.0.weight" in shapes:
        return "dit"
    if "blocks.0.conv.0.weight" in shapes:
        return "hybrid"
    if "blocks.0.conv1.weight" in shapes:
        return "cnn/resnet"
    if "input_proj.weight" in shapes:
        dims = len(shapes["input_proj.weight"])
        if dims == 2:
            return "mlp"
        if dims == 3:
            return "cnn/resnet"  # depth 0: no block tells the family apart
    sample = ", ".join(sorted(shapes)[:5]) or "no keys"
    raise InputError(
        "state_dict matches no known GENESIS architecture (dit, c-dit, cnn, resnet, hybrid, mlp); "
        f"first keys: {sample}"
    )


def _infer_dit(shapes: Shapes) -> InferredModel:
    hidden = _shape(shapes, "embedder.signal_net.0.weight")[0]
    depth = _depth(shapes)
    result = InferredModel("dit", "PMTDit")
    values = result.values
    values.update(
        architecture="dit",
        hidden=hidden,
        depth=depth,
        t_embed_dim=_shape(shapes, "t_mlp.0.weight")[1],
        label_dim=_shape(shapes, "y_mlp.0.weight")[1],
    )
    if "embedder.label_to_film.0.weight" in shapes:
        values["fusion"], film_layout = "FiLM", "pmt_dit"
    elif "embedder.film.gamma.weight" in shapes:
        values["fusion"], film_layout = "FiLM", "era_a"
    else:
        values["fusion"], film_layout = "SUM", None
    if depth and "blocks.0.mlp.fc1.weight" in shapes:
        mlp_layout, inner = "pmt_dit", _shape(shapes, "blocks.0.mlp.fc1.weight")[0]
    elif depth and "blocks.0.mlp.0.weight" in shapes:
        mlp_layout, inner = "era_a", _shape(shapes, "blocks.0.mlp.0.weight")[0]
    else:
        mlp_layout, inner = None, None
    if film_layout and mlp_layout and film_layout != mlp_layout:
        raise InputError("state_dict mixes PMTDit key layouts (pmt_dit.py FiLM with Era-A MLP or vice versa)")
    layout = film_layout or mlp_layout
    if layout is None:
        layout = "pmt_dit"
        result.assumptions.append(
            "genesis_version: no block and no FiLM keys tell the Era-A and pmt_dit.py layouts apart; "
            "assumed pmt_dit.py"
        )
    if inner is not None:
        values["mlp_ratio"] = inner / hidden
    else:
        result.unrecoverable.append("mlp_ratio")
    values["genesis_version"] = _dit_version(shapes, layout, result)
    if "pos" in shapes:
        values["seq_len"] = _shape(shapes, "pos")[1]
    else:
        result.unrecoverable.append("seq_len")
        result.assumptions.append(
            "seq_len: no `pos` parameter (latest pmt_dit.py), so the weights do not fix it; "
            f"GENESIS default {MODEL_DEFAULTS['seq_len']} applies unless the config says otherwise"
        )
    result.unrecoverable += ["heads", "dropout", "time_transform", "exclude_zero_time"]
    result.assumptions.append(NORMALIZATION_NOTE)
    return result


def _dit_version(shapes: Shapes, layout: str, result: InferredModel) -> str:
    """Which GENESIS PMTDit the keys prove (reference §2.1, §6); an ambiguity is written down."""
    if layout == "era_a":
        return "architectures@38a35944"
    if "pos" not in shapes:
        return "pmt_dit@4037ba45"
    if "label_offset" not in shapes and "affine_offset" in shapes:
        return "pmt_dit@9ca9f92d"
    result.assumptions.append(
        "genesis_version: models/pmt_dit.py @27a044fa (the dataloader normalizes) assumed; @2628e571 has "
        "the same keys and shapes but applies (x + offset) * scale in forward, which the weights cannot tell"
    )
    return "pmt_dit@27a044fa"


def _infer_cdit(shapes: Shapes) -> InferredModel:
    hidden = _shape(shapes, "embedder.signal_net.0.weight")[0]
    _, n_cls, classifier_size = _shape(shapes, "cls_token")
    token_dim = _shape(shapes, "final_proj.1.weight")[1]
    depth = _depth(shapes)
    result = InferredModel("c-dit", "PMTCDit")
    if token_dim not in (hidden, 2 * hidden):
        raise InputError(f"c-dit token width {token_dim} is neither hidden ({hidden}) nor 2*hidden")
    result.values.update(
        architecture="c-dit",
        hidden=hidden,
        classifier_size=classifier_size,
        n_cls_tokens=n_cls,
        depth=depth,
        t_embed_dim=_shape(shapes, "t_mlp.0.weight")[1],
        label_dim=_shape(shapes, "label_mlp.0.weight")[1],
        combine="add" if token_dim == hidden else "concat",
    )
    if depth:
        inner, block_in = _shape(shapes, "blocks.0.0.0.weight")
        result.values["factor"] = inner // token_dim
        result.values["update_with_classifier"] = block_in == token_dim + classifier_size
        result.values["genesis_version"] = (
            "pmt_c_dit@8b1d32d6" if result.values["update_with_classifier"] else "pmt_c_dit@2481422014")
    else:
        result.unrecoverable += ["factor", "update_with_classifier"]
    result.unrecoverable += ["seq_len", "heads", "dropout", "time_transform", "exclude_zero_time"]
    result.assumptions.append(NORMALIZATION_NOTE)
    return result


def _period(sequence: list[int]) -> int:
    for p in range(1, len(sequence) + 1):
        if all(sequence[i] == sequence[i % p] for i in range(len(sequence))):
            return p
    return len(sequence)


def _conditioned_values(shapes: Shapes) -> dict[str, int]:
    """Values every cnn/resnet/hybrid/mlp state_dict gives: input_proj width, block count, t/y MLP inputs."""
    return {
        "hidden": _shape(shapes, "input_proj.weight")[0],
        "depth": _depth(shapes),
        "t_embed_dim": _shape(shapes, "t_mlp.0.weight")[1],
        "label_dim": _shape(shapes, "y_mlp.0.weight")[1],
    }


def _infer_conv(shapes: Shapes) -> InferredModel:
    common = _conditioned_values(shapes)
    depth = common["depth"]
    kernels = [_shape(shapes, f"blocks.{i}.conv1.weight")[2] for i in range(depth)]
    if len(set(kernels)) > 1:
        result = InferredModel("cnn", "PMTCNN", {"architecture": "cnn", **common})
        period = _period(kernels)
        default = list(MODEL_DEFAULTS["kernel_sizes"])
        if period == depth and default[:depth] == kernels:
            sizes = default
            result.assumptions.append(
                f"kernel_sizes: blocks use {kernels}, a prefix of the GENESIS default {default}; "
                "assumed the default"
            )
        else:
            sizes = kernels[:period]
            result.assumptions.append(
                f"kernel_sizes: smallest repeating pattern of the per-block kernels {kernels}"
                + ("; entries beyond depth would be unused and cannot be seen" if period == depth else "")
            )
        result.values["kernel_sizes"] = tuple(sizes)
        result.assumptions.append("cnn rather than resnet because block kernel sizes differ")
    else:
        result = InferredModel("resnet", "PMTResNet", {"architecture": "resnet", **common})
        if kernels:
            result.values["kernel_size"] = kernels[0]
        else:
            result.unrecoverable.append("kernel_size")
        result.assumptions.append(
            "resnet rather than cnn: every block has the same kernel size, which PMTResNet always has; a "
            "PMTCNN with a single kernel size has identical keys and shapes (reference §2.3)"
        )
    result.unrecoverable += ["seq_len", "dropout"]
    result.assumptions.append(NORMALIZATION_NOTE)
    return result


def _conditioned_model(architecture: str, class_name: str, shapes: Shapes, unrecoverable: list[str],
                       **values: int) -> InferredModel:
    """A hybrid or mlp model: the shared conditioned values, then its own; what the weights cannot tell."""
    result = InferredModel(architecture, class_name,
                           {"architecture": architecture, **_conditioned_values(shapes), **values})
    result.unrecoverable += unrecoverable
    result.assumptions.append(NORMALIZATION_NOTE)
    return result


def _infer_hybrid(shapes: Shapes) -> InferredModel:
    return _conditioned_model("hybrid", "PMTHybrid", shapes, ["seq_len", "heads", "dropout"],
                              kernel_size=_shape(shapes, "blocks.0.conv.0.weight")[2])


def _infer_mlp(shapes: Shapes) -> InferredModel:
    return _conditioned_model("mlp", "PMTMLP", shapes, ["seq_len", "dropout"])


def infer_model_config(shapes: Shapes) -> InferredModel:
    """Architecture and `model:` values implied by a state_dict's key names and shapes.

    `shapes` maps key → shape (e.g. `{k: tuple(v.shape) for k, v in state_dict.items()}`), without any
    wrapper prefix such as `module.`. Raises InputError when the keys match no known architecture.
    """
    name = _detect(shapes)
    if name == "dit":
        return _infer_dit(shapes)
    if name == "c-dit":
        return _infer_cdit(shapes)
    if name == "hybrid":
        return _infer_hybrid(shapes)
    if name == "mlp":
        return _infer_mlp(shapes)
    return _infer_conv(shapes)

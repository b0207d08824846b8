"""Round trip: build -> state_dict shapes -> infer_model_config -> the same values and the same shapes."""

from __future__ import annotations

import pytest
import torch

from reporter.errors import InputError
from reporter.models import build_model, infer_model_config

CASES = [
    ("dit", {"hidden": 16, "depth": 3, "heads": 8, "fusion": "SUM", "seq_len": 5160}),
    ("dit", {"hidden": 16, "depth": 3, "fusion": "SUM", "genesis_version": "pmt_dit@4037ba45"}),
    ("dit", {"hidden": 24, "depth": 2, "fusion": "FiLM", "t_embed_dim": 32, "mlp_ratio": 2.5, "seq_len": 77}),
    ("dit", {"hidden": 16, "depth": 2, "fusion": "FiLM", "genesis_version": "architectures@38a35944", "seq_len": 100}),
    ("dit", {"hidden": 16, "depth": 2, "fusion": "SUM", "genesis_version": "pmt_dit@9ca9f92d", "seq_len": 60}),
    (
        "c-dit",
        {
            "hidden": 16,
            "classifier_size": 128,
            "depth": 2,
            "factor": 2,
            "combine": "add",
            "update_with_classifier": True,
            "n_cls_tokens": 1,
        },
    ),
    (
        "c-dit",
        {
            "hidden": 8,
            "classifier_size": 32,
            "depth": 3,
            "factor": 3,
            "combine": "concat",
            "update_with_classifier": False,
            "n_cls_tokens": 4,
            "label_dim": 4,
        },
    ),
    ("cnn", {"hidden": 32, "depth": 6, "kernel_sizes": (3, 5, 7, 9)}),
    ("cnn", {"hidden": 32, "depth": 5, "kernel_sizes": (3, 5)}),
    ("resnet", {"hidden": 32, "depth": 3, "kernel_size": 5}),
    ("hybrid", {"hidden": 32, "depth": 2, "kernel_size": 7, "t_embed_dim": 64}),
    ("mlp", {"hidden": 32, "depth": 3}),
]


def shapes_of(model) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("arch, values", CASES)
def test_round_trip(arch, values):
    cfg = {"architecture": arch, "heads": 4 if arch != "c-dit" else 2, **values}
    with torch.device("meta"):
        shapes = shapes_of(build_model(cfg))
    inferred = infer_model_config(shapes)
    assert inferred.architecture == arch
    for key, value in values.items():
        if key in inferred.unrecoverable:
            continue
        assert inferred.values[key] == value, key
    # the recovered values rebuild a model with exactly the same keys and shapes
    rebuilt = {**inferred.values, "heads": cfg["heads"]}
    if "seq_len" in inferred.unrecoverable:
        rebuilt["seq_len"] = cfg.get("seq_len", 5160)
    with torch.device("meta"):
        assert shapes_of(build_model(rebuilt)) == shapes


def test_dit_unrecoverable_and_layout_keys():
    with torch.device("meta"):
        shapes = shapes_of(build_model({"hidden": 16, "depth": 3, "fusion": "SUM",
                                        "genesis_version": "pmt_dit@4037ba45"}))
    inferred = infer_model_config(shapes)
    assert inferred.class_name == "PMTDit"
    assert inferred.values["genesis_version"] == "pmt_dit@4037ba45"
    assert {"heads", "dropout", "time_transform", "seq_len"} <= set(inferred.unrecoverable)
    assert "seq_len" not in inferred.values
    with torch.device("meta"):
        with_pos = infer_model_config(shapes_of(build_model({"hidden": 16, "depth": 1, "seq_len": 300})))
    assert with_pos.values["seq_len"] == 300 and "seq_len" not in with_pos.unrecoverable


def test_uniform_kernels_are_reported_as_resnet_with_an_assumption():
    with torch.device("meta"):
        shapes = shapes_of(build_model({"architecture": "cnn", "hidden": 8, "depth": 3, "kernel_sizes": [5]}))
    inferred = infer_model_config(shapes)
    assert inferred.architecture == "resnet" and inferred.values["kernel_size"] == 5
    assert any("PMTCNN" in a for a in inferred.assumptions)


def test_short_cnn_uses_default_kernel_pattern_when_it_is_a_prefix():
    with torch.device("meta"):
        shapes = shapes_of(build_model({"architecture": "cnn", "hidden": 8, "depth": 2}))
    inferred = infer_model_config(shapes)
    assert inferred.values["kernel_sizes"] == (3, 5, 7, 9)
    assert any("prefix" in a for a in inferred.assumptions)


def test_unknown_keys_raise_input_error():
    with pytest.raises(InputError, match="no known GENESIS architecture"):
        infer_model_config({"encoder.layer.0.weight": (4, 4)})


def test_mixed_dit_layouts_are_rejected():
    with torch.device("meta"):
        shapes = shapes_of(build_model({"hidden": 16, "depth": 1, "fusion": "FiLM"}))
    shapes["blocks.0.mlp.0.weight"] = shapes.pop("blocks.0.mlp.fc1.weight")
    with pytest.raises(InputError, match="mixes"):
        infer_model_config(shapes)

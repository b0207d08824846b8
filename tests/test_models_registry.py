"""Registry, defaults and the default-config PMTDit count (reference §1.3, §2.1)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from reporter.errors import InputError, UnknownArchitectureError
from reporter.models import (
    MODEL_DEFAULTS,
    MODEL_EXTENSION_KEYS,
    build_model,
    get_architecture,
    list_architectures,
)

REPO = Path(__file__).resolve().parent.parent


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def model_section(name: str) -> dict:
    return yaml.safe_load((REPO / "configs" / name).read_text())["model"]


def test_default_yaml_builds_to_reference_count():
    model = build_model(model_section("default.yaml"))
    assert type(model).__name__ == "PMTDit"
    assert n_params(model) == 98_648
    assert sum(v.numel() for v in model.state_dict().values()) == 98_670  # + 22 buffer values


def test_model_defaults_match_genesis_model_config():
    assert MODEL_DEFAULTS["architecture"] == "dit"
    assert (MODEL_DEFAULTS["hidden"], MODEL_DEFAULTS["depth"], MODEL_DEFAULTS["fusion"]) == (512, 8, "FiLM")
    assert MODEL_DEFAULTS["affine_scales"] == (100.0, 10.0, 600.0, 550.0, 550.0)
    assert MODEL_DEFAULTS["label_scales"] == (5e7, 1.0, 1.0, 600.0, 550.0, 550.0)
    assert MODEL_EXTENSION_KEYS == {"genesis_version": None, "pos_embedding": None, "dit_layout": None}
    # an empty model section is GENESIS's ModelConfig(): H512/D8/FiLM with pos
    with torch.device("meta"):
        assert n_params(build_model({})) == 37_641_746


def test_yaml_lists_and_tuples_build_the_same_model():
    section = model_section("default.yaml")
    as_tuples = {k: tuple(v) if isinstance(v, list) else v for k, v in section.items()}
    a, b = build_model(section), build_model(as_tuples)
    assert (
        a.affine_scale.flatten().tolist() == b.affine_scale.flatten().tolist() == [200, 10, 1200, 1100, 1100]
    )


def test_unknown_architecture_lists_known_names():
    with pytest.raises(UnknownArchitectureError) as err:
        build_model({"architecture": "transformer-xl"})
    message = str(err.value)
    assert "transformer-xl" in message
    for name in list_architectures():
        assert name in message
    assert err.value.exit_status == 2


def test_dit_spec_identity():
    spec = get_architecture("dit")
    assert spec.class_name == "PMTDit"
    assert list(spec.inputs) == ["x_sig_t", "geom", "t", "label"]
    assert spec.inputs["label"].channels == ("Energy", "Zenith", "Azimuth", "X", "Y", "Z")
    assert spec.output.channels == ("charge", "time")


@pytest.mark.parametrize(
    "override, fragment",
    [
        ({"hidden": 12, "heads": 8}, "not divisible"),
        ({"fusion": "CONCAT"}, "model.fusion"),
        ({"dit_layout": "era_c"}, "model.dit_layout"),
        ({"affine_scales": [1, 2]}, "model.affine_scales"),
        ({"hidden": "big"}, "model.hidden"),
    ],
)
def test_bad_model_values_are_input_errors(override, fragment):
    with pytest.raises(InputError, match=fragment):
        build_model({"hidden": 16, "depth": 1, **override})

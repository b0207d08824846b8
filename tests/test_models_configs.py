"""Every shipped config builds to its architecture, layout and reference parameter count."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from reporter.models import MODEL_DEFAULTS, MODEL_EXTENSION_KEYS, build_model, get_architecture
from reporter.models.versions import resolve_version

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
GENESIS_TOP_LEVEL = {
    "experiment_name",
    "description",
    "model",
    "diffusion",
    "data",
    "training",
    "device",
    "seed",
    "use_wandb",
    "wandb_project",
    "wandb_entity",
}

# file: (GENESIS class, parameter count from genesis-reference.md §2 worked examples / closed forms)
EXPECTED = {
    "default.yaml": ("PMTDit", 98_648),
    "default_v1.yaml": ("PMTDit", 98_648),
    "dit_era_a.yaml": ("PMTDit", 98_648),
    "dit_film_era_a.yaml": ("PMTDit", 98_872),
    "dit_film.yaml": ("PMTDit", 5_896_970),
    "dit_nopos.yaml": ("PMTDit", 4_576_010),
    "small_model.yaml": ("PMTDit", 5_896_970),
    "large_model.yaml": ("PMTDit", 120_400_154),  # §2.1 closed form, H768 D12 FiLM +pos
    "debug.yaml": ("PMTDit", 1_244_166),
    "c-dit.yaml": ("PMTCDit", 227_634),
    "cnn.yaml": ("PMTCNN", 5_161_474),
    "resnet.yaml": ("PMTResNet", 4_379_138),
    "hybrid.yaml": ("PMTHybrid", 17_197_838),
    "mlp.yaml": ("PMTMLP", 16_355_330),
}

NEW_FILES = [
    "hybrid.yaml",
    "mlp.yaml",
    "resnet.yaml",
    "dit_film.yaml",
    "dit_film_era_a.yaml",
    "dit_nopos.yaml",
    "dit_era_a.yaml",
    "small_model.yaml",
    "large_model.yaml",
    "debug.yaml",
]


def load(name: str) -> dict:
    return yaml.safe_load((CONFIGS / name).read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_config_builds_to_expected_class_and_count(name):
    class_name, count = EXPECTED[name]
    with torch.device("meta"):
        model = build_model(load(name)["model"])
    assert type(model).__name__ == class_name
    assert sum(p.numel() for p in model.parameters()) == count


@pytest.mark.parametrize("name", NEW_FILES)
def test_new_configs_use_the_genesis_layout(name):
    config = load(name)
    assert set(config) == GENESIS_TOP_LEVEL
    known = set(MODEL_DEFAULTS) | set(MODEL_EXTENSION_KEYS)
    assert set(config["model"]) <= known
    spec = get_architecture(config["model"].get("architecture", "dit"))
    assert spec.class_name == EXPECTED[name][0]
    for key in ("affine_offsets", "affine_scales", "label_offsets", "label_scales"):
        assert all(isinstance(v, float) for v in config["model"][key]), key  # safe_load gives floats


def test_every_architecture_and_dit_layout_has_a_shipped_config():
    seen = set()
    for name in EXPECTED:
        model = {**MODEL_DEFAULTS, **MODEL_EXTENSION_KEYS, **load(name)["model"]}
        arch = model["architecture"]
        version = resolve_version(arch, model)
        seen.add((arch, version.layout, model["fusion"], version.pos) if arch == "dit" else arch)
    assert {"c-dit", "cnn", "resnet", "hybrid", "mlp"} <= seen
    for layout in [
        ("pmt_dit", "SUM", True),
        ("pmt_dit", "FiLM", True),
        ("pmt_dit", "FiLM", False),
        ("era_a", "SUM", True),
        ("era_a", "FiLM", True),
    ]:
        assert ("dit", *layout) in seen


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_config_runs_forward_and_backward_on_fake_tensors(name):
    from torch._subclasses.fake_tensor import FakeTensorMode

    section = load(name)["model"]
    spec = get_architecture(section.get("architecture", "dit"))
    with FakeTensorMode():
        model = build_model(section)
        out = model(**spec.example_inputs(section, 2))
        assert tuple(out.shape) == (2, 2, section["seq_len"])
        out.sum().backward()
        assert all(p.grad is not None for p in model.parameters())

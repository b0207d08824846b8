"""Third-party architectures: --model-class package.module:Class and the entry-point group."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest
import torch

from reporter.errors import InputError, UnknownArchitectureError
from reporter.models import (
    ENTRY_POINT_GROUP,
    build_model,
    get_architecture,
    list_architectures,
    spec_from_model_class,
)

USER_MODULE = """
import torch
from torch import nn

class TinyNet(nn.Module):
    def __init__(self, hidden=4, depth=1):
        super().__init__()
        self.layers = nn.Sequential(*[nn.Linear(hidden, hidden) for _ in range(depth)])

    def forward(self, x):
        return self.layers(x)

    @staticmethod
    def example_inputs(batch_size):
        return {"x": torch.randn(batch_size, 4)}

class NoExamples(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.kwargs = kwargs
        self.proj = nn.Linear(2, 2)

NOT_A_MODULE = 3
"""

PLUGIN_MODULE = """
from reporter.models import ArchitectureSpec, InputSemantics
from tiny_user_models import TinyNet

def make_spec():
    return ArchitectureSpec(
        name="tiny",
        class_name="TinyNet",
        build=lambda cfg: TinyNet(hidden=cfg.get("hidden", 4)),
        example_inputs=lambda cfg, b: TinyNet.example_inputs(b),
        inputs={"x": InputSemantics("(B, 4)", "features")},
    )
"""


@pytest.fixture
def user_code(tmp_path, monkeypatch):
    (tmp_path / "tiny_user_models.py").write_text(USER_MODULE)
    (tmp_path / "tiny_plugin.py").write_text(PLUGIN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("tiny_user_models", "tiny_plugin"):
        sys.modules.pop(name, None)


def test_model_class_gets_only_the_kwargs_it_accepts(user_code):
    spec = spec_from_model_class("tiny_user_models:TinyNet")
    assert spec.class_name == "TinyNet"
    model = spec.build({"architecture": "dit", "hidden": 4, "depth": 3, "fusion": "SUM", "heads": 8})
    assert len(model.layers) == 3
    inputs = spec.example_inputs({}, 5)
    assert model(**inputs).shape == (5, 4)


def test_model_class_with_var_kwargs_gets_the_whole_section(user_code):
    model = spec_from_model_class("tiny_user_models:NoExamples").build({"architecture": "x", "hidden": 7})
    assert model.kwargs == {"hidden": 7}


def test_model_class_without_example_inputs_explains_what_to_add(user_code):
    spec = spec_from_model_class("tiny_user_models:NoExamples")
    with pytest.raises(InputError, match="example_inputs"):
        spec.example_inputs({}, 2)


@pytest.mark.parametrize(
    "target, fragment",
    [
        ("tiny_user_models.TinyNet", "package.module:Class"),
        ("no_such_module_xyz:Net", "cannot import"),
        ("tiny_user_models:Missing", "no attribute"),
        ("tiny_user_models:NOT_A_MODULE", "not a torch.nn.Module"),
    ],
)
def test_model_class_errors_are_input_errors(user_code, target, fragment):
    with pytest.raises(InputError, match=fragment):
        spec_from_model_class(target)


def test_entry_point_group_registers_architectures(user_code):
    dist = user_code / "tiny_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(f"""
        [{ENTRY_POINT_GROUP}]
        tiny = tiny_plugin:make_spec
        """)
    )
    importlib.invalidate_caches()
    assert list_architectures()[:6] == ["dit", "c-dit", "cnn", "resnet", "hybrid", "mlp"]
    assert "tiny" in list_architectures()
    assert get_architecture("tiny").class_name == "TinyNet"
    model = build_model({"architecture": "tiny", "hidden": 4})
    assert model(torch.zeros(2, 4)).shape == (2, 4)


def test_broken_entry_point_is_an_input_error(user_code):
    dist = user_code / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nbroken = tiny_user_models:NOT_A_MODULE\n")
    importlib.invalidate_caches()
    with pytest.raises(InputError, match="broken"):
        list_architectures()


def test_without_plugins_unknown_name_is_reported():
    with pytest.raises(
        UnknownArchitectureError, match="known architectures: dit, c-dit, cnn, resnet, hybrid, mlp"
    ):
        get_architecture("tiny")

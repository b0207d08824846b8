"""build_flow_section: stages, folded blocks, side inputs and GENESIS semantics from the zoo."""

from __future__ import annotations

import pytest
import torch
from helpers import flow_of, model_section
from torch import nn

from reporter.flow import analyse_flow
from reporter.models import list_architectures
from reporter.render.flow_svg import flow_to_svg


def _steps(section, key):
    return next(stage.steps for stage in section.stages if stage.key == key)


def test_default_yaml_flow_inputs_tokens_folded_blocks_output():
    section = flow_of(model_section(), 512)
    assert [s.key for s in section.stages] == ["inputs", "embedding", "conditioning", "blocks", "output"]
    inputs = {s.name: s for s in _steps(section, "inputs")}
    assert inputs["x_sig_t"].outputs[0].text == "(512, 2, 5160)"
    assert inputs["x_sig_t"].channels == ["charge", "time"]
    assert inputs["geom"].outputs[0].text == "(512, 3, 5160)"
    assert inputs["geom"].channels == ["x", "y", "z"]
    assert inputs["t"].outputs[0].text == "(512,)" and inputs["t"].outputs[0].dtype == "int64"
    assert inputs["label"].channels == ["Energy", "Zenith", "Azimuth", "X", "Y", "Z"]
    assert section.tokens is not None and section.tokens.text == "(512, 5160, 16)"
    (blocks,) = _steps(section, "blocks")
    assert (blocks.kind, blocks.label, blocks.repeat) == ("repeat", "DiTBlock × 3", 3)
    assert blocks.members == ["blocks.0", "blocks.1", "blocks.2"]
    assert blocks.member_params == [4306, 4306, 4306] and blocks.identical  # reference §2.1 per-block count
    assert [c.label for c in blocks.children if c.kind == "module"] == [
        "ada_attn: AdaLNZero",
        "attn: MultiheadAttention",
        "ada_mlp: AdaLNZero",
        "mlp: MLP",
    ]
    output = _steps(section, "output")[-1]
    assert output.kind == "output" and output.outputs[0].text == "(512, 2, 5160)"
    assert output.channels == ["charge", "time"] and "ε-prediction" in output.description
    assert section.total_params == 98_648


def test_condition_vector_feeds_every_adaln():
    section = flow_of(model_section(), 4)
    (blocks,) = _steps(section, "blocks")
    (side,) = blocks.side_inputs
    assert side.label == "cat(t_mlp, y_mlp)" and side.tensor.text == "(4, 16)"
    consumers = [section.step(c).label for c in side.consumers]
    assert consumers == ["ada_attn: AdaLNZero", "ada_mlp: AdaLNZero"]
    conditioning = [s.label for s in _steps(section, "conditioning")]
    assert conditioning == [
        "t → index → mul → cat",
        "t_mlp: Sequential",
        "y_mlp: Sequential",
        "cat(t_mlp, y_mlp)",
    ]
    embedding = [s.label for s in _steps(section, "embedding")]
    assert embedding == [
        "transpose(x_sig_t)",
        "transpose(geom)",
        "embedder: PMTEmbedding",
        "add(embedder, pos)",
    ]
    residuals = [c.label for c in blocks.children if c.kind == "function" and c.name == "add"]
    assert residuals == ["add(input, mul)", "add(add, mul)"]


def test_normalization_place_follows_the_era():
    dataloader = flow_of(model_section(), 2).normalization
    assert dataloader.where == "dataloader" and dataloader.observed_in_forward == []
    era_a = flow_of({**model_section(), "genesis_version": "architectures@38a35944"}, 2).normalization
    assert era_a.where == "forward"
    assert era_a.observed_in_forward == [
        "add(affine_offset)",
        "mul(affine_scale)",
        "add(label_offset)",
        "mul(label_scale)",
    ]


@pytest.mark.parametrize(
    ("change", "expect_text", "expect_svg"),
    [
        ({"depth": 5}, "DiTBlock × 5", "× 5"),
        ({"hidden": 32, "heads": 4}, "(3, 5160, 32)", "(3, 5160, 32)"),
        ({"seq_len": 700}, "(3, 2, 700)", "(3, 2, 700)"),
    ],
)
def test_changing_the_config_changes_the_drawing(change, expect_text, expect_svg):
    base = flow_of(model_section(), 3)
    changed = flow_of({**model_section(), **change}, 3)
    dumped = changed.model_dump_json()
    assert expect_text in dumped and expect_text not in base.model_dump_json()
    base_svg, changed_svg = flow_to_svg(base), flow_to_svg(changed)
    assert base_svg != changed_svg
    assert expect_svg in changed_svg and expect_svg not in base_svg


class _Small(nn.Module):
    def __init__(self, extra: bool) -> None:
        super().__init__()
        self.inp = nn.Linear(3, 8)
        self.extra = nn.Conv1d(8, 12, kernel_size=3, padding=1) if extra else None
        self.head = nn.Linear(12 if extra else 8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        if self.extra is not None:
            h = self.extra(h.transpose(1, 2)).transpose(1, 2)
        return self.head(h)


def test_an_added_layer_appears_in_the_flow_with_its_shapes():
    def labels(section):
        return {s.label: s for stage in section.stages for s in stage.steps}

    inputs = {"x": torch.zeros(2, 10, 3)}
    base = analyse_flow(_Small(extra=False), inputs, batch_size=2)
    grown = analyse_flow(_Small(extra=True), inputs, batch_size=2)
    assert "extra: Conv1d" not in labels(base)
    extra = labels(grown)["extra: Conv1d"]
    assert extra.inputs[0].text == "(2, 8, 10)" and extra.outputs[0].text == "(2, 12, 10)"
    assert extra.params == 8 * 12 * 3 + 12
    assert labels(grown)["head: Linear"].inputs[0].text == "(2, 10, 12)"
    assert [s.key for s in grown.stages] == ["inputs", "body", "output"]
    assert "extra: Conv1d" in flow_to_svg(grown)


def test_a_wrapper_is_looked_through():
    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = _Small(extra=True)

        def forward(self, x):
            return self.model(x)

    section = analyse_flow(Wrapper(), {"x": torch.zeros(2, 10, 3)}, batch_size=2)
    labels = [s.label for s in section.stages[1].steps]
    assert labels[0] == "inp: Linear" and "extra: Conv1d" in labels


def test_blocks_with_different_kernels_fold_with_their_own_counts():
    cfg = {"architecture": "cnn", "hidden": 8, "depth": 4, "kernel_sizes": [3, 5]}
    section = flow_of(cfg, 2)
    (blocks,) = _steps(section, "blocks")
    assert blocks.repeat == 4 and not blocks.identical
    assert blocks.member_params == [2 * 3 * 64 + 2 * 64 + 8 * 8, 2 * 5 * 64 + 2 * 64 + 8 * 8] * 2
    assert any("differ in parameters" in note for note in section.notes)
    assert section.normalization.where == "forward"


@pytest.mark.parametrize("name", list_architectures())
def test_every_zoo_architecture_has_aflow_of(name):
    section = flow_of({"architecture": name}, 2)
    repeats = [s for stage in section.stages for s in stage.steps if s.kind == "repeat"]
    assert len(repeats) == 1 and repeats[0].repeat >= 2
    output = section.stages[-1].steps[-1]
    assert output.outputs[0].shape == [2, 2, 5160]
    assert all(s.channels for s in section.stages[0].steps if s.name != "t")

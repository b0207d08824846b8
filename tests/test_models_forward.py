"""Forward + backward on fake tensors of the documented shapes, meta-device builds, example inputs."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from reporter.models import build_model, get_architecture

ERA_A = "architectures@38a35944"
CONFIGS = {
    "dit_sum_pos": {"hidden": 16, "depth": 3, "heads": 8, "fusion": "SUM"},
    "dit_sum_nopos": {"hidden": 16, "depth": 3, "heads": 8, "fusion": "SUM", "genesis_version": "pmt_dit@4037ba45"},
    "dit_film": {"hidden": 16, "depth": 2, "heads": 8, "fusion": "FiLM"},
    "dit_era_a_sum": {"hidden": 16, "depth": 2, "heads": 8, "fusion": "SUM", "genesis_version": ERA_A},
    "dit_earliest": {"hidden": 16, "depth": 2, "heads": 8, "fusion": "SUM", "genesis_version": "pmt_dit@9ca9f92d"},
    "dit_era_a_film": {"hidden": 16, "depth": 2, "heads": 8, "fusion": "FiLM", "genesis_version": ERA_A},
    "c-dit_add": {
        "architecture": "c-dit",
        "hidden": 16,
        "depth": 2,
        "heads": 2,
        "update_with_classifier": True,
    },
    "c-dit_concat": {
        "architecture": "c-dit",
        "hidden": 16,
        "depth": 2,
        "heads": 2,
        "combine": "concat",
        "n_cls_tokens": 3,
        "update_with_classifier": False,
    },
    "cnn": {"architecture": "cnn", "hidden": 32, "depth": 5, "kernel_sizes": [3, 5, 7, 9]},
    "resnet": {"architecture": "resnet", "hidden": 32, "depth": 2, "kernel_size": 3},
    "hybrid": {"architecture": "hybrid", "hidden": 32, "depth": 2, "heads": 4, "kernel_size": 3},
    "mlp": {"architecture": "mlp", "hidden": 32, "depth": 2},
}


def spec_of(cfg):
    return get_architecture(cfg.get("architecture", "dit"))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_forward_backward_on_fake_tensors_of_documented_shapes(name):
    cfg = CONFIGS[name]
    spec = spec_of(cfg)
    with FakeTensorMode():
        model = build_model(cfg)
        inputs = spec.example_inputs(cfg, 3)
        out = model(**inputs)
        assert tuple(out.shape) == (3, 2, 5160)
        out.float().pow(2).mean().backward()
        assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())


@pytest.mark.parametrize("name", list(CONFIGS))
def test_builds_on_meta_device(name):
    with torch.device("meta"):
        model = build_model(CONFIGS[name])
    assert all(p.is_meta for p in model.parameters())


@pytest.mark.parametrize("name", list(CONFIGS))
def test_real_forward_backward_gives_finite_gradients(name):
    cfg = {**CONFIGS[name], "seq_len": 37}  # small L: L != hidden exercises the broadcasting fixes
    torch.manual_seed(0)
    model = build_model(cfg)
    for p in model.parameters():  # leave the zero-init of GENESIS behind so every path carries gradient
        p.data.normal_(0, 0.05)
    out = model(**spec_of(cfg).example_inputs(cfg, 2))
    assert out.shape == (2, 2, 37)
    out.pow(2).mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


@pytest.mark.parametrize("name", list(CONFIGS))
def test_example_inputs_follow_forward_signature_and_semantics(name):
    cfg = CONFIGS[name]
    spec = spec_of(cfg)
    inputs = spec.example_inputs(cfg, 4)
    forward_params = [p for p in inspect.signature(build_model(cfg).forward).parameters]
    assert list(inputs) == forward_params == list(spec.inputs)
    for key, tensor in inputs.items():
        assert tensor.shape[0] == 4
        assert len(tensor.shape) == spec.inputs[key].shape.count(",") + (0 if tensor.dim() == 1 else 1)
    assert inputs["t"].dtype == torch.int64 and int(inputs["t"].min()) >= 0 and int(inputs["t"].max()) < 1000
    assert inputs["geom"].shape == (4, 3, 5160) and inputs["label"].shape == (4, 6)


def test_cdit_forward_order_differs_from_the_rest():
    assert list(get_architecture("c-dit").inputs) == ["x_sig", "t", "label", "geom"]
    for name in ("dit", "cnn", "resnet", "hybrid", "mlp"):
        assert list(get_architecture(name).inputs) == ["x_sig_t", "geom", "t", "label"]


def test_conv_family_normalizes_in_forward_with_x_plus_offset_times_scale():
    identity = {"affine_offsets": [0.0] * 5, "affine_scales": [1.0] * 5}
    cfg = {"architecture": "mlp", "hidden": 8, "depth": 0, "seq_len": 4, **identity}
    cfg_shift = {**cfg, "affine_offsets": [1.0, 0, 0, 0, 0], "affine_scales": [2.0, 1, 1, 1, 1]}
    torch.manual_seed(0)
    plain = build_model(cfg)
    shifted = build_model(cfg_shift)
    shifted.load_state_dict(
        plain.state_dict() | {k: shifted.state_dict()[k] for k in ("affine_offset", "affine_scale")}
    )
    inputs = get_architecture("mlp").example_inputs(cfg, 2)
    moved = dict(inputs, x_sig_t=inputs["x_sig_t"].clone())
    moved["x_sig_t"][:, 0] = (inputs["x_sig_t"][:, 0] + 1.0) * 2.0  # what the buffers do to the charge
    assert torch.allclose(shifted(**inputs), plain(**moved), atol=1e-6)
    assert get_architecture("mlp").normalization(cfg).where == "forward"


def test_normalization_and_notes_per_layout():
    dit = get_architecture("dit")
    assert dit.normalization({}).where == "dataloader"
    assert dit.normalization({"genesis_version": ERA_A}).where == "forward"
    assert dit.normalization({"genesis_version": "pmt_dit@2628e571"}).where == "forward"
    assert dit.normalization({"genesis_version": "pmt_dit@9ca9f92d"}).buffers == ("affine_offset", "affine_scale")
    assert dit.normalization({"genesis_version": "pmt_dit@4037ba45"}).where == "dataloader"
    assert dit.notes({"fusion": "SUM"}) == []
    assert any("Era-A FiLM" in n for n in dit.notes({"fusion": "FiLM", "genesis_version": ERA_A}))
    assert any("FiLM" in n for n in get_architecture("mlp").notes({}))
    cdit = get_architecture("c-dit")
    assert any("expands" in n for n in cdit.notes({"update_with_classifier": True, "n_cls_tokens": 2}))
    assert cdit.notes({"update_with_classifier": True}) == []

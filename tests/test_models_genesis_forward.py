"""GENESIS's forward, pinned: the order modules run in one block of each architecture, the residuals, the
parameterless module names and the sin-first timestep embedding (genesis-reference.md §6)."""

from __future__ import annotations

import math

import pytest
import torch

from reporter.models import build_model
from reporter.models.layers import sinusoidal_embedding


def call_order(module: torch.nn.Module, run) -> list[str]:
    """Qualified names of the submodules of ``module`` in the order their forward starts."""
    order: list[str] = []
    handles = [sub.register_forward_pre_hook(lambda m, a, name=name: order.append(name))
               for name, sub in module.named_modules() if name]
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return order


def test_timestep_embedding_is_sin_first():
    t = torch.tensor([0, 1, 7, 999])
    emb = sinusoidal_embedding(t, 8)
    freqs = [math.exp(-math.log(10000.0) * i / 4) for i in range(4)]
    expected = [[math.sin(float(v) * f) for f in freqs] + [math.cos(float(v) * f) for f in freqs] for v in t]
    assert torch.allclose(emb, torch.tensor(expected), atol=1e-6)
    assert emb[0, :4].tolist() == [0.0] * 4 and emb[0, 4:].tolist() == [1.0] * 4  # t = 0: sin 0, cos 1
    assert sinusoidal_embedding(t, 7)[:, -1].tolist() == [0.0] * 4  # odd width: zero-padded
    assert sinusoidal_embedding(t, 1).tolist() == [[0.0]] * 4  # half == 0: zeros, as GENESIS


def _block_and_inputs(cfg: dict, hidden: int, length: int = 12, batch: int = 2):
    torch.manual_seed(0)
    model = build_model({"seq_len": length, "hidden": hidden, "depth": 1, "dropout": 0.0, **cfg}).eval()
    return model, model.blocks[0], torch.randn(batch, hidden, length), torch.randn(batch, hidden)


@pytest.mark.parametrize("arch", ["cnn", "resnet"])
def test_conv_block_order_names_and_residual(arch):
    model, block, x, cond = _block_and_inputs({"architecture": arch}, hidden=8)
    assert [n for n, m in block.named_children()] == ["conv1", "conv2", "norm1", "norm2", "film", "dropout",
                                                     "activation"]
    assert type(block.activation).__name__ == "GELU"
    order = call_order(block, lambda: block(x, cond))
    assert order == ["conv1", "norm1", "activation", "dropout", "conv2", "norm2", "film", "film.gamma",
                     "film.beta", "activation", "dropout"]
    with torch.no_grad():  # non-zero FiLM so the test sees where it acts
        block.film.gamma.weight.normal_()
        block.film.beta.bias.normal_()
        h = block.activation(block.norm1(block.conv1(x)))
        h = block.norm2(block.conv2(h))
        h = h * (1 + block.film.gamma(cond).unsqueeze(-1)) + block.film.beta(cond).unsqueeze(-1)
        assert torch.allclose(block(x, cond), block.activation(h) + x, atol=1e-5)


def test_hybrid_block_conv_branch_replaces_x():
    model, block, x, cond = _block_and_inputs({"architecture": "hybrid", "heads": 2}, hidden=8)
    order = call_order(block, lambda: block(x, cond))
    assert order[:5] == ["conv", "conv.0", "conv.1", "conv.2", "conv.3"]
    assert order.index("ada_attn") < order.index("attn") < order.index("ada_mlp") < order.index("mlp")
    assert "ada_attn.ln" in order  # AdaLNZero's LayerNorm is `ln`
    with torch.no_grad():  # the gates start at zero: the block returns the conv branch alone (no residual)
        assert torch.allclose(block(x, cond), block.conv(x), atol=1e-6)


def test_mlp_block_is_norm_mlp_film_plus_residual_on_rows():
    model = build_model({"architecture": "mlp", "seq_len": 5, "hidden": 8, "depth": 1, "dropout": 0.0}).eval()
    block = model.blocks[0]
    rows, cond = torch.randn(10, 8), torch.randn(10, 8)
    assert call_order(block, lambda: block(rows, cond)) == ["norm", "mlp", "mlp.0", "mlp.1", "mlp.2", "mlp.3",
                                                           "mlp.4", "film", "film.gamma", "film.beta"]
    with torch.no_grad():
        block.film.gamma.bias.fill_(0.5)
        expected = block.mlp(block.norm(rows)) * 1.5 + block.film.beta(cond) + rows
        assert torch.allclose(block(rows, cond), expected, atol=1e-6)


def test_dit_block_order():
    model = build_model({"seq_len": 6, "hidden": 8, "depth": 1, "heads": 2, "fusion": "SUM"})
    x, cond = torch.randn(2, 6, 8), torch.randn(2, 8)
    block = model.blocks[0]
    assert call_order(block, lambda: block(x, cond)) == [
        "ada_attn", "ada_attn.ln", "ada_attn.to_scale", "ada_attn.to_shift", "attn",
        "ada_mlp", "ada_mlp.ln", "ada_mlp.to_scale", "ada_mlp.to_shift", "mlp", "mlp.fc1", "mlp.act", "mlp.drop",
        "mlp.fc2", "mlp.drop"]


def test_cdit_block_updates_tokens_then_classifier_with_cross_attention():
    model = build_model({"architecture": "c-dit", "seq_len": 6, "hidden": 8, "classifier_size": 16, "depth": 1,
                         "heads": 2, "update_with_classifier": True})
    inputs = {"x_sig": torch.randn(2, 2, 6), "t": torch.tensor([1, 2]), "label": torch.randn(2, 6),
              "geom": torch.randn(2, 3, 6)}
    order = call_order(model, lambda: model(**inputs))
    blocks = [n for n in order if n.startswith("blocks.0.") and n.count(".") == 2]
    assert blocks == ["blocks.0.0", "blocks.0.1"]  # PMT tokens first, then the classifier token
    assert order.index("blocks.0.1.norm") < order.index("blocks.0.1.mha") < order.index("blocks.0.1.combine")
    assert order[-2:] == ["final_proj.0", "final_proj.1"] and "decoder" in order
    assert type(model.embedder).__name__ == "PMTEmbedding"


def test_pmt_dit_versions_normalize_where_genesis_did():
    x_sig, geom = torch.randn(1, 2, 4), torch.randn(1, 3, 4)
    inputs = {"x_sig_t": x_sig, "geom": geom, "t": torch.tensor([3]), "label": torch.randn(1, 6)}
    base = {"seq_len": 4, "hidden": 8, "depth": 1, "heads": 2, "dropout": 0.0, "fusion": "SUM",
            "affine_offsets": [1.0, 2.0, 3.0, 4.0, 5.0], "affine_scales": [2.0] * 5}
    outputs = {}
    for version in ("pmt_dit@27a044fa", "pmt_dit@2628e571"):
        torch.manual_seed(0)
        model = build_model({**base, "genesis_version": version}).eval()
        outputs[version] = model(**inputs)
        if version == "pmt_dit@27a044fa":
            shifted = {**inputs, "x_sig_t": (x_sig + torch.tensor([1.0, 2.0]).view(1, 2, 1)) * 2.0,
                       "geom": (geom + torch.tensor([3.0, 4.0, 5.0]).view(1, 3, 1)) * 2.0}
            expected = model(**shifted)
    assert torch.allclose(outputs["pmt_dit@2628e571"], expected, atol=1e-5)  # same weights, normalized inside
    assert not torch.allclose(outputs["pmt_dit@27a044fa"], outputs["pmt_dit@2628e571"])

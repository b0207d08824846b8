"""state_dict keys and shapes against tables written from genesis-reference.md §2 (not from our code)."""

from __future__ import annotations

import pytest

from reporter.models import build_model
from reporter.models.versions import DIT_VERSIONS


def linear(prefix: str, out_dim: int, in_dim: int) -> list[tuple[str, tuple[int, ...]]]:
    return [(f"{prefix}.weight", (out_dim, in_dim)), (f"{prefix}.bias", (out_dim,))]


def conv(prefix: str, out_dim: int, in_dim: int, k: int) -> list[tuple[str, tuple[int, ...]]]:
    return [(f"{prefix}.weight", (out_dim, in_dim, k)), (f"{prefix}.bias", (out_dim,))]


def batchnorm(prefix: str, h: int) -> list[tuple[str, tuple[int, ...]]]:
    return [
        (f"{prefix}.weight", (h,)),
        (f"{prefix}.bias", (h,)),
        (f"{prefix}.running_mean", (h,)),
        (f"{prefix}.running_var", (h,)),
        (f"{prefix}.num_batches_tracked", ()),
    ]


def layernorm(prefix: str, h: int) -> list[tuple[str, tuple[int, ...]]]:
    return [(f"{prefix}.weight", (h,)), (f"{prefix}.bias", (h,))]


def dit_table(h, depth, fusion="SUM", layout="pmt_dit", pos=True, t=128, ld=6, r=4.0, seq_len=5160,
              label_buffers=True):
    """§2.1 key pattern, in the order the reference gives (verified there with a structural replica)."""
    m, c = int(h * r), 2 * (h // 2)
    rows = [("pos", (1, seq_len, h))] if pos else []
    rows += [("affine_offset", (5, 1)), ("affine_scale", (5, 1))]
    if label_buffers:
        rows += [("label_offset", (ld,)), ("label_scale", (ld,))]
    rows += linear("embedder.signal_net.0", h, 2) + linear("embedder.signal_net.3", h, h)
    rows += linear("embedder.geom_net.0", h, 3) + linear("embedder.geom_net.3", h, h)
    if fusion == "FiLM" and layout == "pmt_dit":
        rows += linear("embedder.label_to_film.0", h, ld) + linear("embedder.label_to_film.2", 2 * h, h)
    if fusion == "FiLM" and layout == "era_a":
        rows += linear("embedder.film.gamma", h, ld) + linear("embedder.film.beta", h, ld)
    rows += linear("t_mlp.0", h, t) + linear("t_mlp.2", h // 2, h)
    rows += linear("y_mlp.0", h, ld) + linear("y_mlp.2", h // 2, h)
    fc1, fc2 = ("fc1", "fc2") if layout == "pmt_dit" else ("0", "3")
    for i in range(depth):
        b = f"blocks.{i}"
        rows += [(f"{b}.gate_attn", (1,)), (f"{b}.gate_mlp", (1,))]
        rows += linear(f"{b}.ada_attn.to_scale", h, c) + linear(f"{b}.ada_attn.to_shift", h, c)
        rows += [(f"{b}.attn.in_proj_weight", (3 * h, h)), (f"{b}.attn.in_proj_bias", (3 * h,))]
        rows += linear(f"{b}.attn.out_proj", h, h)
        rows += linear(f"{b}.ada_mlp.to_scale", h, c) + linear(f"{b}.ada_mlp.to_shift", h, c)
        rows += linear(f"{b}.mlp.{fc1}", m, h) + linear(f"{b}.mlp.{fc2}", h, m)
    rows += layernorm("ln_out", h) + linear("out_proj", 2, h)
    return rows


def cdit_table(h, cs, depth, factor=2, combine="add", update=True, n_cls=1, t=128, ld=6):
    """§2.2 tree and key names (order within the file not given by the reference: compared as a mapping)."""
    hs = h if combine == "add" else 2 * h
    f = factor
    rows = [("cls_token", (1, n_cls, cs))]
    rows += [
        ("affine_offset", (1, 5, 1)),
        ("affine_scale", (1, 5, 1)),
        ("label_offset", (1, ld)),
        ("label_scale", (1, ld)),
    ]
    rows += linear("embedder.signal_net.0", h, 2) + linear("embedder.signal_net.3", h, h)
    rows += linear("embedder.geom_net.0", h, 3) + linear("embedder.geom_net.3", h, h)
    rows += linear("t_mlp.0", h, t) + linear("t_mlp.2", h, h)
    rows += linear("label_mlp.0", h, ld) + linear("label_mlp.2", h, h)
    rows += linear("cond_proj", cs, 2 * h)
    block_in = hs + (cs if update else 0)
    for i in range(depth):
        b = f"blocks.{i}"
        rows += linear(f"{b}.0.0", f * hs, block_in) + linear(f"{b}.0.3", hs, f * hs)
        rows += layernorm(f"{b}.1.norm", hs)
        if hs == cs:
            rows += [(f"{b}.1.mha.in_proj_weight", (3 * cs, cs))]
        else:
            rows += [
                (f"{b}.1.mha.q_proj_weight", (cs, cs)),
                (f"{b}.1.mha.k_proj_weight", (cs, hs)),
                (f"{b}.1.mha.v_proj_weight", (cs, hs)),
            ]
        rows += [(f"{b}.1.mha.in_proj_bias", (3 * cs,))] + linear(f"{b}.1.mha.out_proj", cs, cs)
        rows += layernorm(f"{b}.1.combine.0", cs)
        rows += linear(f"{b}.1.combine.1", f * cs, cs) + linear(f"{b}.1.combine.4", cs, f * cs)
    rows += linear("decoder.0", h, cs) + linear("decoder.3", hs, h)
    rows += layernorm("final_proj.0", hs) + linear("final_proj.1", 2, hs)
    return rows


def conditioning(h, t=128, ld=6):
    return (
        linear("t_mlp.0", h, t) + linear("t_mlp.2", h, h) + linear("y_mlp.0", h, ld) + linear("y_mlp.2", h, h)
    )


def cnn_table(h, kernels, t=128, ld=6):
    """§2.3 CNN/ResNet: kernels = the kernel size of each block."""
    rows = [("affine_offset", (5, 1)), ("affine_scale", (5, 1))] + conv("input_proj", h, 5, 1)
    for i, k in enumerate(kernels):
        b = f"blocks.{i}"
        rows += conv(f"{b}.conv1", h, h, k) + conv(f"{b}.conv2", h, h, k)
        rows += batchnorm(f"{b}.norm1", h) + batchnorm(f"{b}.norm2", h)
        rows += linear(f"{b}.film.gamma", h, h) + linear(f"{b}.film.beta", h, h)
    return rows + conditioning(h, t, ld) + conv("output_proj", 2, h, 1)


def hybrid_table(h, depth, k, t=128, ld=6):
    rows = [("affine_offset", (5, 1)), ("affine_scale", (5, 1))] + conv("input_proj", h, 5, 1)
    for i in range(depth):
        b = f"blocks.{i}"
        rows += [(f"{b}.gate_attn", (1,)), (f"{b}.gate_mlp", (1,))]
        rows += conv(f"{b}.conv.0", h, h, k) + batchnorm(f"{b}.conv.1", h)
        rows += linear(f"{b}.ada_attn.to_scale", h, h) + linear(f"{b}.ada_attn.to_shift", h, h)
        rows += [(f"{b}.attn.in_proj_weight", (3 * h, h)), (f"{b}.attn.in_proj_bias", (3 * h,))]
        rows += linear(f"{b}.attn.out_proj", h, h)
        rows += linear(f"{b}.ada_mlp.to_scale", h, h) + linear(f"{b}.ada_mlp.to_shift", h, h)
        rows += linear(f"{b}.mlp.0", 4 * h, h) + linear(f"{b}.mlp.3", h, 4 * h)
    return rows + conditioning(h, t, ld) + conv("output_proj", 2, h, 1)


def mlp_table(h, depth, t=128, ld=6):
    rows = [("affine_offset", (5, 1)), ("affine_scale", (5, 1))] + linear("input_proj", h, 5)
    for i in range(depth):
        b = f"blocks.{i}"
        rows += linear(f"{b}.mlp.0", 4 * h, h) + linear(f"{b}.mlp.3", h, 4 * h)
        rows += linear(f"{b}.film.gamma", h, h) + linear(f"{b}.film.beta", h, h)
        rows += layernorm(f"{b}.norm", h)
    return rows + conditioning(h, t, ld) + linear("output_proj", 2, h)


def actual(model_cfg) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in build_model(model_cfg).state_dict().items()]


DIT_BASE = {"hidden": 16, "depth": 3, "heads": 8}


def test_dit_default_layout_has_79_keys_in_reference_order():
    got = actual({**DIT_BASE, "fusion": "SUM"})
    assert len(got) == 79
    assert got == dit_table(16, 3)


@pytest.mark.parametrize("fusion", ["SUM", "FiLM"])
@pytest.mark.parametrize("version", sorted(DIT_VERSIONS))
def test_dit_versions_keys_order_and_shapes(fusion, version):
    cfg = {**DIT_BASE, "fusion": fusion, "genesis_version": version}
    v = DIT_VERSIONS[version]
    assert actual(cfg) == dit_table(16, 3, fusion=fusion, layout=v.layout, pos=v.pos, label_buffers=v.label_buffers)


@pytest.mark.parametrize("legacy, version", [({"pos_embedding": False}, "pmt_dit@4037ba45"),
                                             ({"dit_layout": "era_a"}, "architectures@38a35944"),
                                             ({"pos_embedding": True, "dit_layout": "pmt_dit"}, "pmt_dit@27a044fa")])
def test_legacy_layout_keys_name_a_genesis_version(legacy, version):
    assert actual({**DIT_BASE, **legacy}) == actual({**DIT_BASE, "genesis_version": version})


def test_dit_nondefault_dims_keys_and_shapes():
    cfg = {
        "hidden": 24,
        "depth": 2,
        "heads": 4,
        "t_embed_dim": 32,
        "mlp_ratio": 2.5,
        "seq_len": 100,
        "fusion": "FiLM",
    }
    assert actual(cfg) == dit_table(24, 2, fusion="FiLM", t=32, r=2.5, seq_len=100)


@pytest.mark.parametrize(
    "override",
    [
        {},
        {"update_with_classifier": False},
        {"combine": "concat"},
        {"n_cls_tokens": 3, "factor": 3, "depth": 1},
        {"classifier_size": 16},  # Hs == Cs: PyTorch packs q/k/v into in_proj_weight
    ],
)
def test_cdit_keys_and_shapes(override):
    cfg = {
        "architecture": "c-dit",
        "hidden": 16,
        "classifier_size": 128,
        "depth": 2,
        "heads": 2,
        "factor": 2,
        "combine": "add",
        "update_with_classifier": True,
        "n_cls_tokens": 1,
        **override,
    }
    expected = cdit_table(
        cfg["hidden"],
        cfg["classifier_size"],
        cfg["depth"],
        cfg["factor"],
        cfg["combine"],
        cfg["update_with_classifier"],
        cfg["n_cls_tokens"],
    )
    got = actual(cfg)
    assert dict(got) == dict(expected)
    assert len(got) == len(expected)
    assert got[0][0] == "cls_token"  # own parameters come first in a state_dict


def test_cnn_kernel_of_block_i_is_kernel_sizes_i_mod_len():
    cfg = {"architecture": "cnn", "hidden": 32, "depth": 6, "kernel_sizes": [3, 5, 7, 9]}
    assert dict(actual(cfg)) == dict(cnn_table(32, [3, 5, 7, 9, 3, 5]))


def test_resnet_single_kernel():
    cfg = {"architecture": "resnet", "hidden": 32, "depth": 3, "kernel_size": 5}
    assert dict(actual(cfg)) == dict(cnn_table(32, [5, 5, 5]))


def test_hybrid_keys():
    cfg = {"architecture": "hybrid", "hidden": 32, "depth": 2, "heads": 4, "kernel_size": 3}
    got = actual(cfg)
    assert dict(got) == dict(hybrid_table(32, 2, 3))
    assert len(got) == len(hybrid_table(32, 2, 3))


def test_mlp_keys():
    cfg = {"architecture": "mlp", "hidden": 32, "depth": 2}
    assert dict(actual(cfg)) == dict(mlp_table(32, 2))


def test_conv_family_has_no_label_buffers_and_batchnorm_buffers_are_not_parameters():
    model = build_model({"architecture": "cnn", "hidden": 8, "depth": 1})
    keys = set(model.state_dict())
    assert "label_offset" not in keys and "label_scale" not in keys
    params = {name for name, _ in model.named_parameters()}
    assert "blocks.0.norm1.running_mean" in keys - params

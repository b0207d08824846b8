"""Every worked parameter count in genesis-reference.md §2 (and the issue's "done means")."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from reporter.models import build_model
from reporter.models.versions import DIT_VERSIONS

REPO = Path(__file__).resolve().parent.parent
DIT16 = {"hidden": 16, "depth": 3, "heads": 8, "t_embed_dim": 128, "mlp_ratio": 4.0, "label_dim": 6}


def n_params(model_cfg) -> int:
    with torch.device("meta"):  # counts need shapes only
        return sum(p.numel() for p in build_model(model_cfg).parameters())


def shipped(name: str) -> dict:
    return yaml.safe_load((REPO / "configs" / name).read_text())["model"]


@pytest.mark.parametrize(
    "model_cfg, expected",
    [
        ({**DIT16, "fusion": "SUM"}, 98_648),
        ({**DIT16, "fusion": "SUM", "pos_embedding": False}, 16_088),
        ({**DIT16, "fusion": "SUM", "dit_layout": "era_a"}, 98_648),
        ({**DIT16, "fusion": "FiLM"}, 99_304),
        ({**DIT16, "fusion": "FiLM", "dit_layout": "era_a"}, 98_872),
        ({"hidden": 512, "depth": 8, "fusion": "FiLM"}, 37_641_746),
        ({"hidden": 512, "depth": 8, "fusion": "FiLM", "pos_embedding": False}, 34_999_826),
        ({"hidden": 256, "depth": 4, "heads": 8, "fusion": "FiLM", "pos_embedding": False}, 4_576_010),
        ({"hidden": 256, "depth": 4, "heads": 8, "fusion": "FiLM"}, 5_896_970),
        ({"hidden": 128, "depth": 2, "heads": 2, "t_embed_dim": 32, "fusion": "SUM"}, 1_244_166),
        ({"architecture": "resnet", "hidden": 256, "depth": 8, "kernel_size": 3}, 4_379_138),
        ({"architecture": "hybrid", "hidden": 384, "depth": 6, "heads": 6, "kernel_size": 3}, 17_197_838),
        ({"architecture": "mlp", "hidden": 512, "depth": 6}, 16_355_330),
    ],
)
def test_reference_worked_counts(model_cfg, expected):
    assert n_params(model_cfg) == expected


def test_cnn_yaml_count():
    assert n_params(shipped("cnn.yaml")) == 5_161_474


def test_cdit_yaml_counts_with_and_without_classifier_update():
    section = shipped("c-dit.yaml")
    assert section["update_with_classifier"] is True
    assert n_params(section) == 227_634
    assert n_params({**section, "update_with_classifier": False}) == 219_442


def test_heads_do_not_change_dit_count():
    assert n_params({**DIT16, "fusion": "SUM", "heads": 1}) == n_params(
        {**DIT16, "fusion": "SUM", "heads": 16}
    )


def dit_formula(h, depth, t, ld, r, seq_len, fusion, layout, pos):
    """Reference §2.1 closed form."""
    m, c = int(h * r), 2 * (h // 2)
    total = 2 * h * h + 9 * h
    if fusion == "FiLM":
        total += (ld + 1) * h + 2 * h * h + 2 * h if layout == "pmt_dit" else 2 * (ld * h + h)
    total += seq_len * h if pos else 0
    total += (t + 1) * h + h * (h // 2) + h // 2 + (ld + 1) * h + h * (h // 2) + h // 2
    total += depth * (4 * (c * h + h) + 4 * h * h + 4 * h + 2 * h * m + m + h + 2)
    return total + 2 * h + 2 * h + 2


@pytest.mark.parametrize("h, depth, t, r", [(24, 2, 64, 3.0), (64, 5, 100, 2.5), (40, 1, 16, 4.0)])
@pytest.mark.parametrize("fusion", ["SUM", "FiLM"])
@pytest.mark.parametrize("version", sorted(DIT_VERSIONS))
def test_dit_matches_reference_formula(h, depth, t, r, fusion, version):
    cfg = {"hidden": h, "depth": depth, "heads": 4, "t_embed_dim": t, "mlp_ratio": r, "seq_len": 300}
    cfg.update(fusion=fusion, genesis_version=version)
    layout, pos = DIT_VERSIONS[version].layout, DIT_VERSIONS[version].pos
    assert n_params(cfg) == dit_formula(h, depth, t, 6, r, 300, fusion, layout, pos)


@pytest.mark.parametrize("version, expected", [("pmt_dit@4037ba45", 16_088), ("pmt_dit@27a044fa", 98_648),
                                               ("pmt_dit@2628e571", 98_648), ("pmt_dit@9ca9f92d", 98_648),
                                               ("architectures@38a35944", 98_648)])
def test_default_yaml_count_in_every_genesis_version(version, expected):
    assert n_params({**shipped("default.yaml"), "genesis_version": version}) == expected


def conv_family_formula(arch, h, depth, k_list, t=128, ld=6):
    """Reference §2.3 closed forms."""
    shared = 6 * h + (t + 1) * h + (ld + 1) * h + 2 * (h * h + h) + 2 * h + 2
    if arch in ("cnn", "resnet"):
        return shared + sum(2 * k * h * h + 2 * h * h + 8 * h for k in k_list)
    if arch == "hybrid":
        return shared + depth * ((k_list[0] + 16) * h * h + 16 * h + 2)
    return shared + depth * (10 * h * h + 9 * h)


@pytest.mark.parametrize(
    "cfg, kernels",
    [
        ({"architecture": "cnn", "hidden": 48, "depth": 5, "kernel_sizes": [3, 5]}, [3, 5, 3, 5, 3]),
        ({"architecture": "resnet", "hidden": 40, "depth": 3, "kernel_size": 7}, [7, 7, 7]),
        ({"architecture": "hybrid", "hidden": 48, "depth": 3, "heads": 4, "kernel_size": 5}, [5]),
        ({"architecture": "mlp", "hidden": 48, "depth": 4}, []),
    ],
)
def test_conv_family_matches_reference_formula(cfg, kernels):
    assert n_params(cfg) == conv_family_formula(cfg["architecture"], cfg["hidden"], cfg["depth"], kernels)


def cdit_formula(h, cs, depth, f, combine, update, n, t=128, ld=6):
    """Reference §2.2 closed form."""
    hs = h if combine == "add" else 2 * h
    block_in = hs + (cs if update else 0)
    block = block_in * f * hs + f * hs + f * hs * hs + hs
    block += 2 * hs + 2 * cs * cs + 2 * cs * hs + 4 * cs + 2 * cs + 2 * f * cs * cs + f * cs + cs
    total = 2 * h * h + 9 * h + n * cs + (t + 1) * h + h * h + h + (ld + 1) * h + h * h + h + 2 * h * cs + cs
    return total + depth * block + cs * h + h + h * hs + hs + 2 * hs + 2 * hs + 2


@pytest.mark.parametrize("combine", ["add", "concat"])
@pytest.mark.parametrize("update", [True, False])
@pytest.mark.parametrize("n_cls, factor", [(1, 2), (4, 3)])
def test_cdit_matches_reference_formula(combine, update, n_cls, factor):
    cfg = {"architecture": "c-dit", "hidden": 16, "classifier_size": 64, "depth": 2, "heads": 2}
    cfg.update(combine=combine, update_with_classifier=update, n_cls_tokens=n_cls, factor=factor)
    assert n_params(cfg) == cdit_formula(16, 64, 2, factor, combine, update, n_cls)

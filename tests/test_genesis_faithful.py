"""The weights decide: checkpoints written the way GENESIS's trainer writes them, whose embedded config does
not say which GENESIS built the model, are reported as the model the weights hold in every section."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from helpers import CONFIGS, write_yaml
from inprocess import run_main
from test_checkpoint_helpers import forget_module

from reporter.models import build_model

GENESIS_CONFIG = textwrap.dedent(
    """
    from dataclasses import dataclass, field
    from typing import Optional, Tuple

    @dataclass
    class ModelConfig:
        architecture: str = "dit"
        seq_len: int = 5160
        hidden: int = 512
        depth: int = 8
        heads: int = 8
        dropout: float = 0.1
        fusion: str = "FiLM"
        label_dim: int = 6
        t_embed_dim: int = 128
        mlp_ratio: float = 4.0
        classifier_size: int = 128
        factor: int = 2
        combine: str = "add"
        update_with_classifier: bool = False
        n_cls_tokens: int = 1
        affine_offsets: Tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
        affine_scales: Tuple[float, ...] = (100.0, 10.0, 600.0, 550.0, 550.0)
        label_offsets: Tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        label_scales: Tuple[float, ...] = (5e7, 1.0, 1.0, 600.0, 550.0, 550.0)
        time_transform: Optional[str] = "ln"

    @dataclass
    class TrainingConfig:
        num_epochs: int = 100
        learning_rate: float = 2e-4
        optimizer: str = "AdamW"
        use_amp: bool = True

    @dataclass
    class DataConfig:
        batch_size: int = 512
    """
)


SHAPE_ERRORS = {"weights.missing-key", "weights.unexpected-key", "weights.shape-mismatch"}


def _trainer_checkpoint(tmp_path: Path, yaml_model: dict, weights: dict[str, torch.Tensor], name: str) -> Path:
    """Save what GENESIS's trainer saves: the embedded config is the YAML's, the weights are the model's."""
    folder = tmp_path / f"mod_{name}"
    folder.mkdir()
    (folder / "config.py").write_text(GENESIS_CONFIG)
    import importlib
    import sys

    sys.path.insert(0, str(folder))
    sys.modules.pop("config", None)
    config = importlib.import_module("config")
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in yaml_model.items()
              if k in config.ModelConfig.__dataclass_fields__}
    ckpt = {"epoch": 4, "global_step": 50, "model_state_dict": weights,
            "optimizer_state_dict": {"state": {}, "param_groups": []}, "best_loss": np.float64(0.5),
            "config": {"experiment_name": name, "model": config.ModelConfig(**fields),
                       "training": config.TrainingConfig(), "data": config.DataConfig(), "device": "cuda"},
            "metrics": {"train/epoch_loss": np.float64(0.5)}}
    path = tmp_path / f"{name}_epoch_0004_early_stop.pt"
    torch.save(ckpt, path)
    forget_module("config", folder)
    return path


def _numbers(value) -> list[int]:
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return [value] if isinstance(value, int) and not isinstance(value, bool) else []


def _report_json(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / f"r{len(list(tmp_path.glob('r*.json')))}.json"
    result = run_main(*args, "--batch-size", "2", "--target", "cpu", "-o", str(out), "-q")
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("version, total, other", [("pmt_dit@4037ba45", 16_088, 98_648),
                                                   ("pmt_dit@27a044fa", 98_648, 16_088)])
def test_both_pmtdit_eras_give_the_weights_count_in_every_section(tmp_path, version, total, other):
    yaml_model = yaml.safe_load((CONFIGS / "default.yaml").read_text())["model"]  # no layout key
    weights = build_model({**yaml_model, "genesis_version": version}).state_dict()
    path = _trainer_checkpoint(tmp_path, yaml_model, weights, "icecube_diffusion_default")
    data = _report_json(tmp_path, "--checkpoint", str(path))
    assert data["summary"]["total_parameters"] == total
    assert data["parameters"]["total"] == total
    assert data["checkpoint"]["model"]["parameters"] == total
    assert data["flow"]["total_params"] == total
    assert {r["key"]: r for r in data["memory"]["table"]}["parameters"]["fp32"] == total * 4  # CPU: unrounded
    assert data["summary"]["genesis"]["version"] == version
    numbers = _numbers(data)
    assert other not in numbers and other * 4 not in numbers  # no other total anywhere in the JSON
    assert not any(f["code"] in SHAPE_ERRORS for f in data["findings"])
    decided = [f["message"] for f in data["findings"] if f["code"] == "checkpoint.weights-decide"]
    assert decided == ([] if version == "pmt_dit@27a044fa" else [
        "the weights describe another model than the embedded config; every section uses the weights' values: "
        "model.genesis_version: the embedded config does not say (default 'pmt_dit@27a044fa'), the weights "
        "hold 'pmt_dit@4037ba45'"])
    # the early-stop suffix lives in the file name
    assert data["checkpoint"]["training"]["suffix"] == "early_stop"
    assert data["checkpoint"]["training"]["suffix_source"] == "name"


def test_cdit_factory_values_come_from_the_weights_not_the_yaml(tmp_path):
    yaml_model = {**yaml.safe_load((CONFIGS / "c-dit.yaml").read_text())["model"], "classifier_size": 64,
                  "update_with_classifier": False}
    weights = build_model({**yaml_model, "classifier_size": 128, "update_with_classifier": True}).state_dict()
    path = _trainer_checkpoint(tmp_path, yaml_model, weights, "icecube_c_dit")
    data = _report_json(tmp_path, "--checkpoint", str(path), "--no-memory")
    assert data["summary"]["total_parameters"] == 227_634
    assert data["checkpoint"]["model"]["parameters"] == 227_634
    assert not any(f["code"] in SHAPE_ERRORS for f in data["findings"])
    decided = [f for f in data["findings"] if f["code"] == "checkpoint.weights-decide"]
    assert len(decided) == 1
    assert "model.classifier_size: the embedded config says 64, the weights hold 128" in decided[0]["message"]
    assert "model.update_with_classifier: the embedded config says False, the weights hold True" in \
        decided[0]["message"]
    rows = {f["key"]: f for f in data["config"]["sections"]["model"]}
    assert rows["classifier_size"]["value"] == 128 and rows["classifier_size"]["source"] == "weights"
    assert rows["classifier_size"]["input_value"] == 64


def test_config_report_names_the_assumed_version_and_the_other_count(tmp_path):
    data = _report_json(tmp_path, "--config", str(CONFIGS / "default.yaml"), "--no-memory")
    assert data["summary"]["total_parameters"] == 98_648
    assert data["summary"]["genesis"]["basis"] == "assumed"
    (other,) = [f for f in data["findings"] if f["code"] == "config.genesis-version"]
    assert "pmt_dit@4037ba45 16,088" in other["message"]
    latest = _report_json(tmp_path, "--config", str(CONFIGS / "default.yaml"), "--no-memory",
                          "--genesis-version", "pmt_dit@4037ba45")
    assert latest["summary"]["total_parameters"] == 16_088 and latest["summary"]["genesis"]["basis"] == "option"
    assert not any(f["code"] == "config.not-loadable-by-genesis" for f in latest["findings"])


def test_a_yaml_with_our_keys_is_flagged_as_unloadable_by_genesis(tmp_path):
    data = _report_json(tmp_path, "--config", str(CONFIGS / "dit_nopos.yaml"), "--no-memory")
    assert data["summary"]["total_parameters"] == 4_576_010
    (finding,) = [f for f in data["findings"] if f["code"] == "config.not-loadable-by-genesis"]
    assert "`model.genesis_version`" in finding["message"] and "TypeError" in finding["message"]


def test_cdit_config_reports_what_the_factory_builds(tmp_path):
    cfg = yaml.safe_load((CONFIGS / "c-dit.yaml").read_text())
    cfg["model"].update(classifier_size=64, update_with_classifier=False)
    path = write_yaml(tmp_path / "cdit64.yaml", cfg)
    data = _report_json(tmp_path, "--config", str(path), "--no-memory")
    assert data["summary"]["total_parameters"] == 227_634  # pmt_c_dit@8b1d32d6 builds 128 / True
    ignored = [f for f in data["findings"] if f["code"] == "config.genesis-ignores"]
    assert ignored and "model.classifier_size: the config says 64" in ignored[0]["message"]
    other = [f for f in data["findings"] if f["code"] == "config.genesis-version"]
    assert "pmt_c_dit@2481422014 219,442" in other[0]["message"]


def test_era_a_label_buffers_hold_the_constructor_defaults(tmp_path):
    cfg = yaml.safe_load((CONFIGS / "dit_era_a.yaml").read_text())
    cfg["model"]["label_scales"] = [5e7, 1.0, 1.0, 600.0, 550.0, 550.0]
    path = write_yaml(tmp_path / "era_a.yaml", cfg)
    data = _report_json(tmp_path, "--config", str(path), "--no-memory")
    model_copy = data["normalization"]["copies"][0]
    assert [c["scale"] for c in model_copy["label"]] == [1e-7, 1.0, 1.0, 0.01, 0.01, 0.01]
    assert any(f["code"] == "config.genesis-ignores" and "label_scales" in f["message"] for f in data["findings"])


def test_earliest_pmt_dit_state_dict_has_no_false_missing_keys(tmp_path):
    model = build_model({"hidden": 16, "depth": 2, "heads": 8, "fusion": "SUM", "genesis_version": "pmt_dit@9ca9f92d"})
    assert "label_offset" not in model.state_dict()
    torch.save(model.state_dict(), tmp_path / "early.pth")
    data = _report_json(tmp_path, "--checkpoint", str(tmp_path / "early.pth"), "--no-memory")
    assert not any(f["code"] in SHAPE_ERRORS for f in data["findings"])
    assert data["summary"]["genesis"]["version"] == "pmt_dit@9ca9f92d"
    assert data["normalization"]["applied_in"] == "forward"
    assert data["normalization"]["copies"][0]["label"] == []


def test_task_index_and_compare_use_the_weights(tmp_path):
    from task_fixtures import make_task

    task = make_task(tmp_path / "tasks", "nopos", genesis_version="pmt_dit@4037ba45")
    out = tmp_path / "index.json"
    result = run_main("index", str(tmp_path / "tasks"), "-o", str(out), "-q", "--no-progress")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(out.read_text())["rows"]
    assert row["parameters"] == 16_088
    assert json.loads((task / "reports" / "report.json").read_text())["summary"]["total_parameters"] == 16_088
    cmp = tmp_path / "cmp.json"
    result = run_main("compare", str(CONFIGS / "default.yaml"), str(task / "reports" / "report.json"),
                      "-o", str(cmp), "-q")
    assert result.returncode == 0, result.stderr
    assert "16,088" in cmp.read_text() or "16088" in cmp.read_text()


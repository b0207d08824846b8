"""The model behind a checkpoint: embedded config, given config, or inferred from the weights."""

from __future__ import annotations

import numpy as np
import torch
from test_checkpoint_helpers import forget_module, load_config_module

from reporter.checkpoint import read_checkpoint
from reporter.checkpoint.analyze import analyse_checkpoint
from reporter.checkpoint.compare import compare_state_dict, config_differences
from reporter.models.registry import build_model

DEFAULT_YAML_MODEL = {"architecture": "dit", "hidden": 16, "depth": 3, "heads": 8, "fusion": "SUM"}


def _genesis_checkpoint(tmp_path, state_dict, with_config=True):
    config, folder = load_config_module(tmp_path)
    ckpt = {"epoch": 0, "global_step": 10, "model_state_dict": state_dict,
            "optimizer_state_dict": {"state": {}, "param_groups": []}, "best_loss": np.float64(1.0)}
    if with_config:
        ckpt["config"] = {"model": config.ModelConfig(hidden=16, depth=3, heads=8, fusion="SUM"),
                          "training": config.TrainingConfig()}
    path = tmp_path / "ckpt.pt"
    torch.save(ckpt, path)
    forget_module("config", folder)
    return path


def test_model_built_from_embedded_config_has_exact_parameter_count(tmp_path):
    model = build_model(DEFAULT_YAML_MODEL)
    path = _genesis_checkpoint(tmp_path, model.state_dict())
    report = analyse_checkpoint(read_checkpoint(path), weights=False)
    assert report.model.source == "embedded-config"
    assert report.model.class_name == "PMTDit"
    assert report.model.parameters == 98_648
    assert report.model.findings == [] and report.model.decisions == []
    assert report.model.values["genesis_version"] == "pmt_dit@27a044fa"


def test_model_inferred_from_bare_state_dict_lists_what_is_unknown(tmp_path):
    model = build_model({**DEFAULT_YAML_MODEL, "genesis_version": "pmt_dit@4037ba45"})
    path = tmp_path / "bare.pth"
    torch.save(model.state_dict(), path)
    report = analyse_checkpoint(read_checkpoint(path), weights=False)
    info = report.model
    assert info.source == "inferred" and info.parameters == 16_088 and info.findings == []
    assert info.values["hidden"] == 16 and info.values["depth"] == 3 and info.values["fusion"] == "SUM"
    assert {"heads", "dropout", "seq_len"} <= set(info.unrecoverable)
    assert any(a.startswith("heads:") for a in info.assumptions)
    assert info.values["affine_scales"] == [100.0, 10.0, 600.0, 550.0, 550.0]


def test_missing_unexpected_and_mismatched_keys_are_findings(tmp_path):
    state = build_model(DEFAULT_YAML_MODEL).state_dict()
    del state["out_proj.bias"]
    state["extra.weight"] = torch.zeros(3)
    state["ln_out.weight"] = torch.ones(17)
    path = _genesis_checkpoint(tmp_path, state)
    report = analyse_checkpoint(read_checkpoint(path), weights=False)
    codes = {(f.code, f.where) for f in report.model.findings}
    assert codes == {("weights.missing-key", "out_proj.bias"), ("weights.unexpected-key", "extra.weight"),
                     ("weights.shape-mismatch", "ln_out.weight")}


def test_weights_win_over_a_given_config_and_differences_are_listed(tmp_path):
    model = build_model(DEFAULT_YAML_MODEL)
    path = _genesis_checkpoint(tmp_path, model.state_dict())
    given = {"model": {**DEFAULT_YAML_MODEL, "hidden": 32, "dropout": 0.2},
             "training": {"learning_rate": 2e-4, "num_epochs": 100, "optimizer": "AdamW",
                          "scheduler": "plateau"}}
    report = analyse_checkpoint(read_checkpoint(path), weights=False, given_config=given)
    info = report.model
    assert info.source == "given-config"
    assert info.values["hidden"] == 16 and info.parameters == 98_648  # the weights decide
    assert info.values["dropout"] == 0.2  # the weights cannot tell dropout: the given config's value
    assert [(d.key, d.config_value, d.weights_value, d.stated) for d in info.decisions] == [
        ("hidden", 32, 16, True)]
    assert not any(f.code.startswith("weights.") for f in info.findings)
    assert [f.code for f in info.findings] == ["checkpoint.weights-decide"]
    assert "model.hidden: the given config says 32, the weights hold 16" in info.findings[0].message
    given["model"]["dropout"] = 0.1
    embedded = {"model": {**DEFAULT_YAML_MODEL, "dropout": 0.1}, "training": given["training"]}
    differs = {f.where for f in config_differences(given, embedded) if f.code == "config.differs-from-checkpoint"}
    assert differs == {"model.hidden"}


def test_compare_state_dict_on_meta_model():
    with torch.device("meta"):
        model = torch.nn.Linear(3, 2)
    assert compare_state_dict(model, {"weight": (2, 3), "bias": (2,)}) == []
    found = compare_state_dict(model, {"weight": (2, 4)})
    assert [(f.code, f.where) for f in found] == [("weights.missing-key", "bias"),
                                                  ("weights.shape-mismatch", "weight")]


def test_weight_histograms_are_handed_over_before_the_sha256_is_waited_for(tmp_path):
    """The CLI draws the histograms while the hashing thread finishes (it ran alone for ~1 s on 2 cores):
    they are handed over before the report asks for the digest, and they are the report's own charts."""
    from test_checkpoint_helpers import trainer_checkpoint

    path, _ = trainer_checkpoint(tmp_path)
    ckpt = read_checkpoint(path)
    handed: list = []

    def while_hashing(charts: list) -> None:
        handed.append((ckpt._sha256, charts))

    report = analyse_checkpoint(ckpt, while_hashing=while_hashing)
    assert len(handed) == 1
    digest_then, charts = handed[0]
    assert digest_then is None and report.file.sha256  # not yet waited for then; known in the report
    assert charts and charts == report.weight_health.histograms

"""GENESIS config loading: defaults, YAML 1.1 floats, findings for what GENESIS rejects, errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import CONFIGS, REPO, default_config, write_yaml

from reporter.config import load_config
from reporter.errors import InputError


def test_default_yaml_values_and_yaml11_floats():
    cfg = load_config(CONFIGS / "default.yaml")
    assert cfg.model["hidden"] == 16 and cfg.model["depth"] == 3 and cfg.model["heads"] == 8
    assert cfg.training["plateau_threshold"] == pytest.approx(1e-6)
    assert isinstance(cfg.training["plateau_threshold"], float)
    assert cfg.training["early_stopping_min_delta"] == pytest.approx(1e-4)
    codes = [f.code for f in cfg.findings]
    assert codes.count("config.yaml11-float") == 2
    assert cfg.data["batch_size"] == 512


def test_missing_keys_take_genesis_defaults_not_default_yaml(tmp_path):
    path = write_yaml(tmp_path / "c.yaml", {"model": {"hidden": 32}})
    cfg = load_config(path)
    assert cfg.model["depth"] == 8 and cfg.model["fusion"] == "FiLM"  # ModelConfig defaults
    assert cfg.training["learning_rate"] == pytest.approx(2e-4)
    assert cfg.data["batch_size"] == 8
    assert cfg.top["experiment_name"] == "icecube_diffusion"
    assert "model.hidden" in cfg.given and "model.depth" not in cfg.given


def test_ln_transform_reports_what_genesis_rejects():
    cfg = load_config(CONFIGS / "ln_transform.yaml")
    unknown = {f.where for f in cfg.findings if f.code == "config.unknown-key"}
    assert unknown == {"experiment", "training.epochs", "training.batch_size", "training.num_workers"}
    batch = next(f for f in cfg.findings if f.where == "training.batch_size")
    assert "data" in batch.message
    assert cfg.model["hidden"] == 512 and cfg.model["depth"] == 8


def test_historical_key_is_explained():
    cfg = load_config(CONFIGS / "default_v1.yaml")
    finding = next(f for f in cfg.findings if f.where == "training.plateau_min_lr")
    assert finding.code == "config.historical-key"


def test_normalization_copies_that_differ_are_reported(tmp_path):
    data = default_config()
    data["data"]["affine_scales"] = [1.0, 1.0, 1.0, 1.0, 1.0]
    cfg = load_config(write_yaml(tmp_path / "c.yaml", data))
    assert any(f.code == "config.normalization-differs" for f in cfg.findings)


@pytest.mark.parametrize("content, problem", [
    ("", "empty file"),
    ("model: [1, 2\n", "invalid YAML"),
    ("- a\n- b\n", "expected a YAML mapping"),
    ("model: 5\n", "`model:` must be a mapping"),
    ("model:\n  hidden: abc\n", "`model.hidden` must be an integer"),
    ("model:\n  hidden: 0\n", "`model.hidden` must be at least 1"),
    ("model:\n  dropout: 1.5\n", "`model.dropout` must be in [0, 1)"),
    ("model:\n  affine_scales: [1, 2]\n", "must have 5 values"),
    ("training:\n  learning_rate: fast\n", "`training.learning_rate` must be a number"),
    ("model:\n  hidden: null\n", "is null"),
])
def test_bad_configs_raise_one_line_input_errors(tmp_path, content, problem):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(InputError) as info:
        load_config(path)
    assert problem in str(info.value)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="is a directory"):
        load_config(tmp_path)


def test_reading_a_config_has_no_side_effects(tmp_path):
    """GENESIS's loader creates output folders and imports torch; ours must do neither."""
    code = (
        "import sys; from reporter.config import load_config; "
        f"load_config({str(CONFIGS / 'default.yaml')!r}); "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert list(tmp_path.iterdir()) == []

"""`genesis-report --checkpoint` end to end: a real PMTDit trainer checkpoint, hostile files, bad files."""

from __future__ import annotations

import importlib
import json
import os
import pickle
import random
import sys

import jsonschema
import numpy as np
import pytest
import torch
from helpers import CONFIGS
from inprocess import run_main
from test_checkpoint_helpers import forget_module, load_config_module

from reporter.models import build_model
from reporter.report.schema import report_json_schema


@pytest.fixture(scope="module")
def pmtdit_checkpoint(tmp_path_factory):
    """A GENESIS trainer checkpoint of configs/default.yaml's model; `config` is not importable after."""
    tmp = tmp_path_factory.mktemp("ckpt")
    config, folder = load_config_module(tmp)
    torch.manual_seed(0)
    model = build_model({"hidden": 16, "depth": 3, "heads": 8, "fusion": "SUM"})
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    for _ in range(2):
        for p in model.parameters():
            p.grad = torch.randn_like(p) * 1e-3
        opt.step()
    with torch.no_grad():
        model.blocks[1].mlp.fc1.weight[3, 2] = float("nan")
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=3)
    model_cfg = config.ModelConfig(hidden=16, depth=3, heads=8, fusion="SUM")
    ckpt = {"epoch": 11, "global_step": 4321, "model_state_dict": model.state_dict(),
            "optimizer_state_dict": opt.state_dict(), "best_loss": np.float64(0.0421),
            "config": {"experiment_name": "icecube_diffusion_default", "model": model_cfg,
                       "training": config.TrainingConfig(), "data": config.DataConfig(), "device": "cuda"},
            "metrics": {"train/epoch_loss": np.float64(0.05)}, "scheduler_state_dict": sched.state_dict()}
    path = tmp / "icecube_diffusion_default_best.pt"
    torch.save(ckpt, path)
    forget_module("config", folder)
    return path


def test_trainer_checkpoint_report(pmtdit_checkpoint, tmp_path):
    out = tmp_path / "r.json"
    result = run_main("--checkpoint", str(pmtdit_checkpoint), "-o", str(out), "-o", str(tmp_path / "r.html"),
                      "--no-memory")
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    jsonschema.validate(report, report_json_schema())  # inf/NaN statistics included
    assert report["summary"]["total_parameters"] == 98_648
    c = report["checkpoint"]
    assert c["training"]["epoch_stored"] == 11 and c["training"]["epochs_completed"] == 12
    assert c["training"]["global_step"] == 4321 and c["training"]["best_loss"] == pytest.approx(0.0421)
    assert c["optimizer"]["type"] == "AdamW" and c["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1e-4)
    assert c["scheduler"]["type"] == "ReduceLROnPlateau"
    assert c["model"]["source"] == "embedded-config"
    nan = [f for f in report["findings"] if f["code"] == "weights.non-finite"]
    assert [f["where"] for f in nan] == ["blocks.1.mlp.fc1.weight"]
    assert "Epochs completed" in result.stdout and "4,321" in result.stdout
    assert "blocks.1.mlp.fc1.weight" in (tmp_path / "r.html").read_text()


def test_checkpoint_with_config_lists_differences(pmtdit_checkpoint, tmp_path):
    out = tmp_path / "r.json"
    result = run_main("--config", str(CONFIGS / "default.yaml"), "--checkpoint", str(pmtdit_checkpoint),
                      "-o", str(out), "-q", "--no-memory")
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["checkpoint"]["model"]["source"] == "given-config"
    assert [i["role"] for i in report["meta"]["inputs"]] == ["config", "checkpoint"]
    groups = {f["code"]: f for f in report["findings"] if f["code"].startswith("config.differs-")}
    model, training = groups["config.differs-model"], groups["config.differs-training"]
    assert model["severity"] == "warning" and training["severity"] == "info"  # ranked by consequence
    assert any(i.startswith("model.affine_scales:") for i in model["items"])
    assert any(i.startswith("data.batch_size:") for i in model["items"])
    assert any(i.startswith("training.learning_rate:") for i in training["items"])
    codes = [f["code"] for f in report["findings"]]
    assert codes.index("config.differs-model") < codes.index("config.differs-training")
    assert not [f for f in report["findings"] if f["code"] == "config.not-in-checkpoint"]


def test_bare_state_dict_infers_the_model(tmp_path):
    model = build_model({"hidden": 16, "depth": 2, "heads": 4, "fusion": "SUM", "genesis_version": "pmt_dit@4037ba45"})
    path = tmp_path / "model_state_dict.pth"
    torch.save(model.state_dict(), path)
    out = tmp_path / "r.json"
    result = run_main("--checkpoint", str(path), "-o", str(out), "-q", "--no-memory")
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["summary"]["total_parameters"] == sum(p.numel() for p in model.parameters())
    assert report["checkpoint"]["model"]["source"] == "inferred"
    assert {"heads", "dropout", "seq_len"} <= set(report["checkpoint"]["model"]["unrecoverable"])


class _Boom:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_checkpoint_never_runs_and_exits_3(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model_state_dict": {"w": torch.ones(2)}, "metrics": [[[(_Boom(marker),)]]]}, path)
    out = tmp_path / "r.html"
    result = run_main("--checkpoint", str(path), "-o", str(out), "-o", str(tmp_path / "r.json"))
    assert result.returncode == 3, result.stderr
    assert not marker.exists()
    assert out.exists() and "Security" in out.read_text()
    report = json.loads((tmp_path / "r.json").read_text())
    security = [f for f in report["findings"] if f["severity"] == "security"]
    assert security and report["findings"][0]["severity"] == "security"
    assert any("system" in (f["where"] or "") + f["message"] for f in security)
    assert "SECURITY" in result.stdout


def test_raw_pickle_payload_exits_3(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"state": _Boom(marker)}))
    result = run_main("--checkpoint", str(path), "-q")
    assert result.returncode == 3 and not marker.exists()


@pytest.mark.parametrize("content, name", [
    (b"", "empty.pt"), (random.Random(7).randbytes(4096), "random.pt"), (b"PK\x03\x04truncated", "trunc.pt"),
    (pickle.dumps([1, 2, 3]), "list.pkl"),
])
def test_bad_checkpoint_files_exit_2_without_output(tmp_path, content, name):
    path = tmp_path / name
    path.write_bytes(content)
    out = tmp_path / "r.html"
    result = run_main("--checkpoint", str(path), "-o", str(out))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and "Traceback" not in result.stderr
    assert not out.exists()


def test_truncated_real_checkpoint_exits_2(pmtdit_checkpoint, tmp_path):
    data = pmtdit_checkpoint.read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 2])
    result = run_main("--checkpoint", str(path), "-o", str(tmp_path / "r.json"))
    assert result.returncode == 2, result.stderr
    assert not (tmp_path / "r.json").exists()


def test_pickled_foreign_module_is_reported_not_imported(tmp_path, monkeypatch):
    (tmp_path / "toynet.py").write_text(
        "from torch import nn\n"
        "open(__file__ + '.imported', 'w').close()\n"  # proves whether the reporter imported it
        "class DiTModel(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.input_proj = nn.Linear(2, 8)\n")
    path = tmp_path / "dit_model.pth"
    monkeypatch.syspath_prepend(str(tmp_path))  # importable while the report is made, as on PYTHONPATH
    torch.save(importlib.import_module("toynet").DiTModel(), path)
    del sys.modules["toynet"]
    (tmp_path / "toynet.py.imported").unlink()
    out = tmp_path / "r.json"
    result = run_main("--checkpoint", str(path), "-o", str(out), "-o", str(tmp_path / "r.html"), "-q")
    # torch.load would import toynet (its code runs: it writes the marker) to build the class, so the
    # class is a security finding (exit 3); the report is still written, and nothing was imported.
    assert result.returncode == 3, result.stderr
    assert not (tmp_path / "toynet.py.imported").exists() and "toynet" not in sys.modules
    report = json.loads(out.read_text())
    assert report["checkpoint"]["file"]["module_class"] == "toynet.DiTModel"
    assert report["summary"] is None
    assert any(f["code"] == "checkpoint.architecture-unknown" for f in report["findings"])

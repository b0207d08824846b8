"""Configs beyond the trace bounds: the report still builds, traced sections are skipped with a finding
naming the bound, nothing from torch reaches stderr; a model too large to build is one line (exit 2)."""

from __future__ import annotations

import json
import logging
import warnings

import pytest
from helpers import default_config, write_yaml
from inprocess import run_main

from reporter import limits


def _config(tmp_path, **model):
    config = default_config()
    batch = model.pop("batch_size", None)
    config["model"].update(model)
    if batch is not None:
        config["data"]["batch_size"] = batch
    return write_yaml(tmp_path / "c.yaml", config)


def _report(tmp_path, config):
    out = tmp_path / "r.json"
    result = run_main("--config", config, "-q", "-o", out)
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"wrote {out} ({out.stat().st_size:,} bytes)\n"  # no torch log lines
    return json.loads(out.read_text())


@pytest.mark.parametrize("values", [{"batch_size": 10**12}, {"seq_len": 10**8}, {"label_dim": 10**7}])
def test_huge_values_skip_the_traced_sections_with_a_finding(tmp_path, values):
    report = _report(tmp_path, _config(tmp_path, **values))
    skipped = {f["code"]: f["message"] for f in report["findings"] if f["code"].endswith(".skipped")}
    assert set(skipped) == {"flow.skipped", "memory.skipped"}
    assert "activation elements (bound: 1,125,899,906,842,624)" in skipped["flow.skipped"]
    assert report["flow"] is None and report["memory"] is None
    assert report["parameters"]["total"] > 0  # the model was still built and counted (meta device)


def test_deep_models_skip_tracing_by_leaf_module_count(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "TRACE", limits.TraceBounds(flow_modules=40, memory_modules=20))
    report = _report(tmp_path, _config(tmp_path, depth=6))
    skipped = {f["code"]: f["message"] for f in report["findings"] if f["code"].endswith(".skipped")}
    assert "bound for tracing: 40" in skipped["flow.skipped"]
    assert "bound for tracing training steps: 20" in skipped["memory.skipped"]


def test_a_model_beyond_the_build_bound_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "BUILD_MODULES", 300)
    result = run_main("--config", _config(tmp_path, depth=1_000_000), "-q")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"genesis-report: error: {tmp_path / 'c.yaml'}: refused, beyond a bound: the model has more than 300 "
        "modules (bound for building a model)"]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_quiet_torch_silences_torch_logs_and_warnings_only_while_tracing():
    collect = _Collect()
    torch_root = logging.getLogger("torch")  # torch's own stderr handlers sit here and on the logger below
    logger = logging.getLogger("torch._subclasses.fake_tensor")
    torch_root.addHandler(collect)
    logger.addHandler(collect)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with limits.quiet_torch():
                logger.error("failed while attempting to run meta for aten.bmm.default")
                logging.getLogger("torch.created.meanwhile").error("also silent")
                warnings.warn("a torch warning", UserWarning, stacklevel=1)
            assert collect.messages == [] and caught == []
            logger.error("visible again")
            warnings.warn("visible warning", UserWarning, stacklevel=1)
        assert set(collect.messages) == {"visible again"} and len(caught) == 1
    finally:
        torch_root.removeHandler(collect)
        logger.removeHandler(collect)


def test_a_hostile_checkpoint_whose_embedded_model_is_beyond_the_build_bound_is_still_exit_3(tmp_path,
                                                                                            monkeypatch):
    import hostile
    import torch

    monkeypatch.setattr(limits, "BUILD_MODULES", 300)
    config = default_config()
    config["model"]["depth"] = 1_000_000
    obj = {"epoch": 1, "global_step": 2, "model_state_dict": {"w": torch.ones(2)}, "best_loss": 0.5,
           "config": config, "metrics": {"m": hostile.MARKER}}
    marker = tmp_path / "marker"
    path = hostile.torch_zip(tmp_path / "c.pt", hostile.call(hostile.glob("os", "system"), hostile.touch(marker)),
                             obj=obj)
    out = tmp_path / "r.json"
    result = run_main("--checkpoint", path, "-q", "--no-memory", "-o", out)
    assert result.returncode == 3 and not marker.exists(), result.stderr
    codes = {f["code"]: f["message"] for f in json.loads(out.read_text())["findings"]}
    assert "checkpoint.code-execution" in codes
    assert "more than 300 modules" in codes["checkpoint.model-not-built"]

"""The public Python API: reports from a config, a checkpoint or a live module, rendered to any format."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import CONFIGS

from reporter import api


def test_report_from_config_renders_every_format(tmp_path, default_full_report):
    light = api.report_from_config(CONFIGS / "default.yaml", batch_size=64, memory=False)
    assert light.summary.total_parameters == 98_648
    assert light.meta.options["batch_size"] == 64 and light.memory is None
    report = default_full_report  # the same call without memory=False, shared (conftest.py)
    assert report.summary.total_parameters == 98_648 and report.memory is not None
    assert json.loads(api.render_report(report, "json"))["summary"]["total_parameters"] == 98_648
    assert "98,648" in api.render_report(report, "terminal")
    md = api.render_report(report, "md")
    assert "data:image/svg+xml;base64," in md  # a single self-contained string by default
    assert api.render_report(report, "html").startswith("<!DOCTYPE html>")
    written = api.write_report(report, tmp_path / "model.md")
    # two parameter charts and three memory charts (by category for fp16 and fp32, batch sweep)
    assert written.read_text().count("](model_files/") == 5 and (tmp_path / "model_files").is_dir()
    with pytest.raises(api.InputError):
        api.render_report(report, "pdf")
    with pytest.raises(TypeError):
        api.report_from_config(CONFIGS / "default.yaml", options=api.ReportOptions(), batch_size=3)


def test_report_from_live_module_counts_exactly():
    model = torch.nn.Sequential(torch.nn.Linear(10, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2),
                                torch.nn.LayerNorm(2))
    model[3].weight.requires_grad_(False)
    report = api.report_from_module(model, title="probe", verbose=True)
    assert report.summary.total_parameters == 10 * 5 + 5 + 5 * 2 + 2 + 2 + 2 == 71
    assert report.summary.trainable_parameters == 69 and report.summary.frozen_parameters == 2
    assert {g.name: g.parameters for g in report.parameters.by_type} == {"Linear": 67, "LayerNorm": 4}
    assert report.title == "probe" and report.config is None and report.modules is not None
    assert [f.code for f in report.findings] == ["module.live"]
    html = api.render_report(report, "html")
    assert "71" in html and "probe" in html
    with pytest.raises(api.InputError):
        api.report_from_module("not a module")


def test_report_from_checkpoint(tmp_path):
    import torch

    from reporter.models import build_model

    model = build_model({"hidden": 16, "depth": 1, "heads": 2, "fusion": "SUM", "seq_len": 64})
    path = tmp_path / "state.pth"
    torch.save(model.state_dict(), path)
    report = api.report_from_checkpoint(path, memory=False)
    assert report.summary.total_parameters == sum(p.numel() for p in model.parameters())
    assert report.checkpoint.model.source == "inferred"


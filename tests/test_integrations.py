"""Experiment-log helpers against the real libraries (skipped where one is not installed), and the
documented call sequence with a recording writer (always)."""

from __future__ import annotations

import builtins
import importlib.util
from pathlib import Path

import pytest

from reporter.integrations import markdown_text


@pytest.fixture
def report(default_full_report):
    """report_from_config(configs/default.yaml), memory included: built once per run (conftest.py)."""
    return default_full_report


def _has(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _missing(name: str) -> str:
    return f"{name} is not installed (the extra `integrations` has it; the README's install includes it)"


class RecordingWriter:
    """Has the SummaryWriter methods the helper documents; records what it is given."""

    def __init__(self):
        self.calls = []

    def add_text(self, tag, text, global_step=None):
        self.calls.append(("text", tag, text, global_step))

    def add_scalar(self, tag, value, global_step=None):
        self.calls.append(("scalar", tag, value, global_step))


def test_tensorboard_call_sequence(report):
    from reporter.integrations.tensorboard import log_report

    writer = RecordingWriter()
    log_report(writer, report, step=7)
    kind, tag, text, step = writer.calls[0]
    assert (kind, tag, step) == ("text", "genesis-report", 7)
    assert "98,648" in text and "![" not in text  # text panels get Markdown without chart images
    assert ("scalar", "genesis-report/total_parameters", 98_648, 7) in writer.calls
    with pytest.raises(TypeError):
        log_report(object(), report)


def test_missing_library_names_the_extra(report, monkeypatch):
    real_import = builtins.__import__

    def no_optional(name, *args, **kwargs):
        if name in ("mlflow", "wandb"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_optional)
    from reporter.integrations import mlflow as mlflow_helper
    from reporter.integrations import wandb as wandb_helper

    with pytest.raises(ImportError, match=r"genesis-report\[mlflow\]"):
        mlflow_helper.log_report(report)
    with pytest.raises(ImportError, match=r"genesis-report\[wandb\]"):
        wandb_helper.log_report(report)


@pytest.mark.skipif(not _has("tensorboard"), reason=_missing("tensorboard"))
def test_tensorboard_event_file_read_back(report, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    from reporter.integrations.tensorboard import log_report

    writer = SummaryWriter(str(tmp_path))
    log_report(writer, report, step=3)
    writer.close()
    events = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    text = events.Tensors("genesis-report/text_summary")[0]
    assert text.step == 3
    assert text.tensor_proto.string_val[0].decode() == markdown_text(report)
    assert events.Scalars("genesis-report/total_parameters")[0].value == 98_648


@pytest.mark.skipif(not _has("mlflow"), reason=_missing("mlflow"))
def test_mlflow_local_file_store(report, tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    from reporter.integrations.mlflow import NOTE_TAG, log_report

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps the file store behind this switch
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    try:
        with mlflow.start_run() as run:
            assert log_report(report) == ["genesis-report/report.html", "genesis-report/report.md",
                                          "genesis-report/report.json"]
        client = MlflowClient()
        listed = sorted(a.path for a in client.list_artifacts(run.info.run_id, "genesis-report"))
        assert listed == ["genesis-report/report.html", "genesis-report/report.json", "genesis-report/report.md"]
        local = Path(client.download_artifacts(run.info.run_id, "genesis-report/report.md", str(tmp_path)))
        assert "98,648" in local.read_text()
        data = client.get_run(run.info.run_id).data
        assert data.params["genesis_report.total_parameters"] == "98648"
        assert "98,648" in data.tags[NOTE_TAG] and len(data.tags[NOTE_TAG]) <= 8000
    finally:
        mlflow.set_tracking_uri(None)
    with pytest.raises(RuntimeError, match="start_run"):
        log_report(report)


@pytest.mark.skipif(not _has("wandb"), reason=_missing("wandb"))
def test_wandb_offline_run_holds_the_html_panel(report, tmp_path, monkeypatch):
    import wandb

    from reporter.integrations.wandb import log_report

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = wandb.init(project="genesis-report-test", dir=str(tmp_path))
    try:
        log_report(report, run=run)
        assert run.summary["genesis_report/total_parameters"] == 98_648
    finally:
        run.finish()
    panels = list(tmp_path.glob("wandb/offline-run-*/files/media/html/genesis_report_0_*.html"))
    assert len(panels) == 1
    html = panels[0].read_text()
    assert html.startswith("<!DOCTYPE html>") and "98,648" in html

"""The memory report section built from a real config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from reporter.models import get_architecture, resolve_model_config
from reporter.report.memory import MemorySection, build_memory_section


@pytest.fixture(scope="module")
def section() -> MemorySection:
    repo_root = Path(__file__).resolve().parent.parent
    cfg = yaml.safe_load((repo_root / "configs" / "default.yaml").read_text())
    model_cfg = resolve_model_config(cfg["model"])
    return build_memory_section(
        get_architecture("dit"), model_cfg, cfg["training"], 64, "H100-80GB", sample_batch=16
    )


def test_seed_table_rows_add_up_to_the_total(section):
    for estimate in (section.fp32, section.amp):
        labels = [r.label for r in estimate.rows]
        assert labels == [
            "Parameters",
            "Buffers",
            "Gradients",
            "Optimizer States",
            "cuBLAS Workspace",  # an H100 target: the autograd thread's workspace, 32 MiB on sm90
            "Input Data",
            "Geometry",
            "Labels",
            "Activations",
            "Total",
        ]
        rows = {r.label: r for r in estimate.rows}
        assert rows["cuBLAS Workspace"].bytes == 32 * 2**20 and rows["cuBLAS Workspace"].exact
        assert sum(r.bytes for r in estimate.rows if r.label != "Total") == rows["Total"].bytes
        assert rows["Parameters"].exact and rows["Optimizer States"].exact and not rows["Activations"].exact
        assert rows["Geometry"].bytes == 64 * 3 * 5160 * 4  # (B, 3, L) fp32, already a multiple of 512


def test_cuda_lines_are_separate_and_fp16_uses_flash(section):
    assert section.target == "H100-80GB" and section.target_kind == "cuda"
    assert section.cuda_context_bytes > 0 and section.allocator_headroom_bytes > 0
    assert section.training_precision == "fp16"  # use_amp: true trains with fp16 autocast on CUDA
    assert {a.kernel for a in section.amp.attention} == {"flash"}
    assert {a.kernel for a in section.fp32.attention} == {"math"}
    assert not any(f.code == "memory.attention-math" for f in section.findings)  # AMP is what trains
    assert section.fp32.peak_bytes > 20 * section.amp.peak_bytes


def test_sweep_chart_and_largest_batch(section):
    sweep = section.sweep
    assert sweep is not None and section.largest_fitting_batch is not None
    assert sweep.batch_sizes == sorted(sweep.batch_sizes)
    assert all(b >= a for a, b in zip(sweep.peak_bytes, sweep.peak_bytes[1:], strict=False))
    assert section.largest_fitting_batch > 64
    assert sweep.largest_fitting_peak_bytes <= sweep.capacity_bytes
    kinds = {c.id: c for c in section.charts}
    assert kinds["memory-batch-sweep"].threshold == pytest.approx(sweep.capacity_bytes)
    assert kinds["memory-batch-sweep"].unit == "bytes"
    assert kinds["memory-by-category"].categories == ["fp32", "fp16"]


def test_inference_flops_and_json(section):
    assert section.inference is not None and section.inference.peak_bytes < section.amp.peak_bytes
    assert section.flops is not None and section.flops.training_flops > section.flops.forward_flops > 0
    assert {m.module for m in section.flops.by_module} >= {"blocks", "embedder"}
    data = json.loads(section.model_dump_json())
    assert data["accuracy"]["text"]
    assert section.seed_estimate_total_bytes is not None

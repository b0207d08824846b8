"""The memory report section built from a real config: the target and precision GENESIS trains with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from reporter.analysis.memory_section import analyse_memory
from reporter.memory.target_choice import TargetSetting, choose_target, default_setting
from reporter.models import get_architecture, resolve_model_config
from reporter.report.memory import MemorySection

pytestmark = pytest.mark.fresh_traces  # these tests are of the tracing itself: each traces anew

REPO = Path(__file__).resolve().parent.parent


def _default_cfg() -> dict:
    return yaml.safe_load((REPO / "configs" / "default.yaml").read_text())


@pytest.fixture(scope="module")
def section() -> MemorySection:
    cfg = _default_cfg()
    return analyse_memory(get_architecture("dit"), resolve_model_config(cfg["model"]), cfg["training"], 64,
                                "H100-80GB", sample_batch=16)


def test_rows_hold_both_columns_and_add_up_to_the_total(section):
    rows = {r.key: r for r in section.table}
    assert [r.label for r in section.table] == [
        "Parameters", "Buffers", "Gradients", "Optimizer States",
        "cuBLAS Workspace",  # an H100 target: the autograd thread's workspace, 32 MiB on sm90
        "Input Data", "Geometry", "Labels", "Activations", "Total",
        "+ CUDA context", "+ allocator headroom", "= Required on the GPU"]
    for column in ("fp32", "amp"):
        traced = [r for r in section.table if not r.below_peak and r.key != "total"]
        assert sum(getattr(r, column) for r in traced) == getattr(rows["total"], column)
        assert getattr(rows["required"], column) == (getattr(rows["total"], column)
                                                     + getattr(rows["cuda_context"], column)
                                                     + getattr(rows["allocator_headroom"], column))
    # headroom is 10% of each column's own peak, not of fp32's
    assert rows["allocator_headroom"].amp == int(rows["total"].amp * 0.10)
    assert rows["workspace"].fp32 == 32 * 2**20 and rows["workspace"].figure == "torch default"
    assert rows["cuda_context"].figure == "measured"
    assert rows["geometry"].fp32 == 64 * 3 * 5160 * 4  # (B, 3, L) fp32, already a multiple of 512
    assert [p.label for p in rows["input_data"].parts][0].startswith("x_sig_t")
    assert not any("geom" in p.label for p in rows["input_data"].parts)  # geometry has its own row
    # CUDA rounds each parameter tensor to 512 B: the row says so and gives the summary's unrounded size
    assert rows["parameters"].parts[0].fp32 == 98_648 * 4 < rows["parameters"].fp32
    # the activations are broken down for both precisions
    saved, temporaries = rows["activations"].parts
    assert saved.amp + temporaries.amp == rows["activations"].amp and not saved.same


def test_cuda_trains_fp16_and_fp16_uses_flash(section):
    assert section.target == "H100-80GB" and section.target_kind == "cuda"
    assert section.training_precision == "fp16"  # use_amp: true trains with fp16 autocast on CUDA
    assert "autocast('cuda')" in section.precision_basis
    assert {a.kernel for a in section.amp.attention} == {"flash"}
    assert {a.kernel for a in section.fp32.attention} == {"math"}
    assert not any(f.code == "memory.attention-math" for f in section.findings)  # AMP is what trains
    assert section.fp32.peak_bytes > 20 * section.amp.peak_bytes


def test_sweep_chart_and_largest_batch(section):
    sweep = section.sweep
    assert sweep is not None and section.largest_fitting_batch is not None
    assert section.largest_fitting_precision == "fp16"
    assert sweep.batch_sizes == sorted(sweep.batch_sizes)
    assert all(b >= a for a, b in zip(sweep.peak_bytes, sweep.peak_bytes[1:], strict=False))
    assert section.largest_fitting_batch > 64
    assert sweep.largest_fitting_peak_bytes <= sweep.capacity_bytes
    charts = {c.id: c for c in section.charts}
    chart = charts["memory-batch-sweep"]
    assert chart.threshold == pytest.approx(sweep.capacity_bytes) and chart.unit == "bytes" and not chart.log_y
    fitted, traced = chart.series
    assert traced.style == "points" and fitted.style == "dashed"
    assert traced.x == [float(b) for b, t in zip(sweep.batch_sizes, sweep.traced, strict=True) if t]
    # one chart per precision, each on its own scale, the trained precision first
    assert [c.id for c in section.charts[:2]] == ["memory-by-category-fp16", "memory-by-category-fp32"]


def test_inference_flops_and_json(section):
    assert section.inference is not None and section.inference.peak_bytes < section.amp.peak_bytes
    flops = section.flops
    assert flops is not None and flops.training_flops > flops.forward_flops > 0
    assert flops.precision == "fp16" and flops.attention_kernel == "flash"  # counted on the step that trains
    assert {m.module for m in flops.by_module} >= {"blocks", "embedder"}
    data = json.loads(section.model_dump_json())
    assert data["accuracy"]["text"] and "fitted lines are not covered" in data["accuracy"]["covers"]
    assert section.seed_estimate_total_bytes is not None


def test_cpu_target_trains_fp32_as_genesis_does():
    """GENESIS's autocast('cuda') does nothing on a CPU: a use_amp config trains fp32 there (reference §6)."""
    cfg = _default_cfg()
    model_cfg = resolve_model_config({**cfg["model"], "dropout": 0.0, "seq_len": 300})
    section = analyse_memory(get_architecture("dit"), model_cfg, cfg["training"], 8, "cpu", sweep=False,
                                   flops=False)
    assert cfg["training"]["use_amp"] is True
    assert section.training_precision == "fp32" and section.amp is None
    assert "does nothing on a CPU" in section.precision_basis
    assert [r.key for r in section.table][-1] == "total"  # no CUDA lines
    asked = analyse_memory(get_architecture("dit"), model_cfg, cfg["training"], 8, "cpu", sweep=False,
                                 flops=False, amp_dtype="bf16")
    assert asked.training_precision == "fp32" and asked.amp.precision == "bf16"
    assert "not what GENESIS runs" in asked.amp_label


def test_target_follows_the_input(monkeypatch, tmp_path):
    monkeypatch.delenv("GENESIS_REPORT_TARGET", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    generic = choose_target(None, "auto", default_setting())
    assert generic.profile.is_cuda and not generic.profile.capacity_known and "no GPU chosen" in generic.basis
    assert choose_target(None, "cpu", None).profile.kind == "cpu"
    asked = TargetSetting("cpu", None, "--target")
    assert choose_target(asked, "cuda", None).profile.kind == "cpu"
    (tmp_path / "genesis-report.toml").write_text('[memory]\ntarget = "A100-80GB"\n')
    project = choose_target(None, "cuda", default_setting())
    assert project.profile.name == "A100-80GB" and "genesis-report.toml" in project.basis
    monkeypatch.setenv("GENESIS_REPORT_TARGET", "H100")
    assert choose_target(None, "cuda", default_setting()).profile.name == "H100-80GB"
    assert choose_target(None, "cpu", default_setting()).profile.kind == "cpu"  # a CPU config stays on the CPU


def test_unnamed_gpu_gives_figures_without_fit_verdicts():
    cfg = _default_cfg()
    model_cfg = resolve_model_config({**cfg["model"], "seq_len": 300})
    section = analyse_memory(get_architecture("dit"), model_cfg, cfg["training"], 1024, "cuda", flops=False)
    assert section.capacity_bytes is None and section.largest_fitting_batch is None
    assert section.sweep.capacity_bytes is None
    assert not any(f.code in ("memory.does-not-fit", "memory.batch-too-large") for f in section.findings)
    context = {r.key: r for r in section.table}["cuda_context"]
    assert context.figure == "unknown" and context.fp32 is None
    assert "required" not in {r.key for r in section.table}


def test_memory_worker_gives_the_same_section_as_the_inline_trace(monkeypatch):
    """The traced steps run in a forked child while the report does the rest: the same section either way,
    and a failure in the child is the same error."""
    from reporter.memory.worker import MemoryJob, MemoryWorkerError

    monkeypatch.delenv("GENESIS_REPORT_NO_FORK", raising=False)  # conftest sets it for the other tests
    cfg = _default_cfg()
    model_cfg = resolve_model_config({**cfg["model"], "seq_len": 64, "depth": 1})  # one block is enough here

    def compute():
        section = analyse_memory(get_architecture("dit"), model_cfg, cfg["training"], 4, "H100-80GB",
                                       flops=False)
        return section, list(section.findings)

    monkeypatch.setenv("GENESIS_REPORT_NO_FORK", "1")
    inline = MemoryJob(compute)  # first: the child forked next starts with fake tensors' caches warm
    assert inline._pid is None
    inline_json = inline.result()[0].model_dump_json()
    monkeypatch.delenv("GENESIS_REPORT_NO_FORK")
    forked = MemoryJob(compute)
    assert forked._pid is not None  # really in a child on this platform
    assert forked.result()[0].model_dump_json() == inline_json

    threaded = MemoryJob(compute, fork=False, thread=True)  # no spare core: a thread of this process
    assert threaded._pid is None and threaded._thread is not None
    assert threaded.result()[0].model_dump_json() == inline_json

    def broken():
        raise RuntimeError("boom")

    with pytest.raises(MemoryWorkerError, match="RuntimeError: boom"):
        MemoryJob(broken).result()
    with pytest.raises(MemoryWorkerError, match="RuntimeError: boom"):  # on a thread, as in a child
        MemoryJob(broken, fork=False, thread=True).result()


def test_traces_without_a_spare_core_run_in_one_child_and_give_the_same_sections(monkeypatch):
    """A report whose own process keeps the cores busy (checkpoint statistics and hashing) traces the
    flow and both precisions one after the other in its single child: the same sections, no more forks."""
    import reporter.memory.worker as worker
    from reporter import pipeline
    from reporter.config.loader import load_config
    from reporter.options import ReportOptions

    config = load_config("configs/debug.yaml")
    options = ReportOptions(target="H100-80GB", cache=False)
    built = pipeline.build_from_config(config, None, pipeline._config_choice(config, options).model_cfg)
    target = pipeline.choose_report_target(options, None)
    forks: list[bool] = []
    real_init = worker.Forked.__init__

    def counting_init(self, compute, fork=True):
        forks.append(fork)
        real_init(self, compute, fork)

    monkeypatch.setattr(worker.Forked, "__init__", counting_init)
    monkeypatch.delenv("GENESIS_REPORT_NO_FORK", raising=False)  # conftest sets it for the other tests

    def traced(fan_out: bool) -> list[str]:
        done = pipeline._traced(built, config, options, 4, target, True, True, fan_out)
        return [done["flow"][0].model_dump_json(), done["memory"][0].model_dump_json()]

    serial = traced(fan_out=False)
    assert forks == [False, False]  # the flow and the fp32 step, both in this process
    forks.clear()
    assert traced(fan_out=True) == serial
    assert forks == [True, True]
    monkeypatch.setattr(worker, "usable_cores", lambda: 2)  # a checkpoint report keeps 2 threads busy
    assert pipeline.fan_out(busy_threads=0) and not pipeline.fan_out(busy_threads=2)
    assert pipeline.fork_child(busy_threads=0) and not pipeline.fork_child(busy_threads=2)
    monkeypatch.setattr(worker, "usable_cores", lambda: 4)
    assert pipeline.fork_child(busy_threads=2) and pipeline.fan_out(busy_threads=2)


def test_traces_on_a_thread_never_touch_the_reported_module(monkeypatch):
    """The flow trace swaps a module's parameters while it runs; on a thread beside the report's own
    analyses (a checkpoint report without a spare core) it must trace a copy, or the report reads the
    swapped ones (seen: "Trainable Parameters: 0" in a checkpoint report)."""
    from reporter import pipeline
    from reporter.config.loader import load_config
    from reporter.options import ReportOptions

    config = load_config("configs/debug.yaml")
    options = ReportOptions(target="H100-80GB", cache=False, memory=False)
    built = pipeline.build_from_config(config, None, pipeline._config_choice(config, options).model_cfg)
    seen: list[object] = []
    monkeypatch.setattr(pipeline, "fork_child", lambda busy_threads: False)
    monkeypatch.setattr(pipeline, "_traced", lambda traced, *rest: seen.append(traced.module) or {})
    traces = pipeline.start_traces(built, config, options, busy_threads=2)
    traces.job.result()
    assert len(seen) == 1 and seen[0] is not built.module
    assert sum(p.numel() for p in seen[0].parameters()) == sum(p.numel() for p in built.module.parameters())
    assert all(p.requires_grad for p in built.module.parameters())

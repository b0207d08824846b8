"""Measure the real peak of a training step against the traced prediction (CPU, or CUDA with --device cuda).

CPU: each configuration runs in a fresh subprocess with MALLOC_MMAP_THRESHOLD_=65536 and
MALLOC_TRIM_THRESHOLD_=0 (so freed tensors leave RSS); a throw-away copy of the model runs one step first
(loads kernels, fills oneDNN caches); then the baseline RSS is read, the model and optimizer are built,
step 1 runs, VmHWM is reset via /proc/self/clear_refs, and step 2 is measured: peak = VmHWM − baseline.
CUDA: each configuration in a fresh process; peak = torch.cuda.max_memory_allocated() of step 2 − memory
allocated before the model was built (after a warm-up matmul created the main thread's cuBLAS workspace).

    python bench/memory_accuracy.py      # CPU table; writes reporter/memory/measured_accuracy.py
    python bench/memory_accuracy.py --device cuda --out cuda_table.md   # writes measured_accuracy_cuda.py
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from procfs import reset_peak_rss, status_bytes  # noqa: E402 - bench/ is on the path from here

MB = 1e6
SMALL_PEAK_BYTES = 40 * MB  # the accuracy target applies to peaks of at least this size

# Model sections are given in full: absent keys take GENESIS's ModelConfig defaults (H512, D8, FiLM).
DIT = {"hidden": 16, "depth": 3, "heads": 8, "fusion": "SUM", "t_embed_dim": 128, "mlp_ratio": 4.0}
# Shorter sequences keep a real CPU step to seconds on 2 cores (attention is O(L²) compute); the first case
# runs the real L = 5160.
SHORT = {"seq_len": 516}
MEDIUM = {"seq_len": 1290}

# name, architecture, model overrides, batch size, precision, optimizer
CPU_CASES = [
    ("dit+pos L5160 B4 fp32", "dit", {**DIT, "dropout": 0.0}, 4, "fp32", "AdamW"),
    ("dit+pos L1290 B32 fp32", "dit", {**DIT, **MEDIUM, "dropout": 0.0}, 32, "fp32", "AdamW"),
    ("dit+pos B64 fp32", "dit", {**DIT, **SHORT, "dropout": 0.0}, 64, "fp32", "AdamW"),
    ("dit+pos B64 bf16", "dit", {**DIT, **SHORT, "dropout": 0.0}, 64, "bf16", "AdamW"),
    (
        "dit nopos B32 fp32",
        "dit",
        {**DIT, **SHORT, "dropout": 0.0, "genesis_version": "pmt_dit@4037ba45"},
        32,
        "fp32",
        "AdamW",
    ),
    (
        "dit nopos B64 bf16",
        "dit",
        {**DIT, **SHORT, "dropout": 0.0, "genesis_version": "pmt_dit@4037ba45"},
        64,
        "bf16",
        "AdamW",
    ),
    (
        "dit dropout (not attn) B32 fp32",
        "dit",
        {**DIT, **SHORT, "dropout": 0.1, "attention_dropout_zero": True},
        32,
        "fp32",
        "Adam",
    ),
    (
        "dit H64 D4 B16 fp32",
        "dit",
        {**DIT, **SHORT, "dropout": 0.0, "hidden": 64, "depth": 4},
        16,
        "fp32",
        "AdamW",
    ),
    ("dit FiLM B32 fp32 SGD", "dit", {**DIT, **SHORT, "dropout": 0.0, "fusion": "FiLM"}, 32, "fp32", "SGD"),
    ("dit attn-dropout (math) B1 fp32", "dit", {**DIT, **MEDIUM, "dropout": 0.1}, 1, "fp32", "AdamW"),
    ("cnn H64 D4 B16 fp32", "cnn", {**MEDIUM, "hidden": 64, "depth": 4, "dropout": 0.1}, 16, "fp32", "AdamW"),
    ("cnn H64 D4 B16 bf16", "cnn", {**MEDIUM, "hidden": 64, "depth": 4, "dropout": 0.1}, 16, "bf16", "AdamW"),
    ("resnet H64 D4 B16 fp32", "resnet", {**MEDIUM, "hidden": 64, "depth": 4, "dropout": 0.1}, 16, "fp32",
     "AdamW"),
    ("resnet H96 D3 k5 B8 fp32", "resnet", {**MEDIUM, "hidden": 96, "depth": 3, "kernel_size": 5, "dropout": 0.1},
     8, "fp32", "AdamW"),
    ("c-dit B32 fp32", "c-dit", {"hidden": 16, "depth": 2, "heads": 2, "dropout": 0.0}, 32, "fp32", "AdamW"),
    ("c-dit B32 bf16", "c-dit", {"hidden": 16, "depth": 2, "heads": 2, "dropout": 0.0}, 32, "bf16", "AdamW"),
    (
        "hybrid H32 D2 B8 fp32",
        "hybrid",
        {**SHORT, "hidden": 32, "depth": 2, "heads": 4, "dropout": 0.0},
        8,
        "fp32",
        "AdamW",
    ),
    ("mlp H32 D2 B8 fp32", "mlp", {**MEDIUM, "hidden": 32, "depth": 2, "dropout": 0.1}, 8, "fp32", "AdamW"),
]

CUDA_CASES = [
    ("dit default B64 fp16", "dit", {**DIT, "dropout": 0.1}, 64, "fp16", "AdamW"),
    ("dit default B512 fp16", "dit", {**DIT, "dropout": 0.1}, 512, "fp16", "AdamW"),
    ("dit default B2 fp32 (math)", "dit", {**DIT, "dropout": 0.1}, 2, "fp32", "AdamW"),
    ("dit default B256 bf16", "dit", {**DIT, "dropout": 0.1}, 256, "bf16", "AdamW"),
    ("dit nopos B128 fp16", "dit", {**DIT, "genesis_version": "pmt_dit@4037ba45"}, 128, "fp16", "AdamW"),
    ("dit H64 D4 heads 8 B64 fp32", "dit", {**DIT, "hidden": 64, "depth": 4}, 64, "fp32", "AdamW"),
    (
        "dit H256 D4 FiLM B16 fp16",
        "dit",
        {**DIT, "hidden": 256, "depth": 4, "fusion": "FiLM"},
        16,
        "fp16",
        "AdamW",
    ),
    (
        "dit H1024 D24 h16 B4 fp16",
        "dit",
        {**DIT, "hidden": 1024, "depth": 24, "heads": 16},
        4,
        "fp16",
        "AdamW",
    ),
    ("cnn H256 D6 B16 fp16", "cnn", {"hidden": 256, "depth": 6}, 16, "fp16", "AdamW"),
    ("cnn H256 D6 B16 fp32", "cnn", {"hidden": 256, "depth": 6}, 16, "fp32", "SGD"),
    ("resnet H256 D8 B16 fp16", "resnet", {"hidden": 256, "depth": 8}, 16, "fp16", "AdamW"),
    ("c-dit B256 fp16", "c-dit", {"hidden": 16, "depth": 2, "heads": 2}, 256, "fp16", "AdamW"),
    ("hybrid H128 D4 B16 fp16", "hybrid", {"hidden": 128, "depth": 4, "heads": 8}, 16, "fp16", "AdamW"),
    ("mlp H64 D2 B32 fp32", "mlp", {"hidden": 64, "depth": 2}, 32, "fp32", "AdamW"),
]


def _model_fns(arch: str, overrides: dict):
    from reporter.models import get_architecture, resolve_model_config

    overrides = {k: v for k, v in overrides.items() if k != "attention_dropout_zero"}
    cfg = resolve_model_config({"architecture": arch, **overrides})
    spec = get_architecture(arch)
    return (lambda: spec.build(cfg)), (lambda b: spec.example_inputs(cfg, b))


def available(arch: str) -> bool:
    from reporter.models import list_architectures

    return arch in list_architectures()


def _zero_attention_dropout(model) -> None:
    """Keep dropout elsewhere but not inside attention (so the CPU flash kernel is used)."""
    from torch import nn

    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):
            m.dropout = 0.0


def predict(case, target_name: str) -> dict:
    from reporter.memory.predict import TrainingTrace
    from reporter.memory.step import OptimizerSpec
    from reporter.memory.targets import target_from_name

    name, arch, overrides, batch, precision, opt = case
    build, inputs = _model_fns(arch, overrides)
    if overrides.get("attention_dropout_zero"):
        inner = build

        def build():
            model = inner()
            _zero_attention_dropout(model)
            return model

    start = time.perf_counter()
    trace = TrainingTrace(
        build, inputs, optimizer=OptimizerSpec(name=opt), target=target_from_name(target_name)
    )
    p = trace.training(batch, precision)
    return {
        "peak": p.peak_bytes,
        "phase": p.peak_phase,
        "kernel": ",".join(sorted({a.kernel for a in p.attention})),
        "seconds": time.perf_counter() - start,
    }


# -- the measured child (CPU) ---------------------------------------------------------------------
def measure_cpu_child(case) -> dict:
    import torch

    from reporter.memory.step import OptimizerSpec, training_step

    torch.manual_seed(0)
    name, arch, overrides, batch, precision, opt = case
    build, make_inputs = _model_fns(arch, overrides)

    def one_model():
        model = build()
        if overrides.get("attention_dropout_zero"):
            _zero_attention_dropout(model)
        return model.train()

    def run(model, optimizer, steps, before_last=None):
        for i in range(steps):
            inputs = make_inputs(batch)
            target = torch.randn(_output_shape(model, make_inputs, batch))
            if i == steps - 1 and before_last is not None:
                before_last()
            training_step(model, optimizer, inputs, target, precision)
            del inputs, target

    # warm-up on a throw-away copy: kernels, oneDNN primitive caches, lazy imports
    warm = one_model()
    run(warm, OptimizerSpec(name=opt).build(warm.parameters()), 1)
    del warm
    gc.collect()
    baseline = status_bytes("VmRSS")
    model = one_model()
    optimizer = OptimizerSpec(name=opt).build([p for p in model.parameters() if p.requires_grad])
    run(model, optimizer, 1)
    gc.collect()
    reset_peak_rss()
    run(model, optimizer, 1, before_last=reset_peak_rss)
    return {"peak": status_bytes("VmHWM") - baseline}


_SHAPES: dict = {}


def _output_shape(model, make_inputs, batch):
    import torch

    from reporter.memory.step import first_tensor

    key = (id(model), batch)
    if key not in _SHAPES:
        with torch.no_grad():
            small = first_tensor(model(**make_inputs(1))).shape
        _SHAPES[key] = (batch, *small[1:])
    return _SHAPES[key]


def measure_cpu(case) -> dict:
    env = {
        **os.environ,
        "MALLOC_MMAP_THRESHOLD_": "65536",
        "MALLOC_TRIM_THRESHOLD_": "0",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
    }
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(case)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "child failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- CUDA --------------------------------------------------------------------------------------------
def measure_cuda_fresh(case) -> dict:
    """measure_cuda in a fresh process, as training starts: the autograd thread's cuBLAS workspace and
    other per-process state are created inside the measured run, not inherited from an earlier case."""
    out = subprocess.run([sys.executable, __file__, "--cuda-child", json.dumps(case)], capture_output=True,
                         text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "child failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def cuda_target_name() -> str:
    import torch

    name = torch.cuda.get_device_name(0).upper()
    total = torch.cuda.get_device_properties(0).total_memory
    for key, profile in (("H200", "H200-141GB"), ("H100", "H100-80GB"), ("L4", "L4-24GB"), ("T4", "T4-16GB")):
        if key in name:
            return profile
    if "A100" in name:
        return "A100-80GB" if total > 50 * 1024**3 else "A100-40GB"
    return "cuda"


def measure_cuda(case, on_baseline=None, on_step2=None) -> dict:
    """Peak of training step 2 on the GPU, over the allocation before the model was built.

    ``on_baseline`` runs right after the baseline is read and ``on_step2`` right before step 2 starts
    (bench/cuda_peak_breakdown.py records the allocator history through them).
    """
    import torch

    from reporter.memory.step import OptimizerSpec, first_tensor, training_step

    name, arch, overrides, batch, precision, opt = case
    build, make_inputs = _model_fns(arch, overrides)
    gc.collect()
    torch.cuda.empty_cache()
    a = torch.randn(64, 64, device="cuda")
    (a @ a).sum().item()  # cuBLAS workspace exists before the baseline
    del a
    baseline = torch.cuda.memory_allocated()
    if on_baseline is not None:
        on_baseline()
    model = build().cuda().train()
    optimizer = OptimizerSpec(name=opt).build([p for p in model.parameters() if p.requires_grad])
    with torch.no_grad():
        tail = tuple(first_tensor(model(**{k: v.cuda() for k, v in make_inputs(1).items()})).shape[1:])
    for step in range(2):
        inputs = {k: v.cuda() for k, v in make_inputs(batch).items()}
        target = torch.randn(batch, *tail, device="cuda")
        if step == 1:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            if on_step2 is not None:
                on_step2()
        training_step(model, optimizer, inputs, target, precision, device_type="cuda")
        del inputs, target
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - baseline
    del model, optimizer
    return {"peak": peak}


# -- table -------------------------------------------------------------------------------------------
def run_cases(cases, device: str, target_name: str, jobs: int = 1) -> list[dict]:
    from concurrent.futures import ThreadPoolExecutor

    ready = []
    for case in cases:
        if not available(case[1]):
            print(f"skip {case[0]}: architecture {case[1]!r} not in the registry", flush=True)
            continue
        try:
            ready.append((case, predict(case, target_name)))
        except Exception as exc:  # one failing case must not lose the table
            print(f"FAILED prediction {case[0]}: {type(exc).__name__}: {exc}", flush=True)

    def measured(case):
        try:
            return measure_cpu(case) if device == "cpu" else measure_cuda_fresh(case)
        except Exception as exc:
            print(f"FAILED measurement {case[0]}: {type(exc).__name__}: {exc}", flush=True)
            return None

    if jobs > 1:  # each measurement is its own process (its own RSS or CUDA allocator): peaks do not mix
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            reals = list(pool.map(measured, [c for c, _ in ready]))
    else:
        reals = [measured(c) for c, _ in ready]
    rows = []
    for (case, pred), real in zip(ready, reals, strict=True):
        if real is None:
            continue
        name = case[0]
        err = (pred["peak"] - real["peak"]) / real["peak"] * 100
        row = {
            "config": name,
            "batch": case[3],
            "precision": case[4],
            "kernel": pred["kernel"],
            "phase": pred["phase"],
            "measured_mb": real["peak"] / MB,
            "predicted_mb": pred["peak"] / MB,
            "error_pct": err,
            "predict_s": pred["seconds"],
        }
        rows.append(row)
        print(
            f"{name:34s} measured {row['measured_mb']:10.1f} MB  predicted {row['predicted_mb']:10.1f} MB  "
            f"error {err:+6.2f}%  ({pred['kernel']}, peak in {pred['phase']})",
            flush=True,
        )
    return rows


def summarise(rows: list[dict]) -> dict:
    big = [abs(r["error_pct"]) for r in rows if r["measured_mb"] * MB >= SMALL_PEAK_BYTES]
    every = [abs(r["error_pct"]) for r in rows]
    return {
        "configs": len(rows),
        "configs_ge_40mb": len(big),
        "median_abs_error_pct": statistics.median(big) if big else None,
        "max_abs_error_pct": max(big) if big else None,
        "median_abs_error_pct_all": statistics.median(every) if every else None,
        "max_abs_error_pct_all": max(every) if every else None,
    }


def markdown(rows: list[dict], summary: dict, header: str) -> str:
    lines = [
        header,
        "",
        "| configuration | batch | precision | attention | peak phase | measured MB | predicted MB | error |",
        "|---|---:|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['batch']} | {r['precision']} | {r['kernel'] or '-'} | {r['phase']} | "
            f"{r['measured_mb']:.1f} | {r['predicted_mb']:.1f} | {r['error_pct']:+.2f}% |"
        )
    lines += [
        "",
        f"Peaks ≥ 40 MB: {summary['configs_ge_40mb']} configurations, median |error| "
        f"{summary['median_abs_error_pct']:.2f}%, max {summary['max_abs_error_pct']:.2f}%. "
        f"All {summary['configs']}: median {summary['median_abs_error_pct_all']:.2f}%, "
        f"max {summary['max_abs_error_pct_all']:.2f}%.",
    ]
    return "\n".join(lines) + "\n"


def write_constant(rows, summary, device: str, machine: str, path: Path) -> None:
    """Commit the measurement as a Python constant the report quotes (not a hand-written number)."""
    import pprint

    record = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "device": device,
        "machine": machine,
        "summary": summary,
        "rows": rows,
    }
    path.write_text(
        '"""Accuracy of the memory prediction, measured by bench/memory_accuracy.py (generated)."""\n\n'
        f"MEASURED_ACCURACY = {pprint.pformat(record, width=100, sort_dicts=False)}\n"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--out", type=Path, help="write the Markdown table here")
    parser.add_argument("--only", help="run only configurations whose name contains this text")
    parser.add_argument("--no-record", action="store_true", help="do not rewrite measured_accuracy.py")
    parser.add_argument("--jobs", type=int, default=2, help="measurements run in parallel, each in its own process")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--cuda-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_cpu_child(json.loads(args.child))))
        return 0
    if args.cuda_child:
        print(json.dumps(measure_cuda(tuple(json.loads(args.cuda_child)))))
        return 0
    import torch

    if args.device == "cuda":
        if not torch.cuda.is_available():
            print("--device cuda: no CUDA device visible", file=sys.stderr)
            return 2
        cases, target = CUDA_CASES, cuda_target_name()
        machine = f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    else:
        cases, target = CPU_CASES, "cpu"
        machine = (
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
        )
    if args.only:
        cases = [c for c in cases if args.only in c[0]]
    start = time.perf_counter()
    rows = run_cases(cases, args.device, target, args.jobs)
    summary = summarise(rows)
    header = (
        f"Memory prediction accuracy, {args.device} (target profile {target}), {machine}, "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
        f"{time.perf_counter() - start:.0f} s"
    )
    table = markdown(rows, summary, header) if rows else header + "\n\nno configuration ran\n"
    print(table)
    if args.out:
        args.out.write_text(table)
    if not args.only and not args.no_record and rows:
        name = "measured_accuracy.py" if args.device == "cpu" else "measured_accuracy_cuda.py"
        write_constant(rows, summary, args.device, machine, REPO / "reporter" / "memory" / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

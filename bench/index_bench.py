"""`genesis-report index` over generated GENESIS task folders: cold, re-index, one task changed.

Targets (issue 14):
- cold index with `-j 2`: wall per task ≤ 0.6× a single cold task report (`genesis-report TASK`, its own
  process, empty cache), measured in the same run;
- re-indexing with nothing changed: ≤ 5% of the cold index.

The tasks: `--tasks` folders (default 40) cycling over three architectures (PMTDit `default.yaml`, c-dit,
cnn), each with `config.yaml`, two checkpoints (`{exp}_epoch_0000.pt`, `{exp}_best.pt`: weights drawn per
task, AdamW state, epoch, loss, metrics) and a training log in the trainer's epoch-summary format. Tasks
of one architecture share a model config (as a sweep's tasks share a few), so their memory and data-flow
sections are the analysis cache's to reuse; every checkpoint's bytes differ, so no digest is shared.

Every cold measurement gets a fresh, empty `GENESIS_REPORT_CACHE_DIR` (analysis and digest caches).

    python bench/index_bench.py [--tasks 40] [--jobs 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARCHITECTURES = ("default.yaml", "c-dit.yaml", "cnn.yaml")
PER_TASK_TARGET, REINDEX_TARGET = 0.6, 0.05


def _log_text(train: list[float], val: list[float]) -> str:
    lines = ["⚙️  Configuration Loaded"]
    for epoch, (t, v) in enumerate(zip(train, val, strict=True), 1):
        lines += ["=" * 70, f"📊 Epoch {epoch}/{len(train)} Summary", "=" * 70, f"  Time:       {epoch}.00s",
                  "  LR:         1.00e-04", f"  Train Loss: {t:.6f}", f"  Val Loss:   {v:.6f}",
                  "  Early Stop: patience=0/4", "=" * 70]
    return "\n".join(lines) + "\n"


def make_tasks(root: Path, count: int) -> list[Path]:
    """`count` task folders under root; returns them in order."""
    sys.path.insert(0, str(REPO))
    import torch

    from reporter.config.loader import load_config
    from reporter.pipeline import build_from_config

    shapes = {}
    for name in ARCHITECTURES:
        built = build_from_config(load_config(REPO / "configs" / name))
        shapes[name] = {k: (v.shape, v.dtype, k in dict(built.module.named_parameters()))
                        for k, v in built.module.state_dict().items()}
    tasks = []
    for index in range(count):
        arch = ARCHITECTURES[index % len(ARCHITECTURES)]
        task = root / f"task-{index:03d}-{arch.removesuffix('.yaml')}"
        (task / "checkpoints").mkdir(parents=True)
        (task / "logs").mkdir()
        shutil.copy(REPO / "configs" / arch, task / "config.yaml")
        generator = torch.Generator().manual_seed(index)
        train = [0.5 / (e + 1) + 0.01 * index for e in range(3)]
        val = [t * 1.1 for t in train]
        for epoch, stem in ((0, "exp_epoch_0000"), (2, "exp_best")):
            state, params = {}, []
            for key, (shape, dtype, is_param) in shapes[arch].items():
                if dtype.is_floating_point:
                    state[key] = (torch.randn(shape, generator=generator) * 0.02).to(dtype)
                else:
                    state[key] = torch.zeros(shape, dtype=dtype)
                if is_param:
                    params.append(key)
            optimizer = {"state": {i: {"step": torch.tensor(float(10 * (epoch + 1))),
                                       "exp_avg": torch.zeros(state[k].shape),
                                       "exp_avg_sq": torch.zeros(state[k].shape)} for i, k in enumerate(params)},
                         "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01,
                                           "amsgrad": False, "params": list(range(len(params)))}]}
            torch.save({"epoch": epoch, "global_step": 10 * (epoch + 1), "model_state_dict": state,
                        "optimizer_state_dict": optimizer, "best_loss": min(val[: epoch + 1]),
                        "metrics": {"train/epoch_loss": train[epoch]}}, task / "checkpoints" / f"{stem}.pt")
        (task / "logs" / "exp_training.txt").write_text(_log_text(train, val), encoding="utf-8")
        tasks.append(task)
    return tasks


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {result.returncode}: {result.stderr[-2000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", help="write the tasks here and keep them")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="index-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("GENESIS_REPORT_NO_CACHE", "GENESIS_REPORT_NO_FORK", "GENESIS_REPORT_TARGET")}
    base_env["PYTHONPATH"] = str(REPO)
    reporter = [sys.executable, "-m", "reporter"]

    def fresh_cache() -> dict[str, str]:
        return dict(base_env, GENESIS_REPORT_CACHE_DIR=tempfile.mkdtemp(dir=work, prefix="cache-"))

    try:
        start = time.perf_counter()
        tasks = make_tasks(work / "tasks", args.tasks)
        size = sum(p.stat().st_size for t in tasks for p in (t / "checkpoints").iterdir())
        print(f"created {len(tasks)} tasks ({size / 1e9:.2f} GB of checkpoints) in {time.perf_counter() - start:.1f} s")

        singles = {}  # one task of each architecture, reported alone in its own folder and process
        for arch_task in tasks[: len(ARCHITECTURES)]:
            alone = work / "single" / arch_task.name
            shutil.copytree(arch_task, alone)
            timed([*reporter, str(alone), "-q"], fresh_cache())  # page cache and .pyc warm
            shutil.rmtree(alone / "reports")
            singles[arch_task.name] = timed([*reporter, str(alone), "-q"], fresh_cache())
        single = statistics.mean(singles.values())

        index = [*reporter, "index", str(work / "tasks"), "-j", str(args.jobs), "-q", "--no-progress"]
        env = fresh_cache()
        cold = timed(index, env)
        again = timed(index, env)
        touched = tasks[len(tasks) // 2] / "checkpoints" / "exp_best.pt"
        os.utime(touched)  # one task's checkpoint changed (its mtime and ctime move)
        one_changed = timed(index, env)
        rebuild_cached = timed([*index, "--rebuild"], env)  # every task again, analysis cache warm
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    per_task = cold / len(tasks)
    rows = [
        *[(f"single cold task report: {name}", f"{wall:.2f} s") for name, wall in singles.items()],
        ("single cold task report, mean (the per-task baseline)", f"{single:.2f} s"),
        (f"index of {len(tasks)} tasks, -j {args.jobs}, cold cache", f"{cold:.2f} s"),
        ("  per task / single cold report",
         f"{per_task:.3f} s = {per_task / single:.2f}x  (target <= {PER_TASK_TARGET:g}x: "
         f"{'met' if per_task / single <= PER_TASK_TARGET else 'NOT met'})"),
        ("index again, nothing changed (reports reused)",
         f"{again:.2f} s = {100 * again / cold:.1f}% of cold  (target <= {100 * REINDEX_TARGET:g}%: "
         f"{'met' if again / cold <= REINDEX_TARGET else 'NOT met'})"),
        ("index again, one checkpoint touched", f"{one_changed:.2f} s = {100 * one_changed / cold:.1f}% of cold"),
        ("index --rebuild, analysis cache warm",
         f"{rebuild_cached:.2f} s = {100 * rebuild_cached / cold:.1f}% of cold"),
        ("load average (1 min) at the end", f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


if __name__ == "__main__":
    main()

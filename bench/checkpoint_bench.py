"""Benchmark: full checkpoint report on a ≈1.6 GB GENESIS-style checkpoint (memory and wall time).

Usage: ``python bench/checkpoint_bench.py [--dir DIR] [--keep] [--repeat N] [--cli TEMPLATE]``

1. Writes a GENESIS trainer-style checkpoint: PMTDit key layout (H=984, depth 6, learned ``pos``,
   ≈101 M parameters), AdamW state (exp_avg, exp_avg_sq, step), an early-stopping ``best_weights`` copy,
   a ``config`` of dataclasses from a throwaway ``config`` module (not importable when measured).
2. Warms the page cache and times ``cat file > /dev/null`` (median of 3), then a plain sha256 of the
   file (the report must contain it, so it is the floor of the report's wall time).
3. In a fresh subprocess: imports torch, records the baseline, then runs :func:`measured_command`
   (reporter imports, read, every section, weight statistics, optimizer NaN/Inf check, sha256, JSON
   written to disk) while a thread samples ``RssAnon`` from ``/proc/self/status`` every 2 ms.

What is measured:
- *peak anonymous RSS over baseline*: max sampled ``RssAnon`` minus ``RssAnon`` after ``import torch``.
  Anonymous memory is what the process allocates (heap, tensors it creates); tensor data read through
  the read-only file map is page cache, counted in ``RssFile`` and reclaimable, so it is reported apart.
- *VmHWM over baseline*: the kernel's peak of total RSS (anonymous + file-backed), after resetting it
  with ``/proc/self/clear_refs``; it includes the mapped checkpoint pages.
- *wall*: the measured command (reporter imports included, torch import excluded), as a ratio to
  the ``cat`` time measured just before, in the same run.

To measure the CLI later, replace the body of :func:`measured_command` with the CLI call
(``reporter.cli.main(["--checkpoint", path, "-o", out])``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HIDDEN, DEPTH, SEQ_LEN, T_EMBED, LABEL_DIM, MLP_RATIO = 984, 6, 5160, 128, 6, 4
TARGET_RSS_MB, TARGET_RATIO = 150.0, 3.0


def measured_command(path: str, out: str) -> None:
    """The work being measured: the full `genesis-report --checkpoint` run (every section, weight
    statistics, data flow, sha256), writing the JSON and HTML reports, in this process."""
    from reporter.cli import main

    args = ["--checkpoint", path, "-o", out, "-o", str(Path(out).with_suffix(".html")), "--quiet"]
    args += os.environ.get("CHECKPOINT_BENCH_EXTRA", "").split()
    status = main(args)
    if status != 0:
        raise SystemExit(f"genesis-report exited {status}")


def _pmtdit_shapes() -> dict[str, tuple[int, ...]]:
    h, c, m = HIDDEN, 2 * (HIDDEN // 2), int(HIDDEN * MLP_RATIO)
    shapes: dict[str, tuple[int, ...]] = {
        "pos": (1, SEQ_LEN, h), "affine_offset": (5, 1), "affine_scale": (5, 1), "label_offset": (6,),
        "label_scale": (6,),
        "embedder.signal_net.0.weight": (h, 2), "embedder.signal_net.0.bias": (h,),
        "embedder.signal_net.3.weight": (h, h), "embedder.signal_net.3.bias": (h,),
        "embedder.geom_net.0.weight": (h, 3), "embedder.geom_net.0.bias": (h,),
        "embedder.geom_net.3.weight": (h, h), "embedder.geom_net.3.bias": (h,),
        "t_mlp.0.weight": (h, T_EMBED), "t_mlp.0.bias": (h,), "t_mlp.2.weight": (h // 2, h),
        "t_mlp.2.bias": (h // 2,), "y_mlp.0.weight": (h, LABEL_DIM), "y_mlp.0.bias": (h,),
        "y_mlp.2.weight": (h // 2, h), "y_mlp.2.bias": (h // 2,),
    }
    for i in range(DEPTH):
        b = f"blocks.{i}."
        shapes |= {b + "gate_attn": (1,), b + "gate_mlp": (1,)}
        for ada in ("ada_attn", "ada_mlp"):
            for part in ("to_scale", "to_shift"):
                shapes |= {f"{b}{ada}.{part}.weight": (h, c), f"{b}{ada}.{part}.bias": (h,)}
        shapes |= {b + "attn.in_proj_weight": (3 * h, h), b + "attn.in_proj_bias": (3 * h,),
                   b + "attn.out_proj.weight": (h, h), b + "attn.out_proj.bias": (h,),
                   b + "mlp.fc1.weight": (m, h), b + "mlp.fc1.bias": (m,),
                   b + "mlp.fc2.weight": (h, m), b + "mlp.fc2.bias": (h,)}
    shapes |= {"ln_out.weight": (h,), "ln_out.bias": (h,), "out_proj.weight": (2, h), "out_proj.bias": (2,)}
    return shapes


def create_checkpoint(folder: Path) -> Path:
    """Write the GENESIS-style checkpoint (model + AdamW state + early-stopping copy)."""
    import numpy as np
    import torch

    module_dir = folder / "configmod"
    module_dir.mkdir(exist_ok=True)
    (module_dir / "config.py").write_text(textwrap.dedent("""
        from dataclasses import dataclass
        @dataclass
        class ModelConfig:
            architecture: str = "dit"
            seq_len: int = 5160
            hidden: int = 984
            depth: int = 6
            heads: int = 8
            fusion: str = "SUM"
            t_embed_dim: int = 128
            label_dim: int = 6
            mlp_ratio: float = 4.0
        @dataclass
        class TrainingConfig:
            learning_rate: float = 2e-4
            optimizer: str = "AdamW"
            scheduler: str = "plateau"
    """))
    sys.path.insert(0, str(module_dir))
    import config  # the throwaway module, removed again below

    generator = torch.Generator().manual_seed(0)
    buffers = {"affine_offset", "affine_scale", "label_offset", "label_scale"}
    model = {}
    for name, shape in _pmtdit_shapes().items():
        if name.endswith(("gate_attn", "gate_mlp")) or name in buffers:
            model[name] = torch.full(shape, 0.5)
        else:
            model[name] = torch.randn(shape, generator=generator) * 0.02
    params = [n for n in model if n not in buffers]
    state = {i: {"step": torch.tensor(1500.0),
                 "exp_avg": torch.randn(model[n].shape, generator=generator) * 1e-4,
                 "exp_avg_sq": torch.rand(model[n].shape, generator=generator) * 1e-8}
             for i, n in enumerate(params)}
    optimizer = {"state": state, "param_groups": [{
        "lr": 2e-4, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01, "amsgrad": False,
        "maximize": False, "foreach": None, "capturable": False, "differentiable": False, "fused": None,
        "decoupled_weight_decay": True, "params": list(range(len(params)))}]}
    checkpoint = {
        "epoch": 11, "global_step": 1500, "model_state_dict": model, "optimizer_state_dict": optimizer,
        "best_loss": np.float64(0.0123),
        "config": {"experiment_name": "bench", "model": config.ModelConfig(),
                   "training": config.TrainingConfig(), "device": "cuda"},
        "metrics": {"train/epoch_loss": np.float64(0.013), "train/epoch_time": 100.0},
        "scheduler_state_dict": {"factor": 0.5, "patience": 3, "num_bad_epochs": 1, "cooldown_counter": 0,
                                 "best": 0.0123, "last_epoch": 11, "_last_lr": [2e-4], "mode": "min"},
        "early_stopping_state_dict": {"counter": 1, "best_score": -0.0123, "early_stop": False,
                                      "best_epoch": 10,
                                      "best_weights": {k: v.clone() for k, v in model.items()},
                                      "patience": 5, "min_delta": -1e-4, "mode": "min", "baseline": None},
        "checkpoint_metadata": {"experiment_name": "bench", "epoch": 11, "is_best": True,
                                "metric_value": 0.013, "timestamp": None},
    }
    path = folder / "bench_best.pt"
    torch.save(checkpoint, path)
    sys.path.remove(str(module_dir))
    sys.modules.pop("config", None)
    return path


def _status(field: str) -> int:
    """A /proc/self/status figure in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(path: str, out: str) -> None:
    """Runs in a fresh interpreter: baseline after imports, then the measured command."""
    import torch  # noqa: F401 - the baseline is "torch imported"; the reporter's imports are measured

    baseline_anon = _status("RssAnon")
    baseline_rss = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset VmHWM to the current RSS
    peak = [baseline_anon]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _status("RssAnon"))
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    measured_command(path, out)
    wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
    done.set()
    sampler.join()
    peak[0] = max(peak[0], _status("RssAnon"))
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "peak_anon_over_baseline": peak[0] - baseline_anon,
                      "hwm_over_baseline": _status("VmHWM") - baseline_rss,
                      "baseline_anon": baseline_anon}))


def time_cat(path: Path) -> float:
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm the cache
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _poll_process(command: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Run a command, sampling its RssAnon every 2 ms; returns (wall seconds, peak RssAnon bytes)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        try:
            with open(f"/proc/{process.pid}/status") as status:
                for line in status:
                    if line.startswith("RssAnon:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            pass
        time.sleep(0.002)
    wall = time.perf_counter() - start
    if process.returncode not in (0, 3):
        raise RuntimeError(f"{command} failed: {process.stderr.read().decode()[-2000:]}")
    return wall, peak


def measure_cli(template: str, path: Path, out: Path, env: dict[str, str]) -> dict:
    """Measure an external command line (e.g. the CLI) against a torch-import baseline process.

    Here the wall includes interpreter start and imports; the baseline's wall is given so both can
    be compared.
    """
    base_wall, base_anon = _poll_process([sys.executable, "-c", "import torch, reporter"], env)
    command = template.format(path=path, out=out, python=sys.executable).split()
    wall, anon = _poll_process(command, env)
    return {"wall_s": wall, "peak_anon_over_baseline": anon - base_anon, "hwm_over_baseline": 0,
            "baseline_wall_s": base_wall}


def time_sha256(path: Path) -> float:
    """sha256 of the file alone (the report must include it): the floor for the report's wall time."""
    start = time.perf_counter()
    digest, buffer = hashlib.sha256(), bytearray(8 << 20)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as stream:
        while count := stream.readinto(buffer):
            digest.update(view[:count])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", help="where to write the checkpoint (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the checkpoint afterwards")
    parser.add_argument("--repeat", type=int, default=1, help="measured runs (median wall, max memory)")
    parser.add_argument("--cli", help="measure this command line instead, e.g. "
                        "'{python} -m reporter --checkpoint {path} -o {out}'")
    parser.add_argument("--cached-digest", action="store_true",
                        help="measure a repeat report: the file's sha256 comes from the digest cache "
                             "(primed by one unmeasured run); default: every run hashes the file")
    parser.add_argument("--extra", default="", help="extra genesis-report arguments, e.g. '--no-memory'")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    folder = Path(args.dir or tempfile.mkdtemp(prefix="ckpt-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench_best.pt"
    if not path.exists():
        start = time.perf_counter()
        path = create_checkpoint(folder)
        print(f"created {path} ({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - start:.1f} s")
    try:
        out = folder / "report.json"
        env = dict(os.environ, PYTHONPATH=str(REPO), GENESIS_REPORT_CACHE_DIR=str(folder / "digest-cache"))
        env.pop("GENESIS_REPORT_NO_CACHE", None)
        env["CHECKPOINT_BENCH_EXTRA"] = args.extra
        if args.cached_digest:
            subprocess.run([sys.executable, "-m", "reporter", "--checkpoint", str(path), "-q"], env=env,
                           check=True, capture_output=True)
        else:
            env["GENESIS_REPORT_NO_CACHE"] = "1"
        runs = []
        for _ in range(args.repeat):
            cat = time_cat(path)
            if args.cli:
                figures = measure_cli(args.cli, path, out, env)
            else:
                result = subprocess.run([sys.executable, __file__, "--child", str(path), str(out)], env=env,
                                        capture_output=True, text=True, check=True)
                figures = json.loads(result.stdout.strip().splitlines()[-1])
            figures["cat_s"] = cat
            figures["sha256_s"] = time_sha256(path)
            runs.append(figures)
        report = json.loads(out.read_text())
        _print_table(path, runs, report, args.cached_digest, args.extra)
    finally:
        if not args.keep and not args.dir:
            for item in sorted(folder.rglob("*"), reverse=True):
                item.unlink() if item.is_file() else item.rmdir()
            folder.rmdir()


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def _print_table(path: Path, runs: list[dict], report: dict, cached: bool, extra: str) -> None:
    size = path.stat().st_size
    ratios = sorted(r["wall_s"] / r["cat_s"] for r in runs)
    ratio = statistics.median(ratios)
    wall = statistics.median(r["wall_s"] for r in runs)
    cat = statistics.median(r["cat_s"] for r in runs)
    anon = max(r["peak_anon_over_baseline"] for r in runs) / 2**20
    hwm = max(r["hwm_over_baseline"] for r in runs) / 2**20
    checkpoint = report["checkpoint"]
    sections = ", ".join(f"{s['section']} {s['bytes'] / 1e6:.0f} MB" for s in checkpoint["file"]["sections"])
    rows = [
        ("checkpoint size", f"{size / 1e9:.3f} GB ({sections})"),
        ("parameters + buffers", f"{checkpoint['weight_health']['total_numel']:,}"),
        ("runs / load average (1 min) at the end", f"{len(runs)} / {os.getloadavg()[0]:.2f} on "
                                                   f"{os.cpu_count()} CPUs"),
        ("cat file > /dev/null (warm, median)", f"{cat:.3f} s"),
        ("sha256 of the file alone, hashlib (median; floor for the report)",
         f"{statistics.median(r['sha256_s'] for r in runs):.3f} s = "
         f"{statistics.median(r['sha256_s'] / r['cat_s'] for r in runs):.2f}x cat"),
        ("full genesis-report wall (reporter imports, read, sections, weight stats, flow, sha256, JSON+HTML)"
         + (" — sha256 from the digest cache" if cached else "") + (f" — with {extra}" if extra else ""),
         f"{wall:.3f} s"),
        ("CPU time of the measured command, all threads (median)",
         f"{statistics.median(r.get('cpu_s', float('nan')) for r in runs):.3f} s"),
        ("wall / cat (median of per-run ratios; all: "
         + ", ".join(f"{r:.2f}" for r in ratios) + ")",
         f"{ratio:.2f}x  (target <= {TARGET_RATIO:g}x: {_verdict(ratio <= TARGET_RATIO)})"),
        ("peak RssAnon over torch-import baseline (max of runs)",
         f"{anon:.1f} MiB  (target <= {TARGET_RSS_MB:g} MB: {_verdict(anon <= TARGET_RSS_MB)})"),
        ("VmHWM over baseline (incl. mapped file pages)", f"{hwm:.1f} MiB"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


if __name__ == "__main__":
    main()

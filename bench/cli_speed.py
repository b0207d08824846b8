"""Wall time of a config report, cold and warm analysis cache, against `python -c "import torch"`.

Targets (issue 14), as ratios to the torch import measured in the same run:
- `genesis-report --config configs/default.yaml -o r.html` with a cold cache: ≤ 3.0×;
- the same command again (memory and data-flow sections and their charts from the analysis cache): ≤ 1.3×.

Every command runs once per round and the rounds are interleaved (import, floor, cold, warm, …), so a
burst of load on a shared machine lands on all rows alike; the table shows medians, minima and maxima.
Each cold run gets a fresh, empty cache folder (`GENESIS_REPORT_CACHE_DIR`); the warm runs share one
folder primed by an unmeasured run.

The floor row: in torch 2.13 every fake- or meta-tensor op that has a Python kernel, ``FakeTensorMode``
itself and every ``torch.optim`` optimizer's constructor import ``torch._dynamo``. A cold report needs
them for the data-flow and memory traces; a warm one does not import them.

    python bench/cli_speed.py [--repeat 5] [--config configs/default.yaml]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COLD_TARGET, WARM_TARGET = 3.0, 1.3
# Constructing the optimizer GENESIS trains with; the assert proves it imported torch._dynamo.
FLOOR = ("import sys, torch; torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))]); "
         "assert 'torch._dynamo' in sys.modules")


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds (each command once per round)")
    parser.add_argument("--config", default=str(REPO / "configs" / "default.yaml"))
    args = parser.parse_args()
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("GENESIS_REPORT_NO_CACHE", "GENESIS_REPORT_NO_FORK", "GENESIS_REPORT_TARGET")}
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        report = [sys.executable, "-m", "reporter", "--config", args.config, "-o", "r.html", "-q"]
        warm_env = dict(base_env, GENESIS_REPORT_CACHE_DIR=str(cwd / "warm-cache"))

        def cold_env(extra: dict[str, str] | None = None) -> dict[str, str]:
            folder = tempfile.mkdtemp(dir=cwd, prefix="cold-cache-")
            return dict(base_env, GENESIS_REPORT_CACHE_DIR=folder, **(extra or {}))

        rows: dict[str, tuple[list[str], Callable[[], dict[str, str]]]] = {
            "python -c 'import torch'": ([sys.executable, "-c", "import torch"], lambda: base_env),
            "  + torch.optim.AdamW(…) (imports _dynamo)": ([sys.executable, "-c", FLOOR], lambda: base_env),
            "report, cold cache": (report, cold_env),
            "report again, warm cache": (report, lambda: warm_env),
            "  cold, --no-memory": ([*report, "--no-memory"], cold_env),
            "  cold, memory traced inline (NO_FORK=1)": (report, lambda: cold_env({"GENESIS_REPORT_NO_FORK": "1"})),
        }
        for cmd, env in rows.values():  # warm the page cache and prime the warm analysis cache
            run(cmd, cwd, env())
        times: dict[str, list[float]] = {name: [] for name in rows}
        for _ in range(args.repeat):
            for name, (cmd, env) in rows.items():
                times[name].append(run(cmd, cwd, env()))
    base = statistics.median(times["python -c 'import torch'"])
    targets = {"report, cold cache": COLD_TARGET, "report again, warm cache": WARM_TARGET}
    print(f"{'command (genesis-report --config ' + Path(args.config).name + ' -o r.html)':<44}"
          f"{'median s':>9}{'min s':>8}{'max s':>8}{'ratio':>8}  target")
    for name, samples in times.items():
        med = statistics.median(samples)
        target = targets.get(name)
        verdict = "" if target is None else f"≤ {target:.1f}×: {'met' if med / base <= target else 'NOT met'}"
        print(f"{name:<44}{med:>9.3f}{min(samples):>8.3f}{max(samples):>8.3f}{med / base:>7.2f}×  {verdict}")
    print(f"rounds: {args.repeat}; load average (1 min) at the end: {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()

"""Wall time of a config report against `python -c "import torch"`, measured in the same run.

Target (issue 2): `genesis-report --config configs/default.yaml -o r.html` ≤ 2.0× the torch import.
Each command runs `--repeat` times after one warm-up; the table shows medians and the ratio.

The floor row: in torch 2.13 every fake- or meta-tensor op that has a Python kernel, ``FakeTensorMode``
itself and every ``torch.optim`` optimizer's constructor import ``torch._dynamo``. The data-flow trace and
the training-step memory trace need all three, so no report with those sections can finish faster than
that row.

    python bench/cli_speed.py [--repeat 5] [--config configs/default.yaml]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Constructing the optimizer GENESIS trains with; the assert proves it imported torch._dynamo.
FLOOR = ("import sys, torch; torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))]); "
         "assert 'torch._dynamo' in sys.modules")


def wall(cmd: list[str], repeat: int, cwd: Path) -> list[float]:
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)  # warm the page cache
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--config", default=str(REPO / "configs" / "default.yaml"))
    parser.add_argument("--extra", nargs="*", default=[], help="extra genesis-report arguments")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        baseline = wall([sys.executable, "-c", "import torch"], args.repeat, cwd)
        floor = wall([sys.executable, "-c", FLOOR], args.repeat, cwd)
        command = [sys.executable, "-m", "reporter", "--config", args.config, "-o", "r.html", "-q", *args.extra]
        report = wall(command, args.repeat, cwd)
        core = wall([*command, "--no-memory"], args.repeat, cwd)
    base = statistics.median(baseline)
    rows = [("python -c 'import torch'", baseline),
            ("  + torch.optim.AdamW(…) (imports _dynamo)", floor),
            ("genesis-report --config … -o r.html", report),
            ("  the same with --no-memory", core)]
    print(f"{'command':<40}{'median s':>10}{'min s':>9}{'max s':>9}{'ratio':>8}")
    for name, times in rows:
        med = statistics.median(times)
        print(f"{name:<40}{med:>10.3f}{min(times):>9.3f}{max(times):>9.3f}{med / base:>7.2f}×")
    ratio = statistics.median(report) / base
    print(f"target ≤ 2.00× for the full report: {'met' if ratio <= 2.0 else 'NOT met'} (repeat={args.repeat})")
    left = 2.0 * base - statistics.median(floor)
    print(f"floor (torch + torch._dynamo): {statistics.median(floor) / base:.2f}×; the 2.00× target leaves "
          f"{left:.3f} s for reading, building, tracing and rendering; the report uses "
          f"{statistics.median(report) - statistics.median(floor):.3f} s")


if __name__ == "__main__":
    main()

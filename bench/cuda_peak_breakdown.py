"""Diagnose a CUDA peak: which allocations are live at the peak of training step 2 (GPU machine only).

Records the caching allocator's history during step 2 of one bench/memory_accuracy.py CUDA case,
replays it to find the peak, and prints the live blocks at the peak grouped by the Python frame that
allocated them, beside the prediction's total. Used to find what the fake trace misses on CUDA.

    python bench/cuda_peak_breakdown.py --case "dit default B64 fp16"
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def frame_of(frames: list[dict]) -> str:
    """The innermost frame in model or reporter code, else in torch.nn / torch.optim, else the first."""
    for wanted in ("reporter/", "torch/nn/", "torch/optim/", "torch/autograd"):
        for f in frames:
            if wanted in f.get("filename", ""):
                return f"{f['filename'].split('site-packages/')[-1].split('/work/')[-1]}:{f['line']} {f['name']}"
    return f"{frames[0]['filename']}:{frames[0]['line']} {frames[0]['name']}" if frames else "?"


def main() -> None:
    import memory_accuracy as bench
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="dit default B64 fp16")
    args = parser.parse_args()
    case = next(c for c in bench.CUDA_CASES if c[0] == args.case)
    name = case[0]
    predicted = bench.predict(case, bench.cuda_target_name())
    marks: dict[str, int] = {}

    def start_recording() -> None:  # from the model on: see what persists into step 2
        torch.cuda.memory._record_memory_history(max_entries=500000)

    def mark_step2() -> None:
        marks["step2"] = len(torch.cuda.memory._snapshot()["device_traces"][0])

    peak = bench.measure_cuda(case, on_baseline=start_recording, on_step2=mark_step2)["peak"]
    step2_starts = marks["step2"]
    snapshot = torch.cuda.memory._snapshot()
    torch.cuda.memory._record_memory_history(enabled=None)
    live: dict[int, tuple[int, str]] = {}
    current, best, best_live = 0, -1, {}
    for index, event in enumerate(snapshot["device_traces"][0]):
        if event["action"] == "alloc":
            when = "step2" if index >= step2_starts else "before"
            live[event["addr"]] = (event["size"], f"[{when}] " + frame_of(event.get("frames", [])))
            current += event["size"]
            if index >= step2_starts and current > best:
                best, best_live = current, dict(live)
        elif event["action"] in ("free_requested",) and event["addr"] in live:
            current -= live.pop(event["addr"])[0]
    groups: dict[str, list[int]] = collections.defaultdict(list)
    for size, where in best_live.values():
        groups[where].append(size)
    print(f"{name}: measured peak {peak / 1e6:.1f} MB, predicted {predicted['peak'] / 1e6:.1f} MB; "
          f"allocated after the baseline and live at the step-2 peak: {sum(map(sum, groups.values())) / 1e6:.1f} MB")
    for where, sizes in sorted(groups.items(), key=lambda kv: -sum(kv[1]))[:40]:
        common = collections.Counter(sizes).most_common(3)
        print(f"{sum(sizes) / 1e6:10.1f} MB  {len(sizes):5d} blocks  {where}  sizes {common}")


if __name__ == "__main__":
    main()

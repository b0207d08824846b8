"""Cost of the full memory analysis of a ~400M-parameter DiT (hidden 1024, depth 24, 16 heads).

Runs ``analyse_memory`` (fp32 + mixed precision + batch sweep + inference + FLOPs) in a fresh
subprocess and reports its wall time and peak RSS. Targets: ≤ 15 s and ≤ 600 MB on a 2-core CPU.

    python bench/memory_large.py [--target H100-80GB] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LARGE = {"architecture": "dit", "hidden": 1024, "depth": 24, "heads": 16, "fusion": "SUM", "dropout": 0.1}


def child(target: str, batch: int) -> dict:
    sys.path.insert(0, str(REPO))
    import resource

    start = time.perf_counter()
    from reporter.analysis.memory_section import analyse_memory
    from reporter.models import get_architecture, resolve_model_config

    imported = time.perf_counter()
    cfg = resolve_model_config(LARGE)
    section = analyse_memory(
        get_architecture("dit"),
        cfg,
        {"optimizer": "AdamW", "use_amp": True},
        batch,
        target,
        sample_batch=batch,
    )
    done = time.perf_counter()
    return {
        "import_s": imported - start,
        "analysis_s": done - imported,
        "wall_s": done - start,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "fp32_peak_gib": section.fp32.peak_bytes / 2**30,
        "amp_peak_gib": section.amp.peak_bytes / 2**30,
        "largest_fitting_batch": section.largest_fitting_batch,
        "training_tflops": section.flops.training_flops / 1e12 if section.flops else None,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", default="H100-80GB")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.target, args.batch_size)))
        return 0
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--target", args.target, "--batch-size", str(args.batch_size)],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return 1
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    print(json.dumps(result, indent=1))
    ok = result["wall_s"] <= 15 and result["max_rss_mb"] <= 600
    print(
        f"{'OK' if ok else 'OVER TARGET'}: analysis {result['wall_s']:.1f} s wall (target ≤ 15 s), "
        f"peak RSS {result['max_rss_mb']:.0f} MB (target ≤ 600 MB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

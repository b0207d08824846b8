"""Find the bytes a fake trace cannot see: run a real CPU training step op by op and compare.

For one configuration of bench/memory_accuracy.py, a fresh process (glibc MALLOC_MMAP_THRESHOLD_=65536,
MALLOC_TRIM_THRESHOLD_=0, so freed tensors leave RSS) builds the model, runs step 1, then runs step 2
under a dispatch mode that, around every aten op, reads VmRSS, resets VmHWM (/proc/self/clear_refs) and
reads VmHWM after the op. What an op held beyond its new outputs (VmHWM − RSS before − output bytes) is
what its kernel allocated and freed inside the op; the rule column is what reporter.memory.cpu_scratch
predicts for the same op. Ops whose measured or predicted extra exceed --min-mb are listed. A negative
extra is an output whose pages are not touched yet (``empty_like`` before ``bernoulli_`` fills it).

    python bench/memory_op_probe.py "cnn H64 D4 B16 fp32"
    python bench/memory_op_probe.py "c-dit B32 bf16" --min-mb 1
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from procfs import reset_peak_rss, status_bytes  # noqa: E402 - bench/ is on the path from here

MB = 1e6


def probe_child(case_name: str) -> list[dict]:
    import memory_accuracy as ma
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    from reporter.memory.cpu_scratch import CpuScratch
    from reporter.memory.step import OptimizerSpec, training_step

    matches = [c for c in ma.CPU_CASES if c[0] == case_name]
    if not matches:
        raise SystemExit(f"no CPU case named {case_name!r}")
    _, arch, overrides, batch, precision, opt = matches[0]
    build, make_inputs = ma._model_fns(arch, overrides)
    rule = CpuScratch()
    torch.manual_seed(0)

    class OpProbe(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.rows: list[dict] = []
            self.phase = "forward"

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            before = status_bytes("VmRSS")
            reset_peak_rss()
            out = func(*args, **(kwargs or {}))
            held = status_bytes("VmHWM") - before
            seen: set[int] = set()
            new = 0
            for leaf in tree_flatten(out)[0]:
                if isinstance(leaf, torch.Tensor) and id(leaf.untyped_storage()) not in seen:
                    seen.add(id(leaf.untyped_storage()))
                    if not any(
                        isinstance(a, torch.Tensor) and a.untyped_storage().data_ptr()
                        == leaf.untyped_storage().data_ptr()
                        for a in tree_flatten((args, kwargs))[0]
                    ):
                        new += leaf.untyped_storage().nbytes()
            tensors = [a for a in tree_flatten(args)[0] if isinstance(a, torch.Tensor)]
            self.rows.append({
                "op": str(func),
                "phase": self.phase,
                "extra": held - new,
                "rule": rule(func, args, out),
                "args": [f"{str(t.dtype)[6:]}{list(t.shape)}{list(t.stride())}" for t in tensors[:3]],
            })
            return out

    def step(model, optimizer, probe=None):
        inputs = make_inputs(batch)
        target = torch.randn(ma._output_shape(model, make_inputs, batch))
        if probe is None:
            training_step(model, optimizer, inputs, target, precision)
            return
        with probe:
            training_step(model, optimizer, inputs, target, precision, lambda p: setattr(probe, "phase", p))

    warm = build().train()
    step(warm, OptimizerSpec(name=opt).build(warm.parameters()))
    del warm
    gc.collect()
    model = build().train()
    optimizer = OptimizerSpec(name=opt).build([p for p in model.parameters() if p.requires_grad])
    step(model, optimizer)
    gc.collect()
    probe = OpProbe()
    step(model, optimizer, probe)
    return probe.rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", help="a configuration name of bench/memory_accuracy.py's CPU_CASES")
    parser.add_argument("--min-mb", type=float, default=0.5, help="list ops whose extra exceeds this")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(probe_child(args.case)))
        return 0
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    done = subprocess.run([sys.executable, __file__, args.case, "--child"], env=env, capture_output=True,
                          text=True, timeout=900)
    if done.returncode != 0:
        print(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "probe failed", file=sys.stderr)
        return 1
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{args.case}: {len(rows)} ops in step 2; extra = held inside the op beyond its new outputs")
    print(f"{'#':>5} {'phase':9} {'op':44} {'extra MB':>9} {'rule MB':>8}  operands")
    for i, r in enumerate(rows):
        if max(abs(r["extra"]), r["rule"]) / MB >= args.min_mb:
            print(f"{i:5d} {r['phase']:9} {r['op'][:44]:44} {r['extra'] / MB:9.2f} {r['rule'] / MB:8.2f}  "
                  f"{' '.join(r['args'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

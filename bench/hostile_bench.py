"""Every crafted hostile input (tests/hostile.py, at full size) through the real CLI in a fresh process:
exit status, stderr lines, wall time and peak RSS per case, against the promise of issue 16 — exit 2 or 3
with one line (exit 3: a report and the security line), within 60 s and 1 GB on 2 cores.

    python bench/hostile_bench.py [--only NAME ...] [--keep DIR]

Peak RSS is measured by GNU time for each CLI process alone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import hostile  # noqa: E402

WALL_LIMIT, RSS_LIMIT = 60.0, 1 << 30


def _config(folder: Path, name: str, change: Callable[[dict], None]) -> Path:
    config = yaml.safe_load((REPO / "configs" / "default.yaml").read_text())
    change(config)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _laughs_yaml(folder: Path) -> Path:
    path = folder / "laughs.yaml"
    path.write_text("a0: &a0 [lol, lol]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n" for i in range(1, 40)))
    return path


def cases(folder: Path) -> dict[str, tuple[list[str], Callable[[], Path]]]:
    """name -> (CLI arguments before the path, builder of the crafted file)."""
    marker = folder / "marker"
    ck = ["--checkpoint"]
    cfg = ["--config"]
    table: dict[str, tuple[list[str], Callable[[], Path]]] = {
        "global torch.os.system (dotted)": (ck, lambda: hostile.make_dotted(folder, "torch", "os.system", marker)),
        "global imaplib.IMAP4_stream": (ck, lambda: hostile.make_dotted(folder, "imaplib", "IMAP4_stream", marker)),
        "legacy magic + os.system": (ck, lambda: hostile.make_legacy_disguise(folder, marker)),
        "raw pickle nested 10^6": (ck, lambda: hostile.make_deep_raw(folder)),
        "raw pickle nested 10^6 + os.system": (ck, lambda: hostile.make_deep_raw(folder, marker=marker)),
        "dict keyed by tuple nested 10^6": (ck, lambda: hostile.make_deep_tuple_key(folder)),
        "duplicate data.pkl, hostile first": (ck, lambda: hostile.make_duplicate_pickle(folder, marker, True)),
        "duplicate data.pkl, hostile second": (ck, lambda: hostile.make_duplicate_pickle(folder, marker, False)),
        "BUILD data on a storage": (ck, lambda: hostile.make_build_storage_data(folder)),
        "safetensors header nested 10^5": (ck, lambda: hostile.make_safetensors_deep(folder)),
        "safetensors with 300k tensors": (ck, lambda: hostile.make_safetensors_many(folder)),
        "billion laughs in metrics (2^40)": (ck, lambda: hostile.make_laughs(folder)),
        "no-op opcode bomb (12M opcodes)": (ck, lambda: hostile.make_opcode_bomb(folder)),
        "10^6 small tensors": (ck, lambda: hostile.make_many_tensors(folder)),
        "60k colliding dict keys": (ck, lambda: hostile.make_colliding_keys(folder, 60_000)),
        "200k colliding dict keys": (ck, lambda: hostile.make_colliding_keys(folder, 200_000)),
        "deflated storages, 3 GB inflated": (ck, lambda: hostile.make_deflate_bomb(folder)),
        "integer metric of 20,001 bits": (ck, lambda: hostile.make_big_int_metric(folder)),
        "config model.depth: 1000": (cfg, lambda: _config(folder, "depth1000",
                                                          lambda c: c["model"].update(depth=1000))),
        "config model.depth: 1000000": (cfg, lambda: _config(folder, "depth1e6",
                                                             lambda c: c["model"].update(depth=1_000_000))),
        "config model.hidden: 10^9": (cfg, lambda: _config(folder, "hidden",
                                                           lambda c: c["model"].update(hidden=10**9))),
        "config model.seq_len: 10^8": (cfg, lambda: _config(folder, "seq", lambda c: c["model"].update(seq_len=10**8))),
        "config model.label_dim: 10^7": (cfg, lambda: _config(folder, "label",
                                                              lambda c: c["model"].update(label_dim=10**7))),
        "config data.batch_size: 10^12": (cfg, lambda: _config(folder, "batch",
                                                               lambda c: c["data"].update(batch_size=10**12))),
        "config billion laughs (YAML aliases)": (cfg, lambda: _laughs_yaml(folder)),
    }
    for label, make in (("tensor claims", hostile.make_tensor_claims), ("torch refuses", hostile.make_torch_refused)):
        for case in make(folder):
            table[f"{label}: {case}"] = (ck, lambda case=case, make=make: make(folder)[case])
    return table


def run(args: list[str], cwd: Path) -> tuple[int, float, int, list[str]]:
    """Exit status, wall seconds, peak RSS bytes and stderr lines of one CLI run.

    Peak RSS comes from GNU time (``/usr/bin/time -f %M``): a child forked from this (large) process
    would inherit its high-water mark, so ``wait4``'s figure is used only when GNU time is missing.
    """
    timer = ["/usr/bin/time", "-f", "@@peak-rss-kb %M"] if Path("/usr/bin/time").exists() else []
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen([*timer, sys.executable, "-m", "reporter", *args], cwd=cwd,
                                   stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "PYTHONPATH": str(REPO)})
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        err.seek(0)
        lines = err.read().decode(errors="replace").splitlines()
    code = os.waitstatus_to_exitcode(status)
    rss = usage.ru_maxrss * 1024
    if timer:
        rss = next(int(line.split()[1]) * 1024 for line in lines if line.startswith("@@peak-rss-kb"))
        lines = [line for line in lines if not line.startswith(("@@peak-rss-kb", "Command exited"))]
    return code, wall, rss, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="run only cases whose name contains one of these")
    parser.add_argument("--keep", type=Path, help="write the crafted files here (default: a temporary folder)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = options.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"{'case':44s} {'exit':>4s} {'wall s':>7s} {'peak RSS':>9s}  first stderr line")
        failures = 0
        for name, (flags, make) in cases(folder).items():
            if options.only and not any(word in name for word in options.only):
                continue
            path = make()
            status, wall, rss, lines = run([*flags, str(path), "-q", "-o", str(folder / "out.json")], REPO)
            error_lines = [line for line in lines if not line.startswith("wrote ")]
            ok = wall <= WALL_LIMIT and rss <= RSS_LIMIT and (
                (status == 2 and len(lines) == 1) or status == 3 or (status == 0 and name.startswith("config"))
                or (status == 0 and "integer" in name))
            failures += not ok
            first = error_lines[0] if error_lines else (lines[0] if lines else "")
            print(f"{name:44s} {status:4d} {wall:7.1f} {rss / 2**20:7.0f}MB  {'' if ok else '!! '}{first[:110]}",
                  flush=True)
            (folder / "out.json").unlink(missing_ok=True)
        print(f"{failures} case(s) outside the promise" if failures else "every case within the promise")


if __name__ == "__main__":
    main()

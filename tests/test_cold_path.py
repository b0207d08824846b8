"""The cold path's design, checked in a fresh interpreter: the report's own process never imports
torch._dynamo (only the forked tracing child does) and imports matplotlib only to draw."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import CONFIGS, REPO

_PROBE = """
import json, sys
from reporter.cli import main
status = main(sys.argv[1:])
print(json.dumps({"status": status, "dynamo": "torch._dynamo" in sys.modules, "sympy": "sympy" in sys.modules,
                  "matplotlib": "matplotlib" in sys.modules}))
"""


def test_a_cold_report_traces_in_a_child_and_imports_neither_dynamo_nor_matplotlib(tmp_path):
    out = tmp_path / "r.json"
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "GENESIS_REPORT_CACHE_DIR": str(tmp_path / "cache"),
           "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", _PROBE, "--config", str(CONFIGS / "debug.yaml"), "-o", str(out),
                           "-q"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"status": 0, "dynamo": False, "sympy": False, "matplotlib": False}
    report = json.loads(out.read_text())
    assert report["flow"]["stages"] and report["memory"]["table"] and report["memory"]["amp"]  # from the children
    assert report["meta"]["cached_sections"] == []

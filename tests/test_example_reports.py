"""The committed example reports in reports/ must match what the current code generates."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys

from helpers import REPO


def test_example_reports_are_up_to_date(tmp_path):
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in ("configs", "reports"):
        shutil.copytree(REPO / name, copy / name)
    # The same command as reports/regenerate.sh, run in a copy so the committed files stay untouched.
    script = (REPO / "reports" / "regenerate.sh").read_text()
    assert "SOURCE_DATE_EPOCH=1760000000" in script and "-o reports/default.html" in script
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "SOURCE_DATE_EPOCH": "1760000000"}
    assert "--target H100-80GB" in script
    subprocess.run([sys.executable, "-m", "reporter", "--config", "configs/default.yaml", "--target", "H100-80GB",
                    "-o", "reports/default.html", "-o", "reports/default.md", "-o", "reports/default.json",
                    "--quiet"], cwd=copy, env=env, check=True, capture_output=True)
    committed = json.loads((REPO / "reports" / "default.json").read_text())
    stored_python = committed["meta"]["tool"]["python_version"]
    generated = sorted(p.relative_to(copy) for p in (copy / "reports").rglob("*") if p.is_file())
    expected = sorted(p.relative_to(REPO) for p in (REPO / "reports").rglob("*") if p.is_file())
    assert generated == expected
    for rel in expected:
        new = (copy / rel).read_text().replace(platform.python_version(), stored_python)
        assert new == (REPO / rel).read_text(), f"{rel} is stale: run bash reports/regenerate.sh"

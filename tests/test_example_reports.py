"""The committed example reports in reports/ must match what the current code generates."""

from __future__ import annotations

import json
import platform
import shutil

from helpers import REPO
from inprocess import run_main


def test_example_reports_are_up_to_date(tmp_path):
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in ("configs", "reports"):
        shutil.copytree(REPO / name, copy / name)
    # The same command as reports/regenerate.sh, run in a copy so the committed files stay untouched (in
    # this process: test_cli.py::test_reproducible_outputs checks that fresh processes agree byte for byte).
    script = (REPO / "reports" / "regenerate.sh").read_text()
    assert "SOURCE_DATE_EPOCH=1760000000" in script and "-o reports/default.html" in script
    assert "--target H100-80GB" in script
    result = run_main("--config", "configs/default.yaml", "--target", "H100-80GB", "-o", "reports/default.html",
                      "-o", "reports/default.md", "-o", "reports/default.json", "--quiet", cwd=copy,
                      env={"SOURCE_DATE_EPOCH": "1760000000"})
    assert result.returncode == 0, result.stderr
    committed = json.loads((REPO / "reports" / "default.json").read_text())
    stored_python = committed["meta"]["tool"]["python_version"]
    generated = sorted(p.relative_to(copy) for p in (copy / "reports").rglob("*") if p.is_file())
    expected = sorted(p.relative_to(REPO) for p in (REPO / "reports").rglob("*") if p.is_file())
    assert generated == expected
    for rel in expected:
        new = (copy / rel).read_text().replace(platform.python_version(), stored_python)
        assert new == (REPO / rel).read_text(), f"{rel} is stale: run bash reports/regenerate.sh"

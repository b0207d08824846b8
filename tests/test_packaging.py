"""Packaging: the wheel carries the templates, and an installed copy works from any folder."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from helpers import REPO


def test_package_list_matches_source_tree():
    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "reporter").rglob("__init__.py")}
    assert declared - {"reporter.templates"} == found


def test_non_editable_install_finds_templates(tmp_path):
    wheel_dir = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheel_dir), str(REPO)], check=True, capture_output=True, cwd=tmp_path)
    wheel = next(wheel_dir.glob("genesis_report-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (REPO / "templates").rglob("*"):
        if template.is_file():
            assert f"reporter/templates/{template.relative_to(REPO / 'templates').as_posix()}" in names
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = REPO / "configs" / "default.yaml"
    result = subprocess.run([venv / "bin" / "genesis-report", "--config", str(config), "-o", "r.html", "-q"],
                            cwd=elsewhere, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "98,648" in (elsewhere / "r.html").read_text()
    where = subprocess.run([python, "-c", "import reporter; print(reporter.__file__)"], cwd=elsewhere,
                           capture_output=True, text=True).stdout
    assert Path(where.strip()).is_relative_to(venv)

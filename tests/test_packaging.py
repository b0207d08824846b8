"""Packaging: the wheel carries the templates, and an installed copy works from any folder."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from helpers import REPO


def test_package_list_matches_source_tree():
    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "reporter").rglob("__init__.py")}
    assert declared - {"reporter.templates"} == found


@pytest.mark.slow
def test_non_editable_install_finds_templates(tmp_path):
    """A wheel built from the sources, installed into a plain folder (`pip install --target`), run from an
    unrelated folder with only that folder and this interpreter's own site-packages on the path: the
    installed copy, not the source tree, is imported and finds its templates. No nested venv, so this holds
    in a venv and with a system interpreter alike."""
    for module in ("pip", "setuptools"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed in this interpreter: the wheel cannot be built and installed")
    src = tmp_path / "src"  # a copy: building in the checkout would leave build/ there (and reuse stale files)
    for name in ("reporter", "templates"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    wheel_dir = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheel_dir), str(src)],
                   check=True, capture_output=True, cwd=tmp_path)
    wheel = next(wheel_dir.glob("genesis_report-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (REPO / "templates").rglob("*"):
        if template.is_file():
            assert f"reporter/templates/{template.relative_to(REPO / 'templates').as_posix()}" in names
    target = tmp_path / "installed"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)], check=True,
                   capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    kept = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != REPO]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), *kept])}
    probe = "import reporter.render.environment as e; print(e.__file__); print(e.templates_dir())"
    module, templates = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True,
                                       text=True, check=True).stdout.split("\n")[:2]
    assert Path(module).is_relative_to(target) and Path(templates) == target / "reporter" / "templates"
    config = REPO / "configs" / "default.yaml"
    result = subprocess.run([target / "bin" / "genesis-report", "--config", str(config), "-o", "r.html", "-q",
                             "--no-memory"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    html = (elsewhere / "r.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "98,648" in html and "Parameters by module type" in html

"""The example GitHub Actions workflow: valid YAML, only documented CLI, and its commands really work."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import REPO
from task_fixtures import make_task

from reporter.cli import SUBCOMMANDS, build_parser, build_subcommand_parser

WORKFLOW = REPO / "docs" / "github-actions-genesis-report.yml"
DOCS = (REPO / "docs" / "tasks-compare-ci.md").read_text()


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _invocations(script: str) -> list[list[str]]:
    """Every `genesis-report ...` command in a run script, as argument lists (up to ||, && or ;)."""
    found = []
    for line in script.splitlines():
        for match in re.finditer(r"genesis-report\s+(.*?)(?:\|\||&&|;|$)", line):
            found.append(shlex.split(match[1]))
    return found


def test_workflow_is_valid_github_actions_yaml():
    flow = _workflow()
    triggers = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers)
    steps = flow["jobs"]["report"]["steps"]
    assert flow["jobs"]["report"]["runs-on"] == "ubuntu-latest"
    for step in steps:
        assert ("uses" in step) != ("run" in step), step
        if "uses" in step:
            assert re.fullmatch(r"actions/[a-z-]+@v\d+", step["uses"]), step["uses"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert "tasks/*/reports/" in upload["with"]["path"]


def test_workflow_uses_only_the_documented_cli():
    commands = [cmd for step in _workflow()["jobs"]["report"]["steps"] for cmd in _invocations(step.get("run", ""))]
    assert len(commands) == 2
    for args in commands:
        parser = build_subcommand_parser(args[0]) if args[0] in SUBCOMMANDS else build_parser()
        parser.parse_args(args[1:] if args[0] in SUBCOMMANDS else args)  # SystemExit on an unknown flag
        for flag in (a for a in args if a.startswith("--")):
            assert f"`{flag}" in DOCS or flag in ("--quiet", "--batch-size", "--target"), flag


@pytest.mark.slow
def test_workflow_steps_run(tmp_path):
    """Run the workflow's shell steps with genesis-report = this checkout, on a synthetic tasks/ tree."""
    make_task(tmp_path / "tasks", "251012-1", checkpoints=False)
    summary = tmp_path / "summary.md"
    steps = [s for s in _workflow()["jobs"]["report"]["steps"] if "genesis-report" in s.get("run", "")
             and "pip install" not in s["run"]]
    shim = f'genesis-report() {{ "{sys.executable}" -m reporter "$@"; }}\n'
    env = {**os.environ, "PYTHONPATH": str(REPO), "GITHUB_STEP_SUMMARY": str(summary)}
    results = [subprocess.run(["bash", "-c", shim + s["run"]], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300) for s in steps]
    gates_step, index_step = results
    assert gates_step.returncode == 0, gates_step.stderr
    assert (tmp_path / "tasks" / "251012-1" / "reports" / "report.html").is_file()
    assert "### genesis-report: icecube\\_diffusion\\_default" in summary.read_text()  # Markdown-escaped
    assert index_step.returncode == 0, index_step.stderr
    index_html = (tmp_path / "tasks" / "index.html").read_text()
    assert 'href="251012-1/reports/report.html"' in index_html
    assert "1 reused" in index_html  # the index step's options match the report step's: nothing redone
    assert Path(tmp_path / "tasks" / "index.md").is_file()

"""Every reference in the repository's documents resolves inside the repository: Markdown links and
images (files and `#anchors`), and `../` paths written in prose or docstrings. A clone must be readable
without files that live elsewhere."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from helpers import REPO

_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_PARENT_PATH = re.compile(r"(?<![\w/.])((?:\.\./)+[\w][\w./-]*)")
#: Generated reports: golden test outputs (their chart folders are not stored) and config values they quote.
_GENERATED = ("tests/golden/",)


def _tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *patterns], cwd=REPO, capture_output=True, text=True, check=True)
    return [REPO / line for line in out.stdout.splitlines() if not line.startswith(_GENERATED)]


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    anchors = set()
    for heading in re.findall(r"(?m)^#{1,6}\s+(.+?)\s*$", markdown):
        text = re.sub(r"[`*_]", "", heading).lower()
        anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return anchors


def _link_problems(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"(?s)```.*?```", "", text)  # code blocks show commands, not links
    problems = []
    for target in _LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:, data:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"{path.relative_to(REPO)}: {target} does not exist")
        elif REPO.resolve() not in [linked, *linked.parents]:
            problems.append(f"{path.relative_to(REPO)}: {target} is outside the repository")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked.read_text(encoding="utf-8")):
            problems.append(f"{path.relative_to(REPO)}: {target}: no heading with that anchor")
    return problems


def test_every_markdown_link_resolves_in_the_repository():
    problems = [p for path in _tracked("*.md") for p in _link_problems(path)]
    assert not problems, "\n".join(problems)


def _path_problems(path: Path) -> list[str]:
    problems = []
    for target in _PARENT_PATH.findall(path.read_text(encoding="utf-8")):
        resolved = (path.parent / target.rstrip(".")).resolve()
        if not resolved.exists() or REPO.resolve() not in resolved.parents:
            problems.append(f"{path.relative_to(REPO)}: {target} is not a path in the repository")
    return problems


def test_parent_paths_in_prose_and_docstrings_resolve():
    """`see ../notes` in a README or a docstring must name a file of this repository."""
    # reports/ holds generated reports; this file's own examples of broken paths are its probes
    files = [p for p in _tracked("*.md", "*.py")
             if not p.is_relative_to(REPO / "reports") and p.resolve() != Path(__file__).resolve()]
    problems = [p for path in files for p in _path_problems(path)]
    assert not problems, "\n".join(problems)


def test_the_checks_find_broken_references(tmp_path):
    doc = REPO / "README.md"
    fake = tmp_path / "x.md"
    fake.write_text("[a](missing.md) [b](#nowhere) [c](https://example.org) see ../shared/notes\n# Here\n[d](#here)")
    moved = REPO / "docs" / "_links_probe.md"
    try:
        moved.write_text(fake.read_text())
        assert [p.split(": ", 1)[1] for p in _link_problems(moved)] == [
            "missing.md does not exist", "#nowhere: no heading with that anchor"]
        assert _path_problems(moved) == ["docs/_links_probe.md: ../shared/notes is not a path in the repository"]
    finally:
        moved.unlink()
    assert "#memory-target" in doc.read_text() and "memory-target" in _anchors(doc.read_text())

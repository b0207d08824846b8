"""What a task's written report was made from, so `index` can reuse it while nothing changed.

The fingerprint covers every input of the report: config.yaml's bytes, each checkpoint's and training
log's identity (device, inode, size, and nanosecond mtime and ctime: an edit that puts the mtime back
still changes the ctime, which no user call can restore), the report options, and genesis-report's own
code, schema and torch version (reporter.analysis_cache). It is stored in the task section of
`reports/report.json`; a report whose stored fingerprint differs, or whose files are missing, is made
again. Computing it reads config.yaml and stats files only: no checkpoint is opened, torch is not imported.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from reporter.files import IDENTITY_KEYS, identity
from reporter.tasks.folder import TaskFolder


def _identity(path: Path) -> list[int] | None:
    """The file's identity as a list (device, inode, size, mtime and ctime in ns), as fingerprints store it."""
    found = identity(path)
    return None if found is None else [found[key] for key in IDENTITY_KEYS]


def task_fingerprint(folder: TaskFolder, options: dict[str, Any]) -> str:
    """sha256 over everything a task report depends on (see the module docstring)."""
    from reporter.analysis_cache import environment_fingerprint
    from reporter.memory.target_choice import default_setting

    config = None
    if folder.config is not None:
        try:
            config = hashlib.sha256(folder.config.read_bytes()).hexdigest()
        except OSError:
            config = "unreadable"
    inputs = {
        "config": config,
        "checkpoints": {c.path.name: _identity(c.path) for c in folder.checkpoints},
        "logs": {log.name: _identity(log) for log in folder.training_logs},
        "options": options,
        "default_target": repr(default_setting()),  # GENESIS_REPORT_TARGET / genesis-report.toml
        "environment": environment_fingerprint(),
    }
    blob = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()

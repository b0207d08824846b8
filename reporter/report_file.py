"""Read an archived JSON report back into the report model (compare inputs, reused task reports).

Import-light: no torch and no analysis, so `compare` of JSON reports and `index` of unchanged tasks stay
fast and work without the heavy dependencies.
"""

from __future__ import annotations

from pathlib import Path

from reporter.errors import InputError
from reporter.report.model import SCHEMA_VERSION, Report


def load_report_json(path: str | Path) -> Report:
    """An earlier JSON report (plain, or the `report` inside a task-folder report.json)."""
    import json

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a readable JSON report: {exc}", path) from None
    if isinstance(data, dict) and "report" in data and "task" in data:  # task reports before schema 1.0
        data = data["report"]
    written = data.get("meta", {}).get("schema_version") if isinstance(data, dict) else None
    if isinstance(written, str) and written.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise InputError(f"a JSON report of schema {written}; this genesis-report reads schema {SCHEMA_VERSION} "
                         "(make the report again from its config or checkpoint)", path)
    try:
        return Report.model_validate(data)
    except Exception as exc:  # pydantic.ValidationError: say what is wrong in one line
        first = str(exc).splitlines()[0:2]
        raise InputError(f"not a genesis-report JSON report ({' '.join(first)})", path) from None

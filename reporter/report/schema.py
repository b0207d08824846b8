"""The report's JSON Schema (`genesis-report --schema`).

Reports serialise non-finite floats (a best loss of inf, NaN statistics) as the strings "Infinity",
"-Infinity" and "NaN" so that the file stays valid JSON; the schema says so for every number field.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

NON_FINITE = ["Infinity", "-Infinity", "NaN"]


class _ReportSchema(GenerateJsonSchema):
    def float_schema(self, schema: core_schema.FloatSchema) -> dict[str, Any]:
        return {"anyOf": [super().float_schema(schema), {"enum": NON_FINITE}]}


def report_json_schema() -> dict[str, Any]:
    from reporter.report.model import Report

    schema = Report.model_json_schema(schema_generator=_ReportSchema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema

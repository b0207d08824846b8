"""The resolved config as a report section: every field with where its value came from."""

from __future__ import annotations

from typing import Any

from reporter.config.loader import LoadedConfig
from reporter.config.schema import SECTION_NAMES, TOP_LEVEL, extension_fields
from reporter.report.model import ConfigField, ConfigSection


def analyse_config(config: LoadedConfig, source: str, given_source: str = "file") -> ConfigSection:
    extensions = set(extension_fields())
    top = [ConfigField(key=k, value=_plain(config.top[k]), source=given_source if k in config.given else "default")
           for k in TOP_LEVEL]
    sections: dict[str, list[ConfigField]] = {}
    for section in SECTION_NAMES:
        rows = []
        for key, value in config.sections[section].items():
            if f"{section}.{key}" in config.given:
                origin = given_source
            elif section == "model" and key in extensions:
                origin = "extension"
            else:
                origin = "default"
            rows.append(ConfigField(key=key, value=_plain(value), source=origin))
        sections[section] = rows
    return ConfigSection(source=source, experiment_name=config.top.get("experiment_name"),
                         description=config.top.get("description"), top_level=top, sections=sections)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value

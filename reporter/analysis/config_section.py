"""The resolved config as a report section: every field with where its value came from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reporter.config.loader import LoadedConfig
from reporter.config.schema import SECTION_NAMES, TOP_LEVEL, extension_fields
from reporter.report.model import ConfigField, ConfigSection, ConfigSource


def analyse_config(config: LoadedConfig, source: str, given_source: ConfigSource = "file",
                   replaced: Mapping[str, tuple[ConfigSource, Any]] | None = None,
                   model_values: Mapping[str, Any] | None = None) -> ConfigSection:
    """Every field with its value and origin.

    ``replaced`` maps `model:` keys whose built value differs from the input to (source, input value):
    "weights" (a checkpoint's weights hold another value), "genesis" (GENESIS's code ignores the input),
    "option" (a command-line option). ``model_values`` are the values built.
    """
    extensions = set(extension_fields())
    replaced = replaced or {}
    top = [ConfigField(key=k, value=_plain(config.top[k]), source=given_source if k in config.given else "default")
           for k in TOP_LEVEL]
    sections: dict[str, list[ConfigField]] = {}
    origin: ConfigSource
    for section in SECTION_NAMES:
        rows = []
        for key, value in config.sections[section].items():
            if section == "model" and key in replaced:
                origin, stated = replaced[key]
                used = (model_values or {}).get(key, value)
                rows.append(ConfigField(key=key, value=_plain(used), source=origin, input_value=_plain(stated)))
                continue
            if f"{section}.{key}" in config.given:
                origin = given_source
            elif section == "model" and key in extensions:
                value = (model_values or {}).get(key) if value is None else value
                if value is None:
                    continue  # a genesis-report key the input did not use and the model does not need
                origin = "extension"  # e.g. the GENESIS version assumed for a config that does not say
            else:
                origin = "default"
            rows.append(ConfigField(key=key, value=_plain(value), source=origin))
        if section == "model":
            for key in replaced.keys() - config.sections[section].keys():
                origin, stated = replaced[key]
                rows.append(ConfigField(key=key, value=_plain((model_values or {}).get(key)), source=origin,
                                        input_value=_plain(stated)))
        sections[section] = rows
    set_fields = {name: sum(1 for f in rows if f.source != "default") for name, rows in sections.items()}
    return ConfigSection(source=source, experiment_name=config.top.get("experiment_name"),
                         description=config.top.get("description"), top_level=top, sections=sections,
                         set_fields=set_fields)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value

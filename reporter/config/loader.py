"""Load a GENESIS YAML config the way GENESIS would, but without its side effects.

GENESIS's `load_config_from_file` builds dataclasses (unknown keys raise `TypeError`, missing keys take
the dataclass defaults) and its `__post_init__` creates output folders and imports torch. We parse the
YAML ourselves, apply the same defaults, coerce values GENESIS would coerce, and turn everything GENESIS
would reject into findings, so that a report still describes the model.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reporter.config import schema
from reporter.config.schema import FieldSpec
from reporter.errors import InputError, no_such_file
from reporter.files import read_regular_file
from reporter.limits import CONFIG_BYTES, CONFIG_KEYS, PLAIN_NODES
from reporter.report.base import Finding, Severity
from reporter.safe_repr import short_repr

_TRUE_STRINGS = {"true", "yes", "on", "1"}
_FALSE_STRINGS = {"false", "no", "off", "0"}


@dataclass
class LoadedConfig:
    """A config with GENESIS defaults applied, plus what the user wrote and what is wrong with it."""

    path: str | None
    sections: dict[str, dict[str, Any]]  # "model", "diffusion", "data", "training" → resolved values
    top: dict[str, Any]  # experiment_name, description, device, seed, ...
    given: set[str] = field(default_factory=set)  # "section.key" paths the file set explicitly
    findings: list[Finding] = field(default_factory=list)

    model = property(lambda self: _section(self, "model"))
    data = property(lambda self: _section(self, "data"))
    training = property(lambda self: _section(self, "training"))
    diffusion = property(lambda self: _section(self, "diffusion"))


def _section(config: LoadedConfig, name: str) -> dict[str, Any]:
    """One resolved section (`config.model`, `config.data`, ...)."""
    return config.sections[name]


def load_config(path: str | Path) -> LoadedConfig:
    """Read and resolve a GENESIS YAML file; raise InputError (one line) when it cannot be used."""
    p = Path(path)
    if not p.exists():
        raise no_such_file(p)
    if p.is_dir():
        raise InputError("is a directory, expected a YAML config file", p)
    text = _read_text(p)
    if not text.strip():
        raise InputError("empty file, expected a YAML config", p)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {_yaml_problem(exc)}", p) from None
    except RecursionError:
        raise InputError("invalid YAML: nested too deeply to read (bound: Python's recursion limit)", p) from None
    except (ValueError, OverflowError, TypeError) as exc:  # e.g. an integer of more than 4,300 digits
        raise InputError(f"invalid YAML value: {str(exc).splitlines()[0][:120]}", p) from None
    if not isinstance(raw, Mapping):
        raise InputError(f"expected a YAML mapping at the top level, got {type(raw).__name__}", p)
    return load_config_mapping(raw, path=str(path))


def _read_text(p: Path) -> str:
    """The file's text: a regular file of at most ``limits.CONFIG_BYTES`` (a FIFO would block forever)."""
    data = read_regular_file(p, CONFIG_BYTES, cannot_open="cannot read: {reason}",
                             not_regular="not a regular file, expected a YAML config")
    if len(data) > CONFIG_BYTES:
        raise InputError(f"refused, beyond a bound: a config larger than {CONFIG_BYTES:,} bytes", p)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("not a text file (not UTF-8), expected a YAML config", p) from None


def _check_size(raw: Mapping[str, Any], path: str | None) -> None:
    """Refuse configs whose values expand to more than ``limits.PLAIN_NODES`` values (YAML aliases
    can make a list of 2^40 leaves from a few lines) or whose sections hold too many keys."""
    budget = PLAIN_NODES
    stack: list[Any] = [raw]
    while stack:
        item = stack.pop()
        budget -= 1
        if budget < 0:
            raise InputError(f"refused, beyond a bound: the config expands to more than {PLAIN_NODES:,} values "
                             "(YAML aliases)", path)
        if isinstance(item, Mapping):
            if len(item) > CONFIG_KEYS:
                raise InputError(f"refused, beyond a bound: a mapping of {len(item):,} keys (bound: "
                                 f"{CONFIG_KEYS:,})", path)
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def load_config_mapping(raw: Mapping[str, Any], path: str | None = None) -> LoadedConfig:
    """Resolve an already-parsed config mapping (a YAML file, or the config stored in a checkpoint)."""
    findings: list[Finding] = []
    given: set[str] = set()
    top: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}

    _check_size(raw, path)
    for key in raw:
        if not isinstance(key, str):
            raise InputError(f"top-level key {short_repr(key, 40)} is not a string", path)

    for key in raw:
        if key in schema.SECTION_NAMES or key in schema.TOP_LEVEL:
            continue
        if key in schema.DROPPED_TOP_LEVEL:
            findings.append(_finding(Severity.info, "config.dropped-key", f"top-level `{key}:` block is "
                                     "removed by GENESIS's loader before building the config", key))
            continue
        findings.append(_unknown_key_finding(None, key, raw))

    for name, spec in schema.TOP_LEVEL.items():
        if name in raw:
            given.add(name)
            top[name] = _coerce(raw[name], spec, name, path, findings)
        else:
            top[name] = spec.default

    for section in schema.SECTION_NAMES:
        fields = schema.section_fields(section)
        values = raw.get(section)
        if values is None:
            values = {}
            findings.append(_finding(Severity.info, "config.missing-section", f"no `{section}:` section; "
                                     "every field takes GENESIS's default", section))
        if not isinstance(values, Mapping):
            raise InputError(f"`{section}:` must be a mapping, got {type(values).__name__}", path)
        resolved: dict[str, Any] = {}
        for key, value in values.items():
            key_path = f"{section}.{key}"
            if not isinstance(key, str):
                raise InputError(f"key {short_repr(key, 40)} in `{section}:` is not a string", path)
            if key not in fields:
                findings.append(_unknown_key_finding(section, key, raw))
                continue
            given.add(key_path)
            resolved[key] = _coerce(value, fields[key], key_path, path, findings)
        for key, spec in fields.items():
            resolved.setdefault(key, spec.default)
        sections[section] = resolved

    _check_model_values(sections["model"], path)
    findings.extend(_normalization_findings(sections, given))
    return LoadedConfig(path=path, sections=sections, top=top, given=given, findings=findings)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return problem


def _finding(severity: Severity, code: str, message: str, where: str | None) -> Finding:
    return Finding(severity=severity, code=code, message=message, where=where)


def _unknown_key_finding(section: str | None, key: str, raw: Mapping[str, Any]) -> Finding:
    where = f"{section}.{key}" if section else key
    history = schema.HISTORICAL_KEYS.get((section or "", key))
    if history:
        return _finding(Severity.warning, "config.historical-key", f"`{where}` is {history}", where)
    home = [s for s in schema.SECTION_NAMES if s != section and key in schema.section_fields(s)]
    if section and key in schema.TOP_LEVEL:
        home.append("top level")
    message = (f"unknown key `{where}`: GENESIS's loader raises TypeError on it, so GENESIS cannot load this "
               "YAML; the report ignores the key")
    if home:
        message += f"; `{key}` is a field of {', '.join(home)}"
        current = raw.get(home[0]) if home[0] in schema.SECTION_NAMES else None
        if isinstance(current, Mapping) and key not in current:
            message += ", where GENESIS's default applies"
    else:
        known = list(schema.section_fields(section)) if section else [*schema.TOP_LEVEL, *schema.SECTION_NAMES]
        close = difflib.get_close_matches(key, known, n=1)
        if close:
            values = raw.get(section) if section else raw
            stated = isinstance(values, Mapping) and close[0] in values
            message += f" (did you mean `{close[0]}`?"
            if section and not stated:
                default = schema.section_fields(section)[close[0]].default
                message += f" The report uses GENESIS's default `{section}.{close[0]}` = {default!r} instead."
            message += ")"
    return _finding(Severity.error, "config.unknown-key", message, where)


def _coerce(value: Any, spec: FieldSpec, key_path: str, path: str | None, findings: list[Finding]) -> Any:
    """Return the value GENESIS would end up with, or raise InputError for a value it cannot use."""
    if value is None:
        if spec.optional:
            return None
        raise InputError(f"`{key_path}` is null but must be {_describe(spec.kind)}", path)
    kind = spec.kind
    if kind == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            findings.append(_finding(Severity.info, "config.coerced", f"`{key_path}`: number {_show(value)} "
                                     "used as the string " + _show(str(value)), key_path))
            return str(value)
        raise InputError(f"`{key_path}` must be a string, got {_show(value)}", path)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE_STRINGS | _FALSE_STRINGS:
            result = value.strip().lower() in _TRUE_STRINGS
            findings.append(_finding(Severity.info, "config.coerced",
                                     f"`{key_path}`: string {_show(value)} read as {result}", key_path))
            return result
        raise InputError(f"`{key_path}` must be true or false, got {_show(value)}", path)
    if kind == "int":
        return _to_int(value, key_path, path, findings)
    if kind == "float":
        return _to_float(value, key_path, path, findings)
    if kind in ("floats", "ints"):
        if not isinstance(value, (list, tuple)):
            raise InputError(f"`{key_path}` must be a list of numbers, got {_show(value)}", path)
        convert = _to_int if kind == "ints" else _to_float
        items = tuple(convert(v, f"{key_path}[{i}]", path, findings) for i, v in enumerate(value))
        expected = len(spec.default) if kind == "floats" else None
        if expected is not None and len(items) != expected:
            raise InputError(f"`{key_path}` must have {expected} values, got {len(items)}", path)
        if kind == "ints" and not items:
            raise InputError(f"`{key_path}` must not be empty", path)
        return items
    return value


def _wrong_type(value: Any, expected: str, key_path: str, path: str | None) -> InputError:
    """The one wording for a value of the wrong type: "`model.depth` must be an integer, got 'x'"."""
    return InputError(f"`{key_path}` must be {expected}, got {_show(value)}", path)


def _to_int(value: Any, key_path: str, path: str | None, findings: list[Finding]) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise _wrong_type(value, "an integer", key_path, path)
    try:
        result = int(value.strip())
    except ValueError:
        raise _wrong_type(value, "an integer", key_path, path) from None
    findings.append(_finding(Severity.info, "config.coerced",
                             f"`{key_path}`: string {_show(value)} read as the integer {result}", key_path))
    return result


def _to_float(value: Any, key_path: str, path: str | None, findings: list[Finding]) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise _wrong_type(value, "a number", key_path, path) from None
        findings.append(_finding(Severity.info, "config.yaml11-float",
                                 f"`{key_path}`: {_show(value)} is a string under YAML 1.1 (no decimal point); "
                                 f"read as the number {result!r}", key_path))
    else:
        raise _wrong_type(value, "a number", key_path, path)
    if not math.isfinite(result):
        raise InputError(f"`{key_path}` must be finite, got {_show(value)}", path)
    return result


def _describe(kind: str) -> str:
    return {"str": "a string", "bool": "true or false", "int": "an integer", "float": "a number",
            "floats": "a list of numbers", "ints": "a list of integers"}.get(kind, "set")


def _show(value: Any) -> str:
    return short_repr(value, 40)  # built lazily: a huge or shared-reference value is never repr'd whole


_POSITIVE_MODEL_INTS = ("seq_len", "hidden", "depth", "heads", "label_dim", "t_embed_dim", "classifier_size",
                        "factor", "n_cls_tokens", "kernel_size")


def _check_model_values(model: dict[str, Any], path: str | None) -> None:
    """Values no model can be built with are input errors, not findings."""
    for key in _POSITIVE_MODEL_INTS:
        if key in model and model[key] < 1:
            raise InputError(f"`model.{key}` must be at least 1, got {model[key]}", path)
    if not 0.0 <= model["dropout"] < 1.0:
        raise InputError(f"`model.dropout` must be in [0, 1), got {model['dropout']}", path)
    if model["mlp_ratio"] <= 0:
        raise InputError(f"`model.mlp_ratio` must be positive, got {model['mlp_ratio']}", path)
    if any(k < 1 for k in model["kernel_sizes"]):
        raise InputError(f"`model.kernel_sizes` must be positive, got {list(model['kernel_sizes'])}", path)


def _normalization_findings(sections: dict[str, dict[str, Any]], given: set[str]) -> list[Finding]:
    """Say when the `model:` and `data:` normalization copies differ (the trainer prefers `data:`)."""
    keys = ("affine_offsets", "affine_scales", "label_offsets", "label_scales", "time_transform")
    if not any(f"data.{k}" in given for k in keys):
        return []
    differing = [k for k in keys if tuple_or(sections["model"][k]) != tuple_or(sections["data"][k])]
    if not differing:
        return []
    return [_finding(Severity.warning, "config.normalization-differs",
                     "`model:` and `data:` normalization differ in " + ", ".join(differing)
                     + "; GENESIS's v2 trainer uses the `data:` values", "data")]


def tuple_or(value: Any) -> Any:
    """Lists and tuples compare equal regardless of container type."""
    return tuple(value) if isinstance(value, (list, tuple)) else value

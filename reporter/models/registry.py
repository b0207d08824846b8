"""Architecture name → ArchitectureSpec: built-ins, entry-point plug-ins and `--model-class` classes."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reporter.errors import InputError, NoExampleInputs, UnknownArchitectureError
from reporter.models.builtin import BUILTIN_SPECS
from reporter.models.spec import ArchitectureSpec, InputSemantics, NormalizationInfo

#: Entry-point group through which other packages register architectures.
ENTRY_POINT_GROUP = "genesis_report.architectures"

__all__ = [
    "ENTRY_POINT_GROUP",
    "ArchitectureSpec",
    "InputSemantics",
    "NormalizationInfo",
    "build_model",
    "get_architecture",
    "list_architectures",
    "spec_from_model_class",
]


def _entry_point_specs() -> dict[str, ArchitectureSpec]:
    """Specs registered by installed packages; a broken plug-in is an InputError naming it."""
    found: dict[str, ArchitectureSpec] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
            spec = loaded if isinstance(loaded, ArchitectureSpec) else loaded()
        except Exception as exc:  # a plug-in's own failure, reported as bad input
            raise InputError(f"entry point {entry.name!r} ({entry.value}) failed to load: {exc}") from exc
        if not isinstance(spec, ArchitectureSpec):
            raise InputError(
                f"entry point {entry.name!r} ({entry.value}) must give an ArchitectureSpec or a zero-arg "
                f"callable returning one, got {type(spec).__name__}"
            )
        found[spec.name] = spec
    return found


def _all_specs() -> dict[str, ArchitectureSpec]:
    specs = {spec.name: spec for spec in BUILTIN_SPECS}
    for name, spec in _entry_point_specs().items():
        specs.setdefault(name, spec)  # built-ins win: a plug-in cannot silently replace "dit"
    return specs


def list_architectures() -> list[str]:
    """Names accepted in `model.architecture` (built-ins first, then plug-ins)."""
    return list(_all_specs())


def get_architecture(name: str) -> ArchitectureSpec:
    """The spec for `name`, or UnknownArchitectureError listing the known names."""
    for spec in BUILTIN_SPECS:  # built-ins win, so their names need no scan of the installed packages
        if spec.name == name:
            return spec
    specs = _all_specs()
    if name not in specs:
        raise UnknownArchitectureError(
            f"unknown model.architecture {name!r}; known architectures: {', '.join(specs)} "
            "(or pass --model-class package.module:Class)"
        )
    return specs[name]


def build_model(model_cfg: Mapping[str, Any]) -> nn.Module:
    """Build the model a `model:` section describes (architecture defaults to "dit", as in GENESIS)."""
    name = (model_cfg or {}).get("architecture", "dit")
    return get_architecture(str(name)).build(model_cfg or {})


def _path_hint(exc: Exception) -> str:
    """Why a package in the current folder is not found: the console script does not put the current
    folder on the import path (``python -m`` does)."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return ""
    top = exc.name.split(".")[0]
    here = Path.cwd()
    if (here / top).is_dir() or (here / f"{top}.py").is_file():  # here, yet not importable
        return (f" ({top} is in the current folder, which is not on the import path; run with PYTHONPATH=. "
                "or install the package)")
    return ""


def _import_class(target: str) -> type[Any]:
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise InputError(f"--model-class must look like package.module:Class, got {target!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise InputError(f"--model-class: cannot import module {module_name!r}: {exc}{_path_hint(exc)}") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InputError(f"--model-class: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise InputError(f"--model-class: {target!r} is not a torch.nn.Module subclass")
    return obj


def spec_from_model_class(target: str) -> ArchitectureSpec:
    """Spec for a user class `package.module:Class` (importing user code is the user's explicit choice).

    The class is built with the `model:` keys its `__init__` accepts (all keys except `architecture` if it
    takes **kwargs). Example inputs come from an optional `example_inputs(batch_size)` static/class method.
    """
    cls = _import_class(target)
    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = {
        name
        for name, p in params.items()
        if name != "self"
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }

    def build(model_cfg: Mapping[str, Any]) -> nn.Module:
        kwargs = {
            k: v for k, v in (model_cfg or {}).items() if (k in accepted or takes_any) and k != "architecture"
        }
        try:
            return cls(**kwargs)
        except Exception as exc:
            raise InputError(
                f"--model-class {target}: constructing {cls.__name__}(**model) failed: {exc}"
            ) from exc

    def example_inputs(model_cfg: Mapping[str, Any], batch_size: int) -> dict[str, torch.Tensor]:
        factory = getattr(cls, "example_inputs", None)
        if factory is None:
            raise NoExampleInputs(
                f"{cls.__name__} has no example_inputs; add "
                "`@staticmethod def example_inputs(batch_size) -> dict[str, torch.Tensor]` returning the "
                "forward arguments by name, to enable data-flow and memory analyses"
            )
        inputs = factory(batch_size)
        if not isinstance(inputs, dict):
            raise InputError(f"--model-class {target}: example_inputs must return a dict of tensors")
        return inputs

    return ArchitectureSpec(
        name=str(getattr(cls, "architecture_name", cls.__name__)),
        class_name=cls.__name__,
        build=build,
        example_inputs=example_inputs,
        inputs={},
        output=InputSemantics(shape="?", description=f"output of {cls.__name__}.forward"),
        notes=lambda cfg: [f"third-party model class {target}; not a GENESIS architecture"],
        normalization=lambda cfg: NormalizationInfo("unknown", None, (), "third-party model class"),
    )

"""The GENESIS model zoo: exact re-implementations (keys, shapes, counts) and their registry.

Names are imported lazily (PEP 562) so that `reporter.models.defaults` can be read without importing
torch: reading a config must stay cheap and free of side effects.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MODEL_DEFAULTS": "reporter.models.defaults",
    "MODEL_EXTENSION_KEYS": "reporter.models.defaults",
    "resolve_model_config": "reporter.models.defaults",
    "InferredModel": "reporter.models.inference",
    "infer_model_config": "reporter.models.inference",
    "ENTRY_POINT_GROUP": "reporter.models.registry",
    "ArchitectureSpec": "reporter.models.registry",
    "InputSemantics": "reporter.models.registry",
    "NormalizationInfo": "reporter.models.registry",
    "build_model": "reporter.models.registry",
    "get_architecture": "reporter.models.registry",
    "list_architectures": "reporter.models.registry",
    "spec_from_model_class": "reporter.models.registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'reporter.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value

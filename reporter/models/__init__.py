"""The GENESIS model zoo: exact re-implementations (keys, shapes, counts) and their registry."""

from reporter.models.defaults import MODEL_DEFAULTS, MODEL_EXTENSION_KEYS, resolve_model_config
from reporter.models.inference import InferredModel, infer_model_config
from reporter.models.registry import (
    ENTRY_POINT_GROUP,
    ArchitectureSpec,
    InputSemantics,
    NormalizationInfo,
    build_model,
    get_architecture,
    list_architectures,
    spec_from_model_class,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "MODEL_DEFAULTS",
    "MODEL_EXTENSION_KEYS",
    "ArchitectureSpec",
    "InputSemantics",
    "NormalizationInfo",
    "InferredModel",
    "build_model",
    "get_architecture",
    "infer_model_config",
    "list_architectures",
    "resolve_model_config",
    "spec_from_model_class",
]

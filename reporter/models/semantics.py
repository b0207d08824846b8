"""Semantic labels and example-input factories for the GENESIS forward signatures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from reporter.models.defaults import require_int, resolve_model_config
from reporter.models.spec import InputSemantics

#: Timesteps drawn for example inputs when the model section does not say (DiffusionConfig default).
DEFAULT_TIMESTEPS = 1000

X_SIG = InputSemantics("(B, 2, L)", "PMT signal (noisy during training)", ("charge", "time"))
GEOM = InputSemantics("(B, 3, L)", "PMT positions", ("x", "y", "z"))
TIMESTEP = InputSemantics("(B,)", "diffusion timestep in [0, timesteps)", (), "int64")
LABEL = InputSemantics("(B, 6)", "event label", ("Energy", "Zenith", "Azimuth", "X", "Y", "Z"))
EPS_OUTPUT = InputSemantics("(B, 2, L)", "ε-prediction", ("charge", "time"))

#: Forward argument names of the GENESIS classes, in forward order.
STANDARD_FORWARD = ("x_sig_t", "geom", "t", "label")  # PMTDit, PMTCNN, PMTResNet, PMTHybrid, PMTMLP
CDIT_FORWARD = ("x_sig", "t", "label", "geom")  # PMTCDit


def standard_inputs() -> dict[str, InputSemantics]:
    return {"x_sig_t": X_SIG, "geom": GEOM, "t": TIMESTEP, "label": LABEL}


def cdit_inputs() -> dict[str, InputSemantics]:
    return {"x_sig": X_SIG, "t": TIMESTEP, "label": LABEL, "geom": GEOM}


def _tensors(model_cfg: Mapping[str, Any], batch_size: int) -> dict[str, torch.Tensor]:
    cfg = resolve_model_config(model_cfg)
    length = require_int(cfg, "seq_len")
    label_dim = require_int(cfg, "label_dim")
    timesteps = int(cfg.get("timesteps", DEFAULT_TIMESTEPS))
    if torch.get_default_device().type == "meta":
        # Meta tensors have no values, and torch.randn / torch.randint there run Python checks that import
        # sympy (0.4 s): a report's own process builds its inputs' shapes without them.
        return {"signal": torch.empty(batch_size, 2, length), "geom": torch.empty(batch_size, 3, length),
                "t": torch.empty(batch_size, dtype=torch.int64), "label": torch.empty(batch_size, label_dim)}
    return {
        "signal": torch.randn(batch_size, 2, length),
        "geom": torch.randn(batch_size, 3, length),
        "t": torch.randint(0, timesteps, (batch_size,), dtype=torch.int64),
        "label": torch.randn(batch_size, label_dim),
    }


def standard_example_inputs(model_cfg: Mapping[str, Any], batch_size: int) -> dict[str, torch.Tensor]:
    """Inputs for forward(x_sig_t, geom, t, label), in that order."""
    made = _tensors(model_cfg, batch_size)
    return {"x_sig_t": made["signal"], "geom": made["geom"], "t": made["t"], "label": made["label"]}


def cdit_example_inputs(model_cfg: Mapping[str, Any], batch_size: int) -> dict[str, torch.Tensor]:
    """Inputs for PMTCDit.forward(x_sig, t, label, geom), in that order."""
    made = _tensors(model_cfg, batch_size)
    return {"x_sig": made["signal"], "t": made["t"], "label": made["label"], "geom": made["geom"]}

"""Normalization metadata: offsets/scales with channel names, both copies, and where they apply."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reporter.config.schema import LABEL_CHANNELS, SIGNAL_CHANNELS
from reporter.report.model import (
    ChannelValue,
    NormalizationCopy,
    NormalizationRow,
    NormalizationSection,
    OffsetScale,
)


def normalization_copy(source: str, values: Mapping[str, Any], with_labels: bool = True) -> NormalizationCopy:
    """One set of offsets/scales (from a config section or from model buffers).

    ``with_labels=False`` for models without label buffers (the earliest pmt_dit.py, cnn/resnet/hybrid/mlp
    keep only the affine pair): their config's label values never reach the model.
    """
    return NormalizationCopy(
        source=source,
        time_transform=values.get("time_transform"),
        signal=_channels(SIGNAL_CHANNELS, values["affine_offsets"], values["affine_scales"]),
        label=_channels(LABEL_CHANNELS, values.get("label_offsets"), values.get("label_scales"))
        if with_labels else [],
    )


def analyse_normalization(copies: list[NormalizationCopy], where: str, formula: str | None,
                          note: str) -> NormalizationSection:
    differ = any(_key(c) != _key(copies[0]) for c in copies[1:])
    if where == "forward":
        explanation = ("The model applies the offsets and scales to its inputs inside forward(), "
                       "using its buffers." + (f" {note}" if note else ""))
    elif where == "dataloader":
        explanation = ("The dataloader normalizes inputs before the model sees them; the model's buffers "
                       "are metadata only (used to denormalize samples)." + (f" {note}" if note else ""))
    else:
        explanation = note or "Where normalization happens is not known for this model."
    return NormalizationSection(copies=copies, rows=_rows(copies), copies_differ=differ, applied_in=where,
                                formula=formula or "—", explanation=explanation)


def _rows(copies: list[NormalizationCopy]) -> list[NormalizationRow]:
    """The first copy's channels, each with every copy's offset and scale (None where a copy lacks it)."""
    rows = []
    for label, first in ((False, copies[0].signal), (True, copies[0].label)):
        for i, channel in enumerate(first):
            values = []
            for copy in copies:
                same = (copy.label if label else copy.signal)[i: i + 1]
                values.append(OffsetScale(offset=same[0].offset if same else None,
                                          scale=same[0].scale if same else None))
            rows.append(NormalizationRow(channel=channel.channel, label=label, values=values))
    return rows


def _channels(names: Sequence[str], offsets: Sequence[float] | None,
              scales: Sequence[float] | None) -> list[ChannelValue]:
    if offsets is None or scales is None:
        return []
    return [ChannelValue(channel=n, offset=float(o), scale=float(s))
            for n, o, s in zip(names, offsets, scales, strict=False)]


def _key(copy: NormalizationCopy) -> tuple:
    return (copy.time_transform, [(c.offset, c.scale) for c in copy.signal],
            [(c.offset, c.scale) for c in copy.label])

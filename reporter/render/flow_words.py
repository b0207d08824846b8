"""Words the flow renderers share (SVG diagram, terminal text), so a folded run of blocks reads the same in
both: "16,472 params each" or "params 16,472 / 16,504", and the run's total from the model."""

from __future__ import annotations

from reporter.report.flow import FlowStep


def params_each(step: FlowStep) -> str:
    """One instance's parameters of a folded run, or each instance's when they differ."""
    if step.identical:
        return f"{step.params:,} params each"
    return "params " + " / ".join(f"{p:,}" for p in step.member_params)


def params_in_all(step: FlowStep) -> str:
    """The parameters of all instances of a folded run (computed by the flow analysis)."""
    return f"{step.member_params_total:,} in all"

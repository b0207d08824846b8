"""Analyses: each module computes one report section from a model, config or checkpoint."""

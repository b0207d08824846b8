"""The typed, JSON-serialisable report model (analyses fill it; renderers only read it)."""

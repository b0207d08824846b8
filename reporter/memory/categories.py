"""What every live byte of a traced step is attributed to (plain data: no torch, no pydantic)."""

MEMORY_CATEGORIES = (
    "parameters",
    "buffers",
    "gradients",
    "optimizer_state",
    "workspace",
    "inputs",
    "saved_activations",
    "temporaries",
)

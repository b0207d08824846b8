"""Memory and compute prediction of one GENESIS training step, traced with fake tensors.

The step (forward, MSE loss, backward, optimizer step) runs under ``FakeTensorMode`` on the CPU device,
so no real memory is allocated; a dispatch mode counts the bytes of every live storage and records the
peak by category. See ``predict.py`` for the entry points.
"""

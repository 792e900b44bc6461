"""Importing torch and the modules that come with it while the cyclic garbage collector is paused.

A command's heavy imports (torch, h5py, our estimators) leave about 250k long-lived objects. With the
collector running, their allocations trigger collections that walk everything imported so far, and
every later full collection walks them again. Paused while they arrive and then frozen (`gc.freeze`:
they move to a permanent generation no collection visits), they cost neither. The saving is measured
in benchmarks/README.md ("Speed of the default Q bound").
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the collector off, then freeze what is alive and restore the collector."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if collecting:  # a caller that switched the collector off keeps it off
            gc.enable()


def import_dynamo_paused() -> None:
    """Import torch._dynamo, which torch.optim imports when Q's optimiser is built (torch/_compile.py) and
    the largest import of a Q fit, with the collector paused. Commands call it once the checkpoint and the
    data are accepted, so a refused file never pays its ~100 MiB (tests/test_hostile_memory.py)."""
    with collector_paused():
        import torch._dynamo  # noqa: F401

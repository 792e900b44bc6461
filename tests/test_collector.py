"""`collector_paused`: the cyclic collector is off inside the block, the objects alive at its end are
frozen (no collection walks them), and the caller's collector state comes back as it was."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from vmieval.cli.collector import collector_paused


@pytest.fixture
def collector() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()  # the test process's objects go back to the ordinary generations
    (gc.enable if enabled else gc.disable)()


@pytest.mark.parametrize("enabled", [True, False])
def test_collector_paused_freezes_and_restores(collector: None, enabled: bool) -> None:
    (gc.enable if enabled else gc.disable)()
    gc.unfreeze()
    with collector_paused():
        assert not gc.isenabled()
        kept = [[i] for i in range(1000)]  # stands for the imported modules' objects
    assert gc.isenabled() is enabled
    assert gc.get_freeze_count() >= len(kept)


def test_collector_paused_restores_on_error(collector: None) -> None:
    gc.enable()
    with pytest.raises(ImportError), collector_paused():
        raise ImportError("no such module")
    assert gc.isenabled()

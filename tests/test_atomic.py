"""Nothing lost: a write that fails or is killed half-way leaves the previous file intact.

`atomic_write` writes to a hidden `.NAME.*.tmp` file in the destination folder and renames it into
place only when the writer has finished; these tests break the writer in the middle of its work.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vmieval.atomic import atomic_write
from vmieval.checkpoints import load_checkpoint, save_native
from vmieval.errors import CheckpointError, OutputError


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_successful_write_replaces_the_file(tmp_path: Path) -> None:
    target = tmp_path / "report.h5"
    target.write_bytes(b"old")
    atomic_write(target, lambda tmp: tmp.write_bytes(b"new"))
    assert target.read_bytes() == b"new"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("error", [RuntimeError("writer crashed"), OSError(28, "No space left on device")])
def test_writer_failing_half_way_keeps_previous_file(tmp_path: Path, error: Exception) -> None:
    target = tmp_path / "report.h5"
    target.write_bytes(b"previous contents")

    def half_then_fail(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write(b"half of the new")
            fh.flush()
        raise error

    expected = OutputError if isinstance(error, OSError) else RuntimeError
    with pytest.raises(expected):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"previous contents"
    assert _leftovers(tmp_path) == []


def test_failed_checkpoint_save_keeps_previous_checkpoint(
    tiny_native: Path, monkeypatch: pytest.MonkeyPatch, joint_spec
) -> None:
    before = tiny_native.read_bytes()
    real_save = torch.save

    def crash_mid_save(obj: object, f: object, *args: object, **kwargs: object) -> None:
        real_save({"partial": torch.zeros(10)}, f)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(torch, "save", crash_mid_save)
    module = torch.nn.Linear(1, 1)
    with pytest.raises(OutputError, match="Input/output error"):
        save_native(tiny_native, module, "mlp", {"hidden": [32]}, joint_spec)
    assert tiny_native.read_bytes() == before
    assert load_checkpoint(tiny_native).spec == joint_spec
    assert _leftovers(tiny_native.parent) == []


KILLED_WRITER = """
import sys, time
from pathlib import Path
from vmieval.atomic import atomic_write

target, ready = Path(sys.argv[1]), Path(sys.argv[2])

def slow(tmp):
    with open(tmp, "wb") as fh:
        fh.write(b"PK\\x03\\x04 half a new checkpoint")
        fh.flush()
        ready.write_text(str(tmp))
        time.sleep(60)

atomic_write(target, slow)
"""


def test_sigkill_mid_write_leaves_previous_file_and_a_harmless_temp(tiny_native: Path, tmp_path: Path) -> None:
    before = tiny_native.read_bytes()
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tiny_native), str(ready)])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, "writer exited before it started writing"
            assert time.monotonic() < deadline, "writer never started"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert tiny_native.read_bytes() == before
    assert load_checkpoint(tiny_native) is not None
    # The orphan is hidden, ends in .tmp, is never the file a user named, and cannot pass as a checkpoint.
    orphan = Path(ready.read_text())
    assert orphan.exists() and orphan.name.startswith(f".{tiny_native.name}.") and orphan.suffix == ".tmp"
    assert _leftovers(tiny_native.parent) == [orphan.name]
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(orphan)

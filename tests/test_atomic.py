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

from vmieval.checkpoints import load_checkpoint, save_native
from vmieval.errors import CheckpointError, OutputError
from vmieval.outputs import atomic_write


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
from vmieval.outputs import atomic_write

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


# -- temporary files never outlive their write -----------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temp_of_a_dead_writer_is_cleaned_by_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "report.h5"
    stale = tmp_path / f".report.h5.{_dead_pid()}.abcd1234.tmp"
    live = tmp_path / f".report.h5.{os.getpid()}.efgh5678.tmp"  # a write in progress in a live process
    other = tmp_path / ".other.h5.1.abcd1234.tmp"  # another file's temp
    foreign = tmp_path / ".report.h5.mine.tmp"  # not our naming
    for path in (stale, live, other, foreign):
        path.write_bytes(b"half")
    atomic_write(target, lambda tmp: tmp.write_bytes(b"new"))
    assert target.read_bytes() == b"new"
    assert not stale.exists() and live.exists() and other.exists() and foreign.exists()


@pytest.mark.parametrize("failure", [OSError(24, "Too many open files"), KeyboardInterrupt()])
def test_a_failure_right_after_the_temp_is_created_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    """The window between creating the temporary file and writing it is inside the guarded block."""
    target = tmp_path / "report.h5"
    target.write_bytes(b"previous")

    def fail(*args: object) -> None:
        raise failure

    monkeypatch.setattr(os, "chmod", fail)
    with pytest.raises(OutputError if isinstance(failure, OSError) else KeyboardInterrupt):
        atomic_write(target, lambda tmp: tmp.write_bytes(b"new"))
    assert target.read_bytes() == b"previous"
    assert _leftovers(tmp_path) == []


SIGNALLED_WRITER = """
import os, signal, sys
from pathlib import Path
from vmieval.cli.interrupts import install
from vmieval import outputs as atomic

install()
target, signum = Path(sys.argv[1]), int(sys.argv[2])

def hook(stage, path):
    if stage == "temp-written":
        os.kill(os.getpid(), signum)

atomic.write_hook = hook
atomic.atomic_write(target, lambda tmp: tmp.write_bytes(b"half of a new file"))
print("not reached")
"""


@pytest.mark.parametrize(
    ("signum", "code", "word"), [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_a_signal_mid_write_is_one_line_its_exit_code_and_no_temp(
    tmp_path: Path, signum: int, code: int, word: str
) -> None:
    target = tmp_path / "report.h5"
    target.write_bytes(b"previous")
    proc = subprocess.run(
        [sys.executable, "-c", SIGNALLED_WRITER, str(target), str(int(signum))], capture_output=True, text=True
    )
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"{word}; files already written are intact"]
    assert "not reached" not in proc.stdout
    assert target.read_bytes() == b"previous"
    assert _leftovers(tmp_path) == []


def test_ctrl_c_while_the_command_starts_is_one_line_and_130(tiny_native: Path) -> None:
    """SIGINT while `vmieval inspect` is still importing torch (the long part of start-up)."""
    vmieval = Path(sys.executable).with_name("vmieval")
    proc = subprocess.Popen([str(vmieval), "inspect", str(tiny_native)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        maps = Path(f"/proc/{proc.pid}/maps")
        while proc.poll() is None and "libtorch" not in maps.read_text(errors="replace"):
            assert time.monotonic() < deadline, "torch never started loading"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["interrupted; files already written are intact"]


# -- a folder written as a unit (vmieval.outputs.write_folder) ------------------------------------------


def _fill(files: dict[str, bytes]):
    def write(staged: Path) -> None:
        for name, content in files.items():
            (staged / name).write_bytes(content)

    return write


@pytest.mark.parametrize("exchange", [True, False])
def test_a_folder_is_replaced_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool) -> None:
    from vmieval import outputs

    if not exchange:  # a kernel or filesystem without RENAME_EXCHANGE: two renames
        monkeypatch.setattr(outputs, "_exchange", lambda a, b: False)
    folder = tmp_path / "report"
    outputs.write_folder(folder, _fill({"report.h5": b"old", "a-pair_z_0_1.png": b"old png"}))
    outputs.write_folder(folder, _fill({"report.h5": b"new", "a-pair_z_2_3.png": b"new png"}), force=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {"report.h5": b"new", "a-pair_z_2_3.png": b"new png"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), RuntimeError("drawing failed")])
def test_a_failed_folder_write_leaves_the_old_folder(tmp_path: Path, error: Exception) -> None:
    from vmieval import outputs

    folder = tmp_path / "report"
    outputs.write_folder(folder, _fill({"report.h5": b"old"}))

    def half(staged: Path) -> None:
        (staged / "a-new.png").write_bytes(b"half")
        raise error

    with pytest.raises(OutputError if isinstance(error, OSError) else RuntimeError):
        outputs.write_folder(folder, half, force=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {"report.h5": b"old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_a_folder_is_not_replaced_without_force_nor_when_it_holds_other_files(tmp_path: Path) -> None:
    from vmieval.outputs import check_report_folder, write_folder

    folder = tmp_path / "report"
    write_folder(folder, _fill({"report.h5": b"old"}))
    with pytest.raises(OutputError, match="--force"):
        write_folder(folder, _fill({"report.h5": b"new"}))
    with pytest.raises(OutputError, match="--force"):
        check_report_folder(folder, ["a"], force=False)
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="does not write"):
        check_report_folder(folder, ["a"], force=True)
    check_report_folder(tmp_path / "fresh", ["a[1]"], force=False)  # a glob character means itself

"""A report folder is a unit: after a full disk, a SIGTERM or a SIGKILL during `--force` over an earlier
report, the folder holds the old report complete and alone, or the new one complete and alone.

The full disk is a real 1 MiB-free tmpfs where `mount` works (root), else a simulated ENOSPC in the
write path. The kills come from `vmieval.outputs.write_hook`, called at every write boundary (each PNG's,
report.h5's and the folder's own `temp-created`, `temp-written`, `renamed`), in a forked child.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from forked import wait_or_fail
from vmieval.cli.interrupts import install
from vmieval.cli.main import cli

from vmieval import outputs


def _args(checkpoint: Path, out: Path, *extra: str) -> list[str]:
    return ["report", str(checkpoint), "--data", "mnist-sample", "--limit", "24", "--no-mi", "--out", str(out), *extra]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def earlier(tiny_native: Path, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """An earlier report (traversal dims 0,1) in tmp_path/out, and its files."""
    out = tmp_path / "out"
    assert CliRunner().invoke(cli, _args(tiny_native, out, "--traverse-dims", "0,1")).exit_code == 0
    return out, _snapshot(out)


def _one_line(result, code: int, fragment: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == code and len(lines) == 1 and fragment in lines[0], result.stderr


def _no_staging(parent: Path) -> None:
    assert [p.name for p in parent.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")] == []


def test_a_complete_force_run_leaves_no_stale_figure(tiny_native: Path, earlier) -> None:
    out, old = earlier
    assert CliRunner().invoke(cli, _args(tiny_native, out, "--force", "--traverse-dims", "2,3")).exit_code == 0
    new = _snapshot(out)
    assert not any("pair_z_0_1" in name for name in new) and any("pair_z_2_3" in name for name in new)
    assert set(new) != set(old)
    _no_staging(out.parent)


def test_simulated_full_disk_is_exit_6_one_line_and_the_old_report_intact(
    tiny_native: Path, earlier, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, old = earlier

    def full(self: Path, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)  # report.h5 is the last file written into the new folder
    _one_line(CliRunner().invoke(cli, _args(tiny_native, out, "--force")), 6, "No space left on device")
    monkeypatch.undo()
    assert _snapshot(out) == old
    _no_staging(out.parent)


def test_real_full_disk_is_exit_6_one_line_and_the_old_report_intact(tiny_native: Path, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)]).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        out = disk / "out"
        assert CliRunner().invoke(cli, _args(tiny_native, out)).exit_code == 0
        old = _snapshot(out)
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        (disk / "filler").write_bytes(bytes(max(free - sum(map(len, old.values())) // 2, 0)))
        _one_line(CliRunner().invoke(cli, _args(tiny_native, out, "--force")), 6, "No space left on device")
        assert _snapshot(out) == old
        _no_staging(disk)
    finally:
        subprocess.run(["umount", "-l", str(disk)])


def _killed_at(args: list[str], boundary: int, signum: int) -> int:
    """Run `args` in a forked child that sends itself `signum` at write boundary `boundary`; its status."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            install()
            passed = [0]

            def hook(stage: str, where: Path) -> None:
                if passed[0] == boundary:
                    os.kill(os.getpid(), signum)
                passed[0] += 1

            outputs.write_hook = hook
            code = CliRunner().invoke(cli, args).exit_code
        except BaseException:  # noqa: BLE001 - reported by the exit code
            code = 1
        finally:
            os._exit(code)
    return wait_or_fail(pid, f"the child signalled at boundary {boundary}")


def _kill_and_check(tiny_native: Path, earlier, boundary: int, signum: int) -> None:
    out, old = earlier
    status = _killed_at(_args(tiny_native, out, "--force", "--traverse-dims", "2,3"), boundary, signum)
    killed = os.WIFSIGNALED(status) or (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 128 + signum)
    now = _snapshot(out)
    assert killed or now != old, status  # past the last boundary: the run finished
    assert now == old or not any("pair_z_0_1" in n for n in now), sorted(now)  # old alone, or new alone
    if now != old:
        assert any("pair_z_2_3" in n for n in now) and "report.h5" in now
    if signum == signal.SIGTERM:
        _no_staging(out.parent)
    outputs.clean_stale_temps(out)  # what the next write does after a SIGKILL
    _no_staging(out.parent)


# The folder's temp-created, a PNG's three, one mid-way, then (from the end) report.h5's temp-written and
# renamed, the folder's temp-written (just before the swap) and renamed (just after it).
BOUNDARIES = (0, 1, 2, 3, 14, -4, -3, -2, -1)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_a_signal_at_the_swap_leaves_one_whole_report(tiny_native: Path, earlier, signum: int) -> None:
    boundaries = _count_boundaries(tiny_native, earlier[0].parent)
    _kill_and_check(tiny_native, earlier, boundaries - 2, signum)  # the folder's temp-written: just before the swap


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_a_signal_at_any_boundary_leaves_one_whole_report(
    tiny_native: Path, earlier, signum: int, boundary: int
) -> None:
    count = _count_boundaries(tiny_native, earlier[0].parent)
    _kill_and_check(tiny_native, earlier, boundary % count, signum)


_COUNTED: list[int] = []  # the count is the same for every run of these arguments: measured once


def _count_boundaries(checkpoint: Path, folder: Path) -> int:
    if _COUNTED:
        return _COUNTED[0]
    stages: list[str] = []
    outputs.write_hook = lambda stage, where: stages.append(stage)
    try:
        assert CliRunner().invoke(cli, _args(checkpoint, folder / "count", "--traverse-dims", "2,3")).exit_code == 0
    finally:
        outputs.write_hook = None
    assert stages[0] == "temp-created" and stages[-2:] == ["temp-written", "renamed"]  # the folder: first, last
    _COUNTED.append(len(stages))
    return len(stages)

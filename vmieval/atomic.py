"""Write-then-rename, so a crash or a full disk never leaves a half-written report or checkpoint.

The temporary file lives in the destination folder (same filesystem, so `os.replace` is atomic) and
is named `.<name>.<pid>.<random>.tmp`. It is removed if the writer fails or the process is
interrupted (`vmieval.cli.interrupts` removes the files in `IN_FLIGHT` before exiting); one left by
a SIGKILL is removed by the next write to the same place, once its process is gone. The previous
file at `path` is untouched until the rename.

`write_hook`, when set, is called at every write boundary (`temp-created`, `temp-written`,
`renamed`) with the stage and the file; tests use it to kill a process at an exact point.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from vmieval.errors import OutputError
from vmieval.outputs import check_output_file

STAGES = ("temp-created", "temp-written", "renamed")
MAX_NAME_IN_TEMP = 96  # keeps `.<name>.<pid>.<random>.tmp` within NAME_MAX for any name that fits
IN_FLIGHT: set[Path] = set()
write_hook: Callable[[str, Path], None] | None = None
_OURS = re.compile(r"^\.(?P<name>.*)\.(?P<pid>\d+)\.[A-Za-z0-9_]{8}\.tmp$")


def check_writable(path: str | Path, force: bool = True) -> Path:
    """Fail early, before hours of work, if `path` cannot be written (or exists without force)."""
    return check_output_file(path, force)


def _temp_prefix(path: Path) -> str:
    return f".{path.name[:MAX_NAME_IN_TEMP]}."


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid < 2**22  # another user's live process, or a number no pid can be
    return True


def clean_stale_temps(path: Path) -> list[Path]:
    """Remove `.<name>.<pid>.*.tmp` files beside `path` whose writing process no longer exists."""
    prefix = _temp_prefix(path)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        match = _OURS.match(entry.name)
        if not (entry.name.startswith(prefix) and match and entry.is_file(follow_symlinks=False)):
            continue
        if match.group("name") != path.name[:MAX_NAME_IN_TEMP] or _alive(int(match.group("pid"))):
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def remove_in_flight() -> None:
    """Delete the temporary files of writes still in progress (called on SIGINT/SIGTERM)."""
    for tmp in list(IN_FLIGHT):
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
    IN_FLIGHT.clear()


def _boundary(stage: str, path: Path) -> None:
    if write_hook is not None:
        write_hook(stage, path)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot sync a directory; the rename itself is still atomic
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Path], None], force: bool = True) -> Path:
    """Call `write(tmp_path)`, then rename the finished file onto `path`."""
    path = check_output_file(path, force, probe=False)  # the temporary file is the probe
    clean_stale_temps(path)
    tmp: Path | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f"{_temp_prefix(path)}{os.getpid()}.", suffix=".tmp", dir=path.parent)
        tmp = Path(tmp_name)
        IN_FLIGHT.add(tmp)
        os.close(fd)
        # mkstemp creates 0600; give the result the permissions an ordinary `open(path, "w")` would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        _boundary("temp-created", tmp)
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        _boundary("temp-written", tmp)
        os.replace(tmp, path)
        IN_FLIGHT.discard(tmp)
        tmp = None
        _fsync_folder(path.parent)
        _boundary("renamed", path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            IN_FLIGHT.discard(tmp)
            tmp.unlink(missing_ok=True)
    return path

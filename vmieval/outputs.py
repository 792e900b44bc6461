"""Outputs: checked before the work starts, written so that nothing half-done is ever seen.

Pre-flight (a refusal should cost seconds, not the whole run): every path a command will write is
checked up front, by really trying where asking is not enough (`os.access` says yes to root, even in
`/proc`): the folder exists or can be created (no component is a file), a file can be created in it,
every name fits the filesystem (NAME_MAX, with room for our temporary names), and each model name can
name an HDF5 group and a PNG file. Commands call `check_output_file`, `check_output_folder` or
`check_report_folder` once, first thing; nothing else checks them a second time.

Writing: `atomic_write` writes a file to `.<name>.<pid>.<random>.tmp` in the destination folder (same
filesystem, so `os.replace` is atomic) and renames it into place; `write_folder` does the same for a
whole folder (a report): everything is written into a hidden sibling `.<name>.<pid>.<random>.tmp/`,
then swapped with the old folder in one `renameat2(RENAME_EXCHANGE)` (where the kernel or filesystem
cannot exchange, two renames with SIGINT/SIGTERM held off between them), and the old folder is
deleted. A reader therefore sees the old folder complete or the new one complete: never a new PNG
beside an old `report.h5`, never a stale figure of an earlier run. A full disk or an interrupted run
leaves the old folder as it was. Temporary files and folders are removed when the writer fails or
the process is interrupted (`vmieval.cli.interrupts` calls `remove_in_flight`); ones left by a
SIGKILL are removed by the next write to the same place, once their process is gone.

`write_hook`, when set, is called at every write boundary (`temp-created`, `temp-written`, `renamed`)
with the stage and the path; tests use it to kill a process at an exact point.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

from vmieval.errors import OutputError, terminal_safe

NAME_MAX = 255
TEMP_OVERHEAD = 24  # `.` + `.<pid>.<8 random>.tmp` around the name
STAGES = ("temp-created", "temp-written", "renamed")
MAX_NAME_IN_TEMP = 96  # keeps `.<name>.<pid>.<random>.tmp` within NAME_MAX for any name that fits
IN_FLIGHT: set[Path] = set()
write_hook: Callable[[str, Path], None] | None = None
_OURS = re.compile(r"^\.(?P<name>.*)\.(?P<pid>\d+)\.[A-Za-z0-9_]{8}\.tmp$")


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return NAME_MAX


def _short(path: Path | str) -> str:
    return terminal_safe(str(path), 120)


def _nearest_existing(path: Path) -> tuple[Path, list[str]]:
    """The deepest existing ancestor of `path` (a folder, or the file that blocks it) and the missing
    components below it."""
    missing: list[str] = []
    current = path
    while True:
        try:
            current.lstat()
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as exc:  # ELOOP, EACCES on the way (a name too long is reported by _check_names)
            if exc.errno != errno.ENAMETOOLONG:
                raise OutputError(f"cannot write {_short(path)}: {exc.strerror or exc}") from None
        else:
            return current, missing
        if current.parent == current:
            return current, missing
        missing.insert(0, current.name)
        current = current.parent


def _probe(folder: Path, target: Path) -> None:
    """Create and delete a file in `folder`: the only reliable test that the final write can happen."""
    try:
        fd, name = tempfile.mkstemp(prefix=".vmieval-probe.", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise OutputError(f"cannot write {_short(target)}: folder {_short(folder)} is not writable "
                          f"({exc.strerror or exc})") from None  # fmt: skip


def _check_names(names: list[str], folder: Path, target: Path, temp: bool) -> None:
    limit = _name_max(folder)
    for name in names:
        room = TEMP_OVERHEAD if temp and name == names[-1] else 0
        if len(name.encode("utf-8", "surrogateescape")) + room > limit:
            raise OutputError(
                f"cannot write {_short(target)}: the name {name[:40]!r}... is longer than this filesystem "
                f"allows ({limit - room} bytes); choose a shorter one"
            )


def check_output_file(path: str | Path, force: bool = True, probe: bool = True) -> Path:
    """A file the command will write (through `atomic_write`) into an existing folder."""
    path = Path(path)
    if path.name in ("", ".", ".."):
        raise OutputError(f"cannot write {_short(path)}: give a file name")
    folder = path.parent if str(path.parent) else Path(".")
    existing, missing = _nearest_existing(path)
    if not missing:
        if existing.is_dir():
            raise OutputError(f"{_short(path)} is a directory; give a file name")
        if not force:
            raise OutputError(f"{_short(path)} exists; pass --force to overwrite it")
    elif len(missing) > 1 or not existing.is_dir():
        blocker = f" ({_short(existing)} is a file)" if not existing.is_dir() else ""
        raise OutputError(f"cannot write {_short(path)}: folder {_short(folder)} does not exist{blocker}")
    _check_names([path.name], folder, path, temp=True)
    if probe:
        _probe(folder, path)
    return path


def check_output_folder(folder: str | Path, file_names: tuple[str, ...] = ()) -> Path:
    """A folder the command will create if needed and write `file_names` into."""
    folder = Path(folder)
    existing, missing = _nearest_existing(folder)
    if not existing.is_dir():
        what = "is a file" if existing == folder else f"cannot be created: {_short(existing)} is a file"
        raise OutputError(f"output folder {_short(folder)} {what}")
    _check_names([*missing, *file_names], existing, folder, temp=False)
    _check_names(list(file_names), existing, folder, temp=True)
    _probe(existing, folder)
    return folder


def check_model_names(names: list[str]) -> list[str]:
    """Model names become HDF5 groups and `<name>-<grid>.png` files: no `/`, no NUL, not `.`/`..`/empty."""
    for name in names:
        if name in ("", ".", "..") or "/" in name or "\x00" in name:
            raise OutputError(
                f"a checkpoint named {name!r} gives a model name that cannot name a report group or file; "
                f"rename or link the file (e.g. model.pt)"
            )
    return names


PNG_ROOM = 40  # `-<grid>.png` after a model name, e.g. `-pair_z_12_15.png`
REPORT_SUFFIXES = (".h5", ".png", ".json", ".csv")  # what a report folder may hold (and `write_folder` replaces)


def check_report_folder(folder: str | Path, names: list[str], force: bool, report_file: str = "report.h5") -> Path:
    """Everything `report` will write, checked before it computes anything: the folder and its parent
    (the new folder is written beside it, then swapped in), the model names (HDF5 groups and
    `<name>-<grid>.png` files), and the folder's content: without `force` it must not hold an earlier
    report; with `force` it may hold only report files (`REPORT_SUFFIXES`), since the whole folder is
    replaced. Existing files are listed, not globbed, so a name like `a[1]` means itself."""
    folder = Path(folder)
    check_model_names(names)
    check_output_folder(folder, (report_file, *(f"{n}{'-' * PNG_ROOM}.png" for n in names)))
    _check_names([folder.name or "report"], folder.parent, folder, temp=True)
    try:
        is_dir = folder.is_dir() and not folder.is_symlink()
        existing = sorted(entry.name for entry in os.scandir(folder)) if is_dir else []
    except OSError as exc:
        raise OutputError(f"cannot list {_short(folder)}: {exc.strerror or exc}") from None
    if folder.is_symlink():
        raise OutputError(f"{_short(folder)} is a symbolic link; give the folder it points to")
    ours = [e for e in existing if e.endswith(REPORT_SUFFIXES) and not e.startswith(".")]
    others = [e for e in existing if e not in ours and not _OURS.match(e)]
    if others:
        raise OutputError(
            f"{_short(folder)} holds files a report does not write (e.g. {terminal_safe(others[0], 60)!r}); "
            "a report folder is replaced as a whole: give --out a new, empty or report folder"
        )
    if ours and not force:
        first = report_file if report_file in ours else ours[0]
        raise OutputError(f"{_short(folder / first)} exists; pass --force to overwrite it")
    if is_dir:
        _probe(Path(os.path.abspath(folder)).parent, folder)  # the new folder is written beside the old one
    return folder


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
        if not (entry.name.startswith(prefix) and match) or entry.is_symlink():
            continue
        if match.group("name") != path.name[:MAX_NAME_IN_TEMP] or _alive(int(match.group("pid"))):
            continue
        _remove(Path(entry.path))
        removed.append(Path(entry.path))
    return removed


def _remove(path: Path) -> None:
    """Delete a temporary file or folder of ours, quietly (it is garbage either way)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def remove_in_flight() -> None:
    """Delete the temporary files and folders of writes still in progress (called on SIGINT/SIGTERM)."""
    for tmp in list(IN_FLIGHT):
        _remove(tmp)
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


def _ordinary_mode(path: Path, base: int) -> None:
    """mkstemp/mkdtemp create 0600/0700: give `path` the mode an ordinary open or mkdir would (base & ~umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, base & ~umask)


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
        _ordinary_mode(tmp, 0o666)
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
        raise OutputError(f"cannot write {_short(path)}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            IN_FLIGHT.discard(tmp)
            tmp.unlink(missing_ok=True)
    return path


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux's renameat2(RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code))


def _swap_in(staged: Path, folder: Path) -> None:
    """Put the finished `staged` folder at `folder`; the old one (if any) ends up at `staged`."""
    if not os.path.lexists(folder):
        os.rename(staged, folder)
        IN_FLIGHT.discard(staged)
        return
    if not _exchange(staged, folder):  # two renames: the old folder is set aside first, then the new one moved in
        aside = staged.with_name(staged.name[: -len(".tmp")] + "x.tmp")
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})  # no handler between
        try:
            os.rename(folder, aside)
            try:
                os.rename(staged, folder)
            except OSError:
                os.rename(aside, folder)
                raise
            os.rename(aside, staged)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)


def write_folder(folder: str | Path, write: Callable[[Path], None], force: bool = False) -> Path:
    """Call `write(staging)` to fill a new hidden folder beside `folder`, then swap it into place as one
    unit (module docstring); the old folder is deleted after the swap. A failure leaves `folder` as it was."""
    folder = Path(os.path.abspath(folder))  # `.` or `a/..` cannot be renamed; their absolute names can
    if os.path.lexists(folder) and not force and any(os.scandir(folder)):
        raise OutputError(f"{_short(folder)} exists; pass --force to overwrite it")
    parent = folder.parent if str(folder.parent) else Path(".")
    staged: Path | None = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temps(folder)
        staged = Path(tempfile.mkdtemp(prefix=f"{_temp_prefix(folder)}{os.getpid()}.", suffix=".tmp", dir=parent))
        IN_FLIGHT.add(staged)
        _ordinary_mode(staged, 0o777)
        _boundary("temp-created", staged)
        write(staged)
        for entry in os.scandir(staged):
            with open(entry.path, "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_folder(staged)
        _boundary("temp-written", staged)
        _swap_in(staged, folder)
        _fsync_folder(parent)
        _boundary("renamed", folder)
    except OSError as exc:
        raise OutputError(f"cannot write {_short(folder)}: {exc.strerror or exc}") from None
    finally:
        if staged is not None:
            _remove(staged)  # the old folder after a swap, or the unfinished new one after a failure
            IN_FLIGHT.discard(staged)
    return folder

"""Output paths, validated before the work starts: a refusal should cost seconds, not the whole run.

Everything the final write will need is checked up front, by really trying where asking is not
enough (`os.access` says yes to root, even in `/proc`): the folder exists or can be created (no
component is a file), a file can be created in it, every name fits the filesystem (NAME_MAX, with
room for the temporary name `atomic_write` uses), and each model name can name an HDF5 group and a
PNG file. Commands call `check_output_file` or `check_output_folder` once, first thing.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from vmieval.errors import OutputError

NAME_MAX = 255
TEMP_OVERHEAD = 24  # `.` + `.<pid>.<8 random>.tmp` around the name (see vmieval.atomic)


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return NAME_MAX


def _short(path: Path | str) -> str:
    text = str(path)
    return text if len(text) <= 120 else f"{text[:60]}...{text[-40:]}"


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


def check_report_folder(folder: str | Path, names: list[str], force: bool, report_file: str = "report.h5") -> Path:
    """Everything `report` will write, checked before it computes anything: the folder, the model names
    (HDF5 groups and `<name>-<grid>.png` files), and no earlier report to overwrite without --force.
    Existing files are listed, not globbed, so a name like `a[1]` means itself."""
    folder = Path(folder)
    check_model_names(names)
    check_output_folder(folder, (report_file, *(f"{n}{'-' * PNG_ROOM}.png" for n in names)))
    if force or not folder.is_dir():
        return folder
    try:
        existing = sorted(entry.name for entry in os.scandir(folder))
    except OSError as exc:
        raise OutputError(f"cannot list {_short(folder)}: {exc.strerror or exc}") from None
    clashes = [e for e in existing if any(e.startswith(f"{n}-") and e.endswith(".png") for n in names)]
    for entry in ([report_file] if report_file in existing else []) + clashes:
        raise OutputError(f"{_short(folder / entry)} exists; pass --force to overwrite it")
    return folder

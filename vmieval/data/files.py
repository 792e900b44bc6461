"""Which files a data source may open, and the records of what it read (its provenance).

Only regular files outside /proc, /sys and /dev are ever opened (`check_regular`): a FIFO or a device
would block or never end. `FileRecord` is what a report stores per file read (`@data_files`).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vmieval.errors import DataError, terminal_safe

SYSTEM_TREES = ("/proc", "/sys", "/dev")  # never data: files there block, never end, or change as read


def check_not_system(real: Path, given: Path) -> None:
    """Refuse a resolved path inside /proc, /sys or /dev (kernel files, devices: never data)."""
    for top in SYSTEM_TREES:
        if real == Path(top) or Path(top) in real.parents:
            raise DataError(f"{terminal_safe(str(given))} lies in {top}: kernel files and devices are not data")


def check_regular(path: Path, what: str = "file") -> Path:
    """`path` if it is (or links to) a regular file outside /proc, /sys and /dev; else a DataError. A FIFO,
    a device or a kernel file would block or never end, so nothing of vmieval ever opens one."""
    try:
        mode = os.stat(path).st_mode
        real = os.path.realpath(path)
    except OSError as exc:
        raise DataError(f"no such {what}: {terminal_safe(str(path))} ({exc.strerror or exc})") from None
    check_not_system(Path(real), path)
    if not stat.S_ISREG(mode):
        raise DataError(f"{terminal_safe(str(path))} is not a regular file (a FIFO, a device or a folder); not data")
    return path


@dataclass(frozen=True)
class FileRecord:
    """One file (or folder) a dataset was read from: its path, sha256 and size in bytes.

    For a folder of images, `sha256` is the digest of the sorted `relative path, file sha256` lines of
    every image the source reads (a whole folder; a CelebA split's images), so the record changes when
    any image changes, is added or is removed.
    """

    path: str
    sha256: str
    bytes: int

    def to_dict(self) -> dict[str, str | int]:
        return {"path": self.path, "sha256": self.sha256, "bytes": self.bytes}


def file_record(path: Path) -> FileRecord:
    """Hash one file as stored on disk (a .gz is hashed compressed: it is what the user has)."""
    check_regular(path)
    try:
        with open(path, "rb") as stream:
            digest = hashlib.file_digest(stream, "sha256").hexdigest()
        return FileRecord(str(Path(path).resolve()), digest, Path(path).stat().st_size)
    except OSError as exc:
        raise DataError(f"cannot read {path} to record its hash: {exc.strerror or exc}") from None


def folder_record(root: Path, files: Sequence[Path]) -> FileRecord:
    """One record for many files under `root` (see FileRecord)."""
    lines = hashlib.sha256()
    total = 0
    for path in sorted(files):
        one = file_record(path)
        lines.update(f"{path.relative_to(root)}\t{one.sha256}\n".encode())
        total += one.bytes
    return FileRecord(str(Path(root).resolve()), lines.hexdigest(), total)

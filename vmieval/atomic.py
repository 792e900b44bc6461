"""Write-then-rename, so a crash or a full disk never leaves a half-written report or checkpoint.

The temporary file lives in the destination folder (same filesystem, so `os.replace` is atomic)
and is removed if the writer fails; the previous file at `path` is untouched until the rename.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from vmieval.errors import OutputError


def check_writable(path: str | Path, force: bool = True) -> Path:
    """Fail early, before hours of work, if `path` cannot be written (or exists without force)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.exists() and path.is_dir():
        raise OutputError(f"{path} is a directory; give a file name")
    if path.exists() and not force:
        raise OutputError(f"{path} exists; pass --force to overwrite it")
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: folder {folder} is not writable")
    return path


def atomic_write(path: str | Path, write: Callable[[Path], None], force: bool = True) -> Path:
    """Call `write(tmp_path)`, then rename the finished file onto `path`."""
    path = check_writable(path, force)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600; give the result the permissions an ordinary `open(path, "w")` would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path

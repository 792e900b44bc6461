"""The sweep folder's content-addressed cache: `cache/KEY/` holds one model's `report.h5` and `report.json`.

An entry is written as a unit: into `cache/.tmp-KEY-PID/`, then renamed to `cache/KEY/` (one `rename` on
one filesystem), so a killed worker leaves either the whole entry or a temporary folder that the next run
removes, never half an entry. A model that failed leaves `failed/KEY.txt`, its one-line error (and the
traceback of an unexpected exception under it); a rerun tries it again. `plan.json` lists the current plan's
jobs (the cache may hold entries of earlier option sets).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from vmieval.errors import OutputError
from vmieval.outputs import atomic_write

CACHE, FAILED, PLAN = "cache", "failed", "plan.json"
REPORT_H5, REPORT_JSON = "report.h5", "report.json"
TMP_PREFIX = ".tmp-"
HYPER_GROUP = "hyperparameters"  # /<model>/hyperparameters/@... in a cache entry's report.h5


def entry(folder: str | Path, key: str) -> Path:
    return Path(folder) / CACHE / key


def is_done(folder: str | Path, key: str) -> bool:
    return (entry(folder, key) / REPORT_H5).is_file()


def failure(folder: str | Path, key: str) -> str | None:
    """The one-line error of a failed job (the file's first line; a traceback may follow it)."""
    path = Path(folder) / FAILED / f"{key}.txt"
    return (path.read_text().splitlines() or [""])[0] if path.is_file() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(folder: str | Path) -> list[Path]:
    """Remove temporary entries whose writer is gone (a killed sweep); returns what was removed."""
    cache = Path(folder) / CACHE
    removed = []
    for tmp in cache.glob(f"{TMP_PREFIX}*") if cache.is_dir() else []:
        pid = tmp.name.rsplit("-", 1)[-1]
        if not (pid.isdigit() and _alive(int(pid))) or int(pid) == os.getpid():
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


def temp_entry(folder: str | Path, key: str) -> Path:
    """A fresh temporary folder for `key`'s entry, beside where the entry will be renamed to."""
    tmp = Path(folder) / CACHE / f"{TMP_PREFIX}{key}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
    except OSError as exc:
        raise OutputError(f"cannot create {tmp}: {exc.strerror or exc}") from None
    return tmp


def commit_entry(tmp: Path, folder: str | Path, key: str) -> Path:
    """Rename the finished temporary folder into place; a twin that finished first is kept."""
    final = entry(folder, key)
    try:
        os.rename(tmp, final)
    except OSError:
        if not is_done(folder, key):
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # another worker wrote the same key: same numbers
    (Path(folder) / FAILED / f"{key}.txt").unlink(missing_ok=True)
    return final


def record_failure(folder: str | Path, key: str, error: str, detail: str = "") -> None:
    """`failed/KEY.txt`: the one-line error, then (for an unexpected exception) its traceback."""
    path = Path(folder) / FAILED / f"{key}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(error + "\n" + detail), force=True)


def write_plan(folder: str | Path, rows: list[dict[str, Any]], meta: dict[str, Any]) -> Path:
    text = json.dumps({"meta": meta, "jobs": rows}, indent=1, sort_keys=True, default=str) + "\n"
    return atomic_write(Path(folder) / PLAN, lambda tmp: Path(tmp).write_text(text), force=True)


def read_plan(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / PLAN
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise OutputError(f"{folder} is not a sweep folder (cannot read {PLAN}: {exc})") from None

"""A sweep's plan: which checkpoints, under which names, and the cache key of each job.

A job's key is content-addressed: sha256 over the checkpoint's bytes (a pythae folder: its files), the data
it is scored on (what `--data`/`--split`/`--limit`/... asked for, with a fingerprint of the files they point
at) and the report settings that change numbers (`ReportConfig.to_dict()` minus `NO_EFFECT`, read generically
so an option added to the config later joins the key without a change here). A rerun with the same key finds
the entry done; changing an option changes the keys of the models it affects, and only those recompute.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmieval.errors import UsageError

# ReportConfig/MIConfig fields that only change how fast or in how much memory a number is computed
NO_EFFECT = frozenset({"chunk", "device", "workers", "num_workers", "threads"})
KEY_CHARS = 24  # 96 bits of sha256: folder names stay short, collisions stay out of reach


@dataclass(frozen=True)
class Job:
    """One model to report on: everything a worker needs, as paths and plain settings (no tensors).

    `data` holds the data options as `report` takes them (DataChoice fields); `config` is the report's
    `ReportConfig` (frozen dataclasses pickle as they are); `options`: format, trust, device, threads.
    """

    checkpoint: str
    name: str
    key: str
    data: dict[str, Any]
    config: Any
    cache: str
    options: dict[str, Any] = field(default_factory=dict)
    name_from: str | None = None
    tail: str = ""  # the path's distinguishing part, read for path hyper-parameters


def expand_checkpoints(args: Iterable[str], list_file: str | None = None) -> list[str]:
    """Checkpoints from arguments (files, pythae folders or glob patterns) and from a list file (one a line,
    `#` comments), in order, each once. A pattern matching nothing and a missing path are usage errors."""
    given = list(args)
    if list_file is not None:
        try:
            lines = Path(list_file).read_text().splitlines()
        except OSError as exc:
            raise UsageError(f"cannot read --from {list_file}: {exc.strerror or exc}") from None
        given += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    found: list[str] = []
    for item in given:
        if glob.has_magic(item):
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                raise UsageError(f"the pattern {item!r} matches no file")
            found += matches
        elif not Path(item).exists():
            raise UsageError(f"{item}: no such file or folder")
        else:
            found.append(item)
    if not found:
        raise UsageError("give checkpoints: vmieval sweep A.pt B.pt, --from list.txt, or a pattern 'runs/**/model.pt'")
    return list(dict.fromkeys(os.path.normpath(p) for p in found))


def path_tails(paths: list[str]) -> list[str]:
    """The part of each path that tells it from the others (relative to their common folder), without the
    suffix: `runs/beta4/seed1/model.pt`, `runs/beta8/seed1/model.pt` -> `beta4/seed1/model`, `beta8/seed1/model`."""
    absolute = [Path(os.path.abspath(p)).with_suffix("") for p in paths]
    if len(paths) == 1:
        return [absolute[0].name]
    common = Path(os.path.commonpath([str(p.parent) for p in absolute]))
    return [p.relative_to(common).as_posix() for p in absolute]


def sweep_names(paths: list[str]) -> list[str]:
    """A name per checkpoint from its path tail, `/` as `-`; a file stem they all share is dropped:
    `runs/beta4/seed1/model.pt` and `runs/beta8/seed1/model.pt` become `beta4-seed1` and `beta8-seed1`."""
    tails = [t.split("/") for t in path_tails(paths)]
    if len({t[-1] for t in tails}) == 1 and all(len(t) > 1 for t in tails):
        tails = [t[:-1] for t in tails]
    out: list[str] = []
    for base in ("-".join(t) or "model" for t in tails):
        unique, i = base, 2
        while unique in out or unique in ("attrs", "comparison", "table"):
            unique, i = f"{base}-{i}", i + 1
        out.append(unique)
    return out


def _hash_files(files: Iterable[Path], digest: Any) -> None:
    for f in files:
        digest.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            digest.update(hashlib.file_digest(fh, "sha256").digest())


def checkpoint_digest(path: str | Path) -> str:
    """sha256 of a checkpoint file, or of every file of a model folder (pythae) in name order."""
    path = Path(path)
    digest = hashlib.sha256()
    try:
        if path.is_dir():
            _hash_files(sorted(p for p in path.iterdir() if p.is_file()), digest)
        else:
            _hash_files([path], digest)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    return digest.hexdigest()


def data_fingerprint(data: Mapping[str, Any]) -> dict[str, Any]:
    """The data options plus (name, bytes, mtime) of the files a `--data` path or `--data-dir` points at:
    a replaced file changes the key without hashing a whole dataset per sweep (report.h5 keeps the sha256)."""
    out = dict(data)
    for option in ("dataset", "data_dir"):
        value = data.get(option)
        target = Path(str(value).split(":")[0]) if value else None
        if target is None or not target.exists():
            continue
        files = sorted(p for p in target.iterdir() if p.is_file()) if target.is_dir() else [target]
        out[f"{option}_files"] = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files[:1000]]
        out[option] = str(target.resolve()) + str(value)[len(str(value).split(":")[0]) :]
    return out


def numeric_settings(settings: Any) -> Any:
    """`settings` (a ReportConfig dict) without the fields in NO_EFFECT, at any depth."""
    if isinstance(settings, Mapping):
        return {k: numeric_settings(v) for k, v in settings.items() if k not in NO_EFFECT}
    if isinstance(settings, list | tuple):
        return [numeric_settings(v) for v in settings]
    return settings


def job_key(checkpoint_sha: str, data: Mapping[str, Any], settings: Mapping[str, Any], extra: Mapping[str, Any]) -> str:
    """The cache key: sha256 of (checkpoint, data provenance, settings that change numbers, loader options)."""
    blob = json.dumps(
        {"checkpoint": checkpoint_sha, "data": data_fingerprint(data), "settings": numeric_settings(settings), **extra},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:KEY_CHARS]


def plan_jobs(
    paths: list[str],
    data: dict[str, Any],
    config: Any,
    cache: Path,
    options: dict[str, Any],
    name_from: str | None = None,
) -> list[Job]:
    """One Job per checkpoint; the key ignores device and threads (where a number is computed, not what)."""
    names, tails = sweep_names(paths), path_tails(paths)
    keyed = {k: v for k, v in options.items() if k in ("format", "spec_file")}
    jobs = []
    for path, name, tail in zip(paths, names, tails, strict=True):
        key = job_key(checkpoint_digest(path), data, config.to_dict(), keyed)
        jobs.append(Job(path, name, key, data, config, str(cache), options, name_from, tail))
    return jobs

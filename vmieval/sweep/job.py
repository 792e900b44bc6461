"""One sweep job, as a worker runs it: load the checkpoint, open its data, `build_report`, write the cache entry.

This is the function every executor ships (a process pool, Ray, submitit): it takes a `Job` (paths and
settings) and returns an `Outcome` (a few strings and numbers), so nothing large crosses a process boundary.
The report is `vmieval report`'s own (`vmieval.results.build_report` with the same `ReportConfig`); the entry
adds the model's hyper-parameters (`/<model>/hyperparameters/@...`), so a merge needs nothing but the file.
A failure of the model or its data becomes the outcome's one-line error; the sweep goes on.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmieval.errors import VmievalError
from vmieval.sweep import cache
from vmieval.sweep.plan import Job


@dataclass(frozen=True)
class Outcome:
    """What a job reports back: `status` is `done` (computed now), `cached` (found) or `failed`."""

    key: str
    name: str
    status: str
    error: str = ""
    seconds: float = 0.0
    worker: str = ""


def _open_data(model: Any, data: dict[str, Any]) -> Any:
    """The split `report` would score `model` on, decided by the core (`vmieval.data.open_for_model`)."""
    from vmieval.data import open_for_model

    return open_for_model(
        model,
        data.get("dataset"),
        data.get("split", "test"),
        data_dir=data.get("data_dir"),
        download=bool(data.get("download")),
        image_size=data.get("image_size"),
        limit=data.get("limit"),
        subsample_seed=data.get("subsample_seed"),
        grey=bool(data.get("grey")),
        allow_external=bool(data.get("allow_external")),
    )


def _write_entry(job: Job, report: Any, hyper: dict[str, Any], argv: list[str], seconds: float) -> None:
    from vmieval.outputs import atomic_write
    from vmieval.results import document, to_json, write_document

    tree = document([report], argv)
    tree[report.name]["attrs"] |= {"sweep_key": job.key, "sweep_seconds": round(seconds, 3), "sweep_worker": _where()}
    tree[report.name][cache.HYPER_GROUP] = {"attrs": hyper}
    tmp = cache.temp_entry(job.cache, job.key)
    try:
        write_document(tmp / cache.REPORT_H5, tree, force=True)
        atomic_write(tmp / cache.REPORT_JSON, lambda t: Path(t).write_text(to_json(tree) + "\n"), force=True)
        cache.commit_entry(tmp, job.cache, job.key)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _where() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"


def evaluate(job: Job) -> Outcome:
    """Report on one checkpoint into the cache (skipped when its entry exists); failures become the error."""
    where = _where()
    if cache.is_done(job.cache, job.key):
        return Outcome(job.key, job.name, "cached", worker=where)
    t0 = time.perf_counter()
    try:
        import torch

        from vmieval.checkpoints import load_checkpoint
        from vmieval.results import build_report
        from vmieval.sweep.hyperparams import hyperparameters

        if job.options.get("threads"):
            torch.set_num_threads(int(job.options["threads"]))
        model = load_checkpoint(
            job.checkpoint,
            format=job.options.get("format", "auto"),
            trust=bool(job.options.get("trust")),
            device=job.options.get("device", "cpu"),
        )
        hyper = hyperparameters(job.checkpoint, model.info.metadata, job.name_from, job.tail)
        report = build_report(model, _open_data(model, job.data), job.name, job.config)
        _write_entry(job, report, hyper, list(job.options.get("argv", [])), time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - a model's failure must not stop the sweep
        error = str(exc) if isinstance(exc, VmievalError) else f"{type(exc).__name__}: {exc}"
        error = (error.strip().splitlines() or [type(exc).__name__])[0]
        detail = "" if isinstance(exc, VmievalError) else traceback.format_exc()  # a bug: keep where it happened
        cache.record_failure(job.cache, job.key, error, detail)
        return Outcome(job.key, job.name, "failed", error, time.perf_counter() - t0, where)
    return Outcome(job.key, job.name, "done", "", time.perf_counter() - t0, where)

"""`vmieval sweep CKPTS | --from list.txt | 'runs/**/model.pt'`: report on many checkpoints, one table.

Thin: parse the same data and Q options as `report`, plan the jobs (`vmieval.sweep.plan`), run them on the
chosen executor with a progress line (done, running, failed, ETA), then show the merged table and write the
figures. Everything lands in one folder (`--out`): `cache/KEY/report.h5` per model, `sweep.h5`, `sweep.csv`,
`metric-vs-<x>.png`, `rate-plane.png`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from vmieval.cli import output
from vmieval.cli.data_options import data_choice, data_options
from vmieval.cli.option_types import SEED
from vmieval.cli.options import available_cores, checkpoint_format_option, device_option, output_options
from vmieval.cli.q_options import mi_config, q_options

from vmieval.errors import UsageError


def _executor_options(command: Any) -> Any:
    options = [
        click.option("--executor", type=click.Choice(["local", "ray", "slurm"]), default="local", show_default=True,
                     help="Where jobs run: a process pool here, Ray (pip install 'vmieval[ray]'), or SLURM through "
                     "submitit (pip install 'vmieval[slurm]')."),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Models evaluated at once. Default: local/ray: the available cores; slurm: 64."),
        click.option("--threads", type=click.IntRange(min=1), default=None,
                     help="torch threads per worker. Default: the available cores split between workers."),
        click.option("--address", default=None, help="Ray: a cluster's address (default: start Ray locally)."),
        click.option("--partition", default=None, help="SLURM partition."),
        click.option("--time", "time_min", type=click.IntRange(min=1), default=60, show_default=True,
                     help="SLURM: minutes allowed per model."),
        click.option("--gpus", type=click.IntRange(min=0), default=0, show_default=True, help="SLURM: GPUs per model."),
        click.option("--slurm-cluster", type=click.Choice(["slurm", "local", "debug"]), default=None,
                     help="submitit's backend: slurm (default when sbatch is found), local processes, or debug "
                     "(in this process)."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


@click.command("sweep")
@click.argument("checkpoints", nargs=-1)
@click.option("--from", "list_file", type=click.Path(dir_okay=False), help="A file listing checkpoints, one a line.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="sweep", show_default=True,
              help="The sweep folder (cache, sweep.h5, sweep.csv, figures); a rerun resumes it.")  # fmt: skip
@click.option("--name-from", default=None, metavar="REGEX",
              help="Hyper-parameters from the path by named groups, e.g. 'beta(?P<beta>[0-9.]+)/seed(?P<seed>\\d+)'. "
              "Default: key<number> folder names (runs/beta4/seed1 -> beta=4, seed=1).")  # fmt: skip
@click.option("--x", "x_column", default=None, help="Figure: the hyper-parameter on the x axis (default: the first "
              "that varies).")  # fmt: skip
@click.option("--metric", default=None, help="Figure: the metric (a sweep.csv column or part of its label; default: "
              "the valid decoder-side Barber-Agakov bound).")  # fmt: skip
@click.option("--series", default=None, help="Figure: one line per value of this column (e.g. entropy).")
@data_options
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of every random draw (stored).")
@checkpoint_format_option
@device_option
@click.option("--trust", is_flag=True, help="Allow loading exported models (runs their programs).")
@click.option("--no-mi", is_flag=True, help="Skip the MI estimates (the slow part).")
@q_options
@_executor_options
@output_options
def sweep_command(
    checkpoints: tuple[str, ...],
    list_file: str | None,
    out_dir: str,
    name_from: str | None,
    x_column: str | None,
    metric: str | None,
    series: str | None,
    seed: int,
    fmt: str,
    device: str,
    trust: bool,
    no_mi: bool,
    executor: str,
    workers: int | None,
    threads: int | None,
    address: str | None,
    partition: str | None,
    time_min: int,
    gpus: int,
    slurm_cluster: str | None,
    **q: Any,
) -> None:
    """Report on many checkpoints into one folder and one table (resumable, on a process pool, Ray or SLURM)."""
    from vmieval.sweep.plan import expand_checkpoints

    paths = expand_checkpoints(checkpoints, list_file)
    if name_from is not None:
        from vmieval.sweep.hyperparams import path_hyperparameters

        path_hyperparameters(paths[0], name_from)  # a bad pattern fails before any work
    choice = data_choice()
    from dataclasses import asdict

    from vmieval.cli.sweep_view import run_with_progress, show_table

    from vmieval.results import ReportConfig
    from vmieval.sweep.executors import make_executor
    from vmieval.sweep.plan import plan_jobs

    mi = None if no_mi else mi_config(q, seed, choice.split)
    config = ReportConfig(seed=seed, mi=mi, factors=_factor_config(seed))
    cores = available_cores()
    workers = workers or (64 if executor == "slurm" else max(1, min(cores, len(paths))))
    threads = threads or max(1, cores // workers if executor != "slurm" else 1)
    folder = Path(out_dir)
    options = {"format": fmt, "trust": trust, "device": device, "threads": threads, "argv": sys.argv}
    jobs = plan_jobs(paths, asdict(choice), config, folder, options, name_from)
    engine = make_executor(executor, workers, threads, address=address, folder=folder / "slurm",
                           cluster=slurm_cluster, partition=partition, time_min=time_min, gpus=gpus)  # fmt: skip
    result = run_with_progress(jobs, folder, engine, sys.argv, name_from)
    show_table(result.table)
    _figures(result.table, folder, metric, x_column, series)
    output.wrote(result.h5, f"and {result.csv.name}; per-model reports in {folder / 'cache'}")
    failed = sum(o.status == "failed" for o in result.outcomes)
    if failed:
        output.warn(f"{failed} of {len(jobs)} models failed (their errors are in the table); a rerun retries them")


def _factor_config(seed: int) -> Any:
    from vmieval.estimators.factors import FactorConfig

    return FactorConfig(seed=seed)


def _figures(table: Any, folder: Path, metric: str | None, x: str | None, series: str | None) -> None:
    from vmieval.sweep.figures import write_figures

    if x is not None and x not in table.columns:
        raise UsageError(f"--x {x!r} is not a column of the sweep table; hyper-parameters: {', '.join(table.hyper)}")
    for path in write_figures(table, folder, metric, x, series):
        output.wrote(path)

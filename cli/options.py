"""Options every command shares: `--threads`, `--format`/`--json`, `--quiet`, `--checkpoint-format`.

Each is a decorator, so a command declares them in one line and its body never handles them:
`--format`, `--json` and `--quiet` land in the context's output settings (`vmieval.cli.output`);
`--threads` wraps the command body so the choice holds exactly while the command runs.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from vmieval.cli import output

from vmieval.choices import CHECKPOINT_FORMATS

MAX_DEFAULT_THREADS = 4


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a SLURM allocation), not the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_threads() -> int:
    """$OMP_NUM_THREADS when set; else half the available cores, between 1 and 4.

    Why not torch's default (every core): on a machine shared with other jobs, a thread per core
    oversubscribes it and small CPU matmuls get several times slower (benchmarks/README.md)."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(MAX_DEFAULT_THREADS, available_cores() // 2))


@contextmanager
def use_threads(threads: int) -> Iterator[None]:
    """torch's intra-op thread count while the block runs.

    torch is not imported here (a command that fails on its arguments never needs it): before the
    import the count goes to OMP_NUM_THREADS, which torch reads when it loads; after it, to
    `torch.set_num_threads`, restored on exit (for in-process callers such as tests)."""
    torch = sys.modules.get("torch")
    if torch is None:
        os.environ["OMP_NUM_THREADS"] = str(threads)
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def threads_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """--threads N: torch threads for this command (default: `default_threads()`)."""

    @click.option(
        "--threads",
        type=click.IntRange(min=1),
        default=None,
        metavar="N",
        help=f"CPU threads for torch. Default: $OMP_NUM_THREADS, else half the available cores, "
        f"1 to {MAX_DEFAULT_THREADS} (here: {default_threads()}).",
    )
    @functools.wraps(command)
    def wrapper(*args: Any, threads: int | None, **kwargs: Any) -> Any:
        with use_threads(threads or default_threads()):
            return command(*args, **kwargs)

    return wrapper


def _set_format(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if param.name and ctx.get_parameter_source(param.name) is not click.core.ParameterSource.DEFAULT:
        output.update_settings(ctx, format=value)


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        output.update_settings(ctx, format="json")


def _set_quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    output.update_settings(ctx, quiet=value)


def output_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--format table|md|csv|json, --json (same as --format json), --quiet."""
    options = [
        click.option("--format", "output_format", type=click.Choice(output.FORMATS), default="table",
                     show_default=True, expose_value=False, callback=_set_format,
                     help="How stdout shows the result: a table, Markdown (to paste), CSV or JSON."),
        click.option("--json", is_flag=True, expose_value=False, callback=_set_json,
                     help="Same as --format json."),
        click.option("--quiet", "-q", is_flag=True, expose_value=False, callback=_set_quiet,
                     help="No progress or informational lines on stderr (warnings and errors still show)."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def checkpoint_format_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """--checkpoint-format (passed to the command as `fmt`)."""
    return click.option(
        "--checkpoint-format",
        "fmt",
        type=click.Choice(CHECKPOINT_FORMATS),
        default="auto",
        show_default=True,
        help="How to read the checkpoint: detect it, or name its format.",
    )(command)


def common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of every command: --threads, --format, --json, --quiet."""
    return threads_option(output_options(command))


def device_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """--device auto|cpu|cuda (passed to the command as `device`; resolved once, by the command)."""
    return click.option(
        "--device",
        type=click.Choice(("auto", "cpu", "cuda")),
        default="auto",
        show_default=True,
        help="Where the networks run: CUDA when torch sees one (auto), or the named device. "
        "Estimators reduce over images on the CPU in float64 either way.",
    )(command)

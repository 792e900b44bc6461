"""`vmieval merge SWEEP_OR_REPORT ... --out FOLDER`: one table from sweep folders and report.h5 files.

Thin: `vmieval.sweep.merge.merge_paths` reads the files (never recomputes), `write_table` writes `sweep.h5` and
`sweep.csv`, `write_figures` the figures; the table is shown as `vmieval sweep` shows it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from vmieval.cli import output
from vmieval.cli.options import output_options

from vmieval.errors import UsageError


@click.command("merge")
@click.argument("sources", nargs=-1, type=click.Path(exists=True))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write sweep.h5, sweep.csv and the figures here (default: only show the table).")  # fmt: skip
@click.option("--name-from", default=None, metavar="REGEX",
              help="Hyper-parameters from checkpoint paths by named groups (reports that stored none).")  # fmt: skip
@click.option("--x", "x_column", default=None, help="Figure: the hyper-parameter on the x axis.")
@click.option("--metric", default=None, help="Figure: the metric (a column, or part of its label).")
@click.option("--series", default=None, help="Figure: one line per value of this column.")
@output_options
def merge_command(
    sources: tuple[str, ...],
    out_dir: str | None,
    name_from: str | None,
    x_column: str | None,
    metric: str | None,
    series: str | None,
) -> None:
    """Merge sweep folders or report.h5 files into one table (sweep.h5, sweep.csv) without recomputing."""
    if not sources:
        raise UsageError("give sweep folders or report.h5 files: vmieval merge sweep-a sweep-b --out merged")
    from vmieval.cli.sweep_view import show_table

    from vmieval.sweep.figures import write_figures
    from vmieval.sweep.merge import merge_paths
    from vmieval.sweep.table import write_table

    table = merge_paths(list(sources), name_from)
    show_table(table)
    if out_dir is not None:
        h5, out_csv = write_table(table, out_dir, sys.argv)
        output.wrote(h5, f"and {out_csv.name}")
        for path in write_figures(table, Path(out_dir), metric, x_column, series):
            output.wrote(path)

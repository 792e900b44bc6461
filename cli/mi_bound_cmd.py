"""`vmieval mi-bound CKPT`: how much a checkpoint's latent target says about its images, as bounds.

Thin: parse, load the checkpoint and the data, call `vmieval.estimators.estimate_mi`, render.
Rows go to stdout (a table in any `--format`, or the JSON document with `--json`); progress, warnings
and "wrote ..." go to stderr, so `--json` output stays machine-readable. `--out` saves the document as HDF5.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from vmieval.cli import output
from vmieval.cli.collector import collector_paused, import_dynamo_paused
from vmieval.cli.data_options import data_choice, data_options, open_for_models
from vmieval.cli.option_types import SEED
from vmieval.cli.options import checkpoint_format_option, common_options, device_option
from vmieval.cli.progress import phase_callback, progress
from vmieval.cli.q_options import mi_config, q_options

from vmieval.outputs import check_model_names, check_writable

if TYPE_CHECKING:  # torch-importing modules are imported where used, so --help stays instant
    from vmieval.estimators import MIResult


def _fmt(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{value:.4f}"


def rows_table(result: MIResult, title: str) -> output.Table:
    """estimand | side | kind | estimate ± stderr | estimator | n | split; invalid rows marked †,
    rows with a note (a flag such as a Q still improving at its cap) marked *; the notes as footnotes."""
    columns = [output.Column("quantity"), output.Column("side"), output.Column("kind")]
    columns += [output.Column("estimate (nats)", "right"), output.Column("estimator")]
    columns += [output.Column("n", "right"), output.Column("split")]
    rows: list[list[output.Cell]] = []
    for e in result.estimates():
        cell = output.Styled(((_fmt(e.value), ""), (f" ± {_fmt(e.stderr)}", "dim")))
        kind = e.kind.replace("_", " ") + ("" if e.valid else " †") + (" *" if e.flags else "")
        rows.append([e.estimand, e.side, kind, cell, e.estimator, str(e.n), e.split])
    styles = ["dim" if not e.valid else "" for e in result.estimates()]
    notes = sorted({e.note for e in result.estimates() if e.note})
    footnotes = [("† " if "not a valid" in n else "* ") + n for n in notes]
    return output.Table(title, columns, rows, footnotes, row_styles=styles)


@click.command("mi-bound")
@click.argument("checkpoint", type=click.Path())  # a file, or a pythae model folder
@q_options
@data_options
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of every random draw (stored).")
@checkpoint_format_option
@device_option
@click.option("--trust", is_flag=True, help="Allow running the programs of an exported archive.")
@click.option(
    "--out",
    type=click.Path(),  # an existing folder here is exit 6 from the output check
    default=None,
    metavar="FILE.h5",
    help="Also write the rows to this HDF5 FILE (report's --out is a folder: it writes PNGs too).",
)
@click.option(
    "--name",
    "model_name",
    default=None,
    metavar="NAME",
    help="The model's name in the table and the file (default: the checkpoint's file name).",
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@common_options
def mi_bound_command(
    checkpoint: str,
    seed: int,
    fmt: str,
    device: str,
    trust: bool,
    out: str | None,
    model_name: str | None,
    force: bool,
    **q: Any,
) -> None:
    """Lower bounds on I(target; decoded image) and the encoder's I_q(x; target) for CHECKPOINT."""
    choice = data_choice()
    config = mi_config(q, seed, choice.split)  # validates every value: a bad one is a one-line UsageError
    # torch arrives with these: imported after the options are validated, so a usage error is instant
    with collector_paused():
        from vmieval.checkpoints import load_checkpoint
        from vmieval.devices import resolve_device
        from vmieval.encoded import encode_split
        from vmieval.estimators import estimate_mi
        from vmieval.results import ModelMeta, mi_document, stage_generator, to_json, unique_names, write_document

    where = str(resolve_device(device))  # once, before any work: --device cuda without CUDA is exit 2
    if out is not None:
        check_writable(out, force)
        # the name is the HDF5 group: refuse `..pt` before the work
        check_model_names([model_name or Path(checkpoint).stem])
    model = load_checkpoint(checkpoint, format=fmt, trust=trust, device=where)
    data = open_for_models([model], choice)  # streamed
    import_dynamo_paused()
    with progress() as bar:
        report = phase_callback(bar)  # one step per phase; every step ends finished
        report("encode", 0, 1)
        # the report's MI stage generator: same checkpoint, data, options and seed give the report's rows
        result = estimate_mi(model, encode_split(model, data), config, stage_generator(seed, "mi"), report)
    for warning in result.warnings:
        output.warn(warning)
    name = unique_names([model_name or Path(checkpoint).stem])[0]
    tree = mi_document(result, ModelMeta.from_model(model, name, seed, data), argv=sys.argv)
    if out is not None:
        write_document(out, tree, force=force)
        output.wrote(out)
    title = f"{name}: {data.name} {data.split} (N={len(data)}), target {result.target}, {config.codes} codes"
    output.emit([rows_table(result, title)], document=to_json(tree))

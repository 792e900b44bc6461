"""`vmieval report CKPT` and `vmieval report --compare A.pt B.pt ...`: the full report of one or
several models on one split (MI estimates, ELBO and KL, cluster scores, contingency, traversals,
training curves) as a table, PNG grids and `report.h5`.

Thin: parse options, load models and data, call `vmieval.results`, render.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import click
from vmieval.cli import output
from vmieval.cli.collector import collector_paused, import_dynamo_paused
from vmieval.cli.data_options import data_choice, data_options, open_for_models
from vmieval.cli.option_types import SEED
from vmieval.cli.options import checkpoint_format_option, common_options, device_option
from vmieval.cli.progress import progress
from vmieval.cli.q_options import mi_config, q_options

from vmieval.errors import UsageError


def _two_dims(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        a, b = (int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--traverse-dims takes two dimension numbers like 0,1; got {text!r}") from None
    return a, b


def _default_out(names: list[str]) -> Path:
    return Path("reports") / ("-vs-".join(names) if len(names) > 1 else names[0])


@click.command("report")
@click.argument("checkpoints", nargs=-1, type=click.Path())  # files, or pythae model folders
@click.option(
    "--compare",
    "compare_mode",
    is_flag=True,
    help="Compare two or more checkpoints side by side (implied by giving more than one).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(),  # a file here is exit 6 from the output check, as every output problem
    metavar="FOLDER",
    help="Output FOLDER for report.h5 and the PNGs (default: reports/<name>/; with --json and no --out "
    "nothing is written).",
)
@click.option(
    "--name",
    "model_names",
    multiple=True,
    metavar="NAME",
    help="Name of a model in tables, files and report.h5, once per checkpoint in order (default: the "
    "file name, with the differing folders added when two are the same).",
)
@data_options
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of every random draw (stored).")
@checkpoint_format_option
@device_option
@click.option("--trust", is_flag=True, help="Allow loading exported models (runs their programs).")
@click.option("--force", is_flag=True, help="Overwrite an existing report in the output folder.")
@click.option(
    "--no-mi",
    is_flag=True,
    help="Skip the decoder-side bounds (fitting Q: the slow part); the encoder-side MI is kept.",
)
@q_options
@click.option(
    "--traverse-dims",
    metavar="A,B",
    help="The two Gaussian dims of the grid traversal (paper Fig 2). Default: the two highest-KL dims "
    "(of the first model: a comparison draws every model on the same dims).",
)
@common_options
def report_command(
    checkpoints: tuple[str, ...],
    compare_mode: bool,
    out_dir: str | None,
    model_names: tuple[str, ...],
    seed: int,
    fmt: str,
    device: str,
    trust: bool,
    force: bool,
    no_mi: bool,
    traverse_dims: str | None,
    **q: Any,
) -> None:
    """Report on CHECKPOINT: MI bounds beside KL, ELBO, cluster accuracy, contingency, traversals.

    Several checkpoints (`vmieval report a.pt b.pt`) are compared: a column per model and the
    differences to the first, ± their standard errors. Written to --out FOLDER (report.h5 and PNGs)."""
    if not checkpoints:
        raise UsageError("give a checkpoint: vmieval report CKPT, or vmieval report A.pt B.pt to compare")
    if compare_mode and len(checkpoints) < 2:
        raise UsageError("--compare needs two or more checkpoints")
    if model_names and len(model_names) != len(checkpoints):
        raise UsageError(f"got {len(model_names)} --name for {len(checkpoints)} checkpoints; give one per checkpoint")
    # torch arrives with these: imported after the argument checks, so a usage error is instant
    with collector_paused():  # their ~250k objects live until exit: frozen, no collection walks them
        from vmieval.cli.render import report_view

        from vmieval.analysis.traversals import TraversalConfig, check_traversal_config
        from vmieval.checkpoints import load_checkpoint
        from vmieval.devices import resolve_device
        from vmieval.estimators.factors import FactorConfig
        from vmieval.results import (
            ReportConfig,
            build_report,
            check_outputs,
            compare,
            document,
            same_traversals,
            to_json,
            unique_names,
            write_outputs,
        )
    where = str(resolve_device(device))  # once, before any work: --device cuda without CUDA is exit 2
    choice = data_choice()
    mi = mi_config(q, seed, choice.split)  # mi-bound's policy and defaults; a bad value fails here
    if no_mi:  # the encoder side (exact I_q(x; c), KL bounds) is cheap and kept
        mi = dataclasses.replace(mi, q_bound=False)
    if len(set(model_names)) < len(model_names):
        raise UsageError("--name: every model needs its own name")
    stems = list(model_names) or [Path(c).stem for c in checkpoints]
    names = unique_names(stems, None if model_names else list(checkpoints))
    writes = out_dir is not None or not output.wants_json()  # --json alone prints the document, writes nothing
    out = Path(out_dir) if out_dir else _default_out(names)
    if writes:
        out = check_outputs(out, names, force)  # the one output check, before any work

    models = [load_checkpoint(c, format=fmt, trust=trust, device=where) for c in checkpoints]
    data = open_for_models(models, choice)  # streamed
    config = ReportConfig(
        seed=seed,
        mi=mi,
        traversal=TraversalConfig(dims=_two_dims(traverse_dims)),
        factors=FactorConfig(seed=seed),
    )
    for model in models:
        check_traversal_config(model.spec, config.traversal)
    if not no_mi:  # after the inputs are accepted: a refused file never pays for it
        import_dynamo_paused()
    reports = []
    with progress() as bar:
        task = bar.add_task("report", total=len(models), status="")

        def show(message: str) -> None:
            bar.update(task, description=message)

        for model, name in zip(models, names, strict=True):
            same = same_traversals(config, reports[0], model) if reports else config  # A's dims for B
            reports.append(build_report(model, data, name, same, progress=show))
            if no_mi:
                reports[-1].notes["mi"] = "decoder-side bounds skipped (--no-mi); the encoder-side rows are kept"
            bar.advance(task)
        bar.update(task, description="writing")
    if not writes:
        output.emit([], document=to_json(document(reports, sys.argv)))
        return
    written = write_outputs(reports, out, argv=sys.argv, force=force)
    output.emit(report_view(compare(reports), reports), document=to_json(written.document))
    output.wrote(written.h5, f"{len(written.pngs)} PNGs beside it")

"""`vmieval train-reference`: train a preset's reference VAE (or its ELBO/MI pair) into native checkpoints.

Thin: builds a `TrainConfig` from the preset and the options, calls the trainer, shows its
progress on stderr and the last epoch's numbers as a table on stdout ("wrote ..." on stderr).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from vmieval.cli import output
from vmieval.cli.option_types import SEED
from vmieval.cli.options import common_options
from vmieval.cli.progress import progress
from vmieval.trainers import PRESETS

from vmieval.errors import OutputError, UsageError
from vmieval.outputs import check_output_folder

if TYPE_CHECKING:
    from vmieval.trainers import TrainEvent, TrainResult


def _progress_callback(bar: Any) -> Any:
    tasks: dict[str, Any] = {}

    def on_event(event: TrainEvent) -> None:
        if event.kind == "start":
            tasks[event.label] = bar.add_task(event.label, total=max(1, event.total), status="")
        elif event.kind == "step":
            bar.update(tasks[event.label], completed=event.step, status=event.status)
        elif event.record is not None:
            r = event.record
            bar.update(tasks[event.label], status=f"epoch {r['epoch']}  ELBO {r['elbo']:.1f}  MI {r['mi_bound']:.2f}")

    return on_event


def results_table(results: list[TrainResult]) -> output.Table:
    """The last epoch of each model (one column per model): held-out ELBO, KL per block, MI bound,
    exact I_q(x; c) per categorical block."""
    lasts = [res.last for res in results]
    blocks = list(lasts[0].get("kl", {})) if lasts[0] else []
    categorical = list(lasts[0].get("iq_exact", {})) if lasts[0] else []
    rows: list[list[str]] = []

    def row(name: str, value: Any) -> None:
        rows.append([name, *(value(last) if last else "-" for last in lasts)])

    row("epochs", lambda r: str(r["epoch"]))
    row("ELBO", lambda r: f"{r['elbo']:.2f}")
    row("recon E log p(x|z)", lambda r: f"{r['recon']:.2f}")
    for b in blocks:
        row(f"KL {b}", lambda r, b=b: f"{r['kl'][b]:.3f}")
    row("MI bound (training Q)", lambda r: f"{r['mi_bound']:.3f}")
    if any(res.config.entropy != "aggregate" for res in results):
        row("MI bound, aggregate H", lambda r: f"{r['mi_bound_aggregate']:.3f}")
    for name in categorical:
        row(f"I_q(x;{name}) exact", lambda r, name=name: f"{r['iq_exact'][name]:.3f}")
    columns = [output.Column(""), *(output.Column(res.config.label(), "right") for res in results)]
    return output.Table("last epoch, held-out test images (nats per image)", columns, rows)


def results_document(results: list[TrainResult]) -> dict[str, Any]:
    """`--format json`: per model, the checkpoint written and its last epoch's record."""
    models = [
        {"label": res.config.label(), "checkpoint": str(res.path), "device": str(res.device), "last_epoch": res.last}
        for res in results
    ]
    return {"models": models}


@click.command("train-reference")
@click.option("--preset", required=True, type=click.Choice(list(PRESETS)), metavar="PRESET",
              help=f"The paper setting to train: {', '.join(PRESETS)}.")  # fmt: skip
@click.option("--objective", type=click.Choice(["elbo", "mi"]), default=None,
              help="The ELBO alone, or the ELBO plus the MI term (default: mi).")  # fmt: skip
@click.option("--pair", is_flag=True, help="Train the ELBO and the MI model from identical initial weights.")
@click.option("--lam", type=float, default=None, help="Weight of the MI term (MI objective).")
@click.option("--entropy", type=click.Choice(["prior", "aggregate"]), default=None, help="H(c) in the MI bound.")
@click.option("--epochs", type=int, default=None, help="Training epochs (default: the preset's).")
@click.option("--iterations", type=int, default=None, help="Iteration budget of a *-paper preset (default 150000).")
@click.option("--beta-z", type=float, default=None, help="KL weight of the Gaussian block(s) in training (default 1).")
@click.option("--beta-z-anneal-epochs", type=int, default=None, help="Decay --beta-z linearly to 1 over N epochs.")
@click.option(
    "--consistency",
    type=float,
    default=None,
    help="Weight of the augmentation-consistency term on c, KL(q(c|x) || q(c|moved x)) (MI objective; default 0).",
)
@click.option("--batch-size", type=int, default=None, help="Images per step (default: the preset's).")
@click.option("--lr", type=float, default=None, help="Adam learning rate (default: the preset's).")
@click.option("--seed", type=SEED, default=None, help="Seed of the initial weights and every draw (default: preset's).")
@click.option("--architecture", type=click.Choice(["mlp", "conv"]), default=None,
              help="Encoder/decoder networks (default: the preset's).")  # fmt: skip
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Folder holding the dataset.")
@click.option("--download", is_flag=True, help="Download the dataset (torchvision) if it is not found.")
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default=None,
    help="Where training runs: CUDA when torch sees one (auto), or the named device.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(),  # a file here is exit 6 from the output check
    default="runs",
    show_default=True,
    metavar="FOLDER",
    help="Output folder: the checkpoints are written into it as <preset>-<objective>.pt.",
)
@click.option("--resume", is_flag=True, help="Continue from the last finished epoch of existing checkpoints.")
@click.option("--limit", type=int, default=None, help="Use only the first N training images (quick runs).")
@click.option("--force", is_flag=True, help="Overwrite existing checkpoints.")
@common_options
def train_command(
    preset: str,
    objective: str | None,
    pair: bool,
    out_dir: str,
    resume: bool,
    force: bool,
    download: bool,
    **overrides: Any,
) -> None:
    """Train the reference VAE(s) of a paper preset into OUT/<preset>-<objective>.pt."""
    from vmieval.trainers import resolve_config  # presets only: no torch yet

    if pair and objective is not None:
        raise UsageError("--pair trains both objectives; drop --objective")
    config = resolve_config(preset, objective=objective, **overrides)
    out = check_output_folder(out_dir)  # a file on the way, /proc, a name too long: refused before any work
    # torch arrives with these: imported after the checks above, so a usage error is instant
    from vmieval.trainers import train, train_pair

    from vmieval.data import fetch_dataset

    if download:
        fetch_dataset(config.dataset, config.data_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create --out {out}: {exc.strerror or exc}") from None
    with progress() as bar:
        callback = _progress_callback(bar)
        if pair:
            results = list(train_pair(config, out, resume=resume, force=force, callback=callback))
        else:
            results = [train(config, out / f"{config.label()}.pt", resume=resume, force=force, callback=callback)]
    output.emit([results_table(results)], document=results_document(results))
    for res in results:
        output.wrote(res.path, f"resume state: {res.resume_path.name}, device {res.device}")

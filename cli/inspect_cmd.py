"""`vmieval inspect FILE`: what a checkpoint is, read without building a model or running code."""

from __future__ import annotations

import json

import click
from rich.table import Table
from vmieval.cli.console import stdout

from vmieval.checkpoints import describe_checkpoint


@click.command("inspect")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def inspect_command(checkpoint: str, as_json: bool) -> None:
    """Describe CHECKPOINT: format, architecture, latent spec, training record."""
    info = describe_checkpoint(checkpoint)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    meta = info.get("metadata", {})
    table = Table(title=f"{checkpoint}", show_header=False)
    table.add_row("format", str(info.get("format")))
    arch = meta.get("architecture", {})
    if arch:
        table.add_row("architecture", f"{arch.get('name')} {json.dumps(arch.get('config', {}))}")
    spec = meta.get("spec", {})
    if spec:
        table.add_row("observation", "x".join(map(str, spec.get("observation_shape", []))))
        table.add_row("likelihood", str(spec.get("likelihood")))
        blocks = ", ".join(f"{b['kind']}({b['name']}, {b['size']})" for b in spec.get("blocks", []))
        table.add_row("latent blocks", blocks)
    for key in ("parameters", "tensors"):
        if key in info:
            table.add_row(key, f"{info[key]:,}")
    training = meta.get("training") or {}
    for key in ("preset", "objective", "lam", "entropy", "seed", "epochs_done", "dataset"):
        if key in training:
            table.add_row(f"training.{key}", str(training[key]))
    stdout.print(table)

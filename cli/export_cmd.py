"""`vmieval export --module-file FILE.py:FUNCTION OUT.pt2`: package a user's own VAE for evaluation.

Thin: parse options, call `vmieval.export.export_from_file`, show what was written.
"""

from __future__ import annotations

import json

import click
from rich.table import Table
from vmieval.cli.console import stderr, stdout

from vmieval.checkpoints.exported import read_exported_metadata
from vmieval.errors import UsageError
from vmieval.export import export_from_file


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{option} takes KEY=VALUE, got {item!r}")
        out[key] = value
    return out


@click.command("export")
@click.argument("output", type=click.Path(dir_okay=False))
@click.option(
    "--module-file",
    "target",
    required=True,
    metavar="FILE.py:FUNCTION",
    help="A Python file and a function in it returning (spec, encoder, decoder). Runs your file's code.",
)
@click.option(
    "--spec", "spec_file", type=click.Path(dir_okay=False), help="Model spec JSON (overrides the function's)."
)
@click.option("--arg", "args", multiple=True, metavar="KEY=VALUE", help="Keyword argument for FUNCTION (repeatable).")
@click.option("--meta", "meta", multiple=True, metavar="KEY=VALUE", help="Metadata stored in the archive (repeatable).")
@click.option(
    "--decoder-output",
    type=click.Choice(["logits", "probabilities"]),
    default=None,
    help="What a Bernoulli decoder returns; 'probabilities' (a final sigmoid) is converted to logits. "
    "Unset: outputs that all lie in [0, 1] are refused.",
)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the archive's metadata as JSON.")
def export_command(
    output: str,
    target: str,
    spec_file: str | None,
    args: tuple[str, ...],
    meta: tuple[str, ...],
    force: bool,
    as_json: bool,
    decoder_output: str | None,
) -> None:
    """Export your own VAE to OUTPUT (a zip of torch.export programs plus vmieval.json)."""
    path = export_from_file(
        target,
        output,
        spec_file=spec_file,
        args=_pairs(args, "--arg"),
        metadata=_pairs(meta, "--meta"),
        force=force,
        decoder_output=decoder_output,
    )
    info = read_exported_metadata(path)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    spec = info["spec"]
    table = Table(title=str(path), show_header=False)
    table.add_row("format", info["format"])
    table.add_row("observation", "x".join(map(str, spec["observation_shape"])))
    table.add_row("likelihood", str(spec["likelihood"]))
    table.add_row("latent blocks", ", ".join(f"{b['kind']}({b['name']}, {b['size']})" for b in spec["blocks"]))
    for name, entry in info["programs"].items():
        table.add_row(f"{name} program", f"{entry['bytes']:,} bytes, sha256 {entry['sha256'][:16]}…")
    stdout.print(table)
    stderr.print("loading it runs the exported programs: pass --trust to commands that read it")

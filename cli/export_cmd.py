"""`vmieval export --module-file FILE.py:FUNCTION OUT.pt2`: package a user's own VAE for evaluation.

Thin: parse options, call `vmieval.export.export_from_file`, show what was written.
"""

from __future__ import annotations

import click
from vmieval.cli import output
from vmieval.cli.options import common_options

from vmieval.errors import UsageError


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{option} takes KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def archive_table(path: str, info: dict) -> output.Table:
    spec = info["spec"]
    rows = [
        ("format", info["format"]),
        ("observation", "x".join(map(str, spec["observation_shape"]))),
        ("likelihood", str(spec["likelihood"])),
        ("latent blocks", ", ".join(f"{b['kind']}({b['name']}, {b['size']})" for b in spec["blocks"])),
    ]
    for name, entry in info["programs"].items():
        rows.append((f"{name} program", f"{entry['bytes']:,} bytes, sha256 {entry['sha256'][:16]}…"))
    return output.Table(path, (output.Column("field"), output.Column("value")), rows, show_header=False)


@click.command("export")
@click.argument("output_path", metavar="OUTPUT", type=click.Path(dir_okay=False))
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
@click.option(
    "--max-batch",
    type=click.IntRange(min=2),
    default=None,
    metavar="N",
    help="Cap the programs' batch size at N, for a model torch.export cannot trace at any batch size "
    "(its message then suggests the N). Default: any size.",
)
@click.option(
    "--likelihood",
    type=click.Choice(["bernoulli", "gaussian"]),
    default=None,
    help="Override the spec's likelihood: gaussian for a model trained with an MSE loss (with --sigma).",
)
@click.option(
    "--sigma",
    type=float,
    default=None,
    metavar="S",
    help="Fixed scale of the Gaussian likelihood. For a loss mean-MSE + w * KL over D = C*H*W values, "
    "S = sqrt(D * w / 2) (docs/checkpoints.md).",
)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@common_options
def export_command(
    output_path: str,
    target: str,
    spec_file: str | None,
    args: tuple[str, ...],
    meta: tuple[str, ...],
    force: bool,
    decoder_output: str | None,
    max_batch: int | None,
    likelihood: str | None,
    sigma: float | None,
) -> None:
    """Export your own VAE to OUTPUT (a zip of torch.export programs plus vmieval.json).

    FUNCTION in FILE.py returns (spec, encoder, decoder); the spec names the latent blocks, the
    likelihood and the data's value range (docs/checkpoints.md). An MSE-trained model: --likelihood
    gaussian --sigma S; a tanh decoder: "value_range": [-1, 1] in the spec."""
    kwargs, metadata = _pairs(args, "--arg"), _pairs(meta, "--meta")  # checked before torch is imported
    from vmieval.checkpoints.exported import read_exported_metadata
    from vmieval.export import export_from_file

    path = export_from_file(
        target,
        output_path,
        spec_file=spec_file,
        args=kwargs,
        metadata=metadata,
        force=force,
        decoder_output=decoder_output,
        max_batch=max_batch,
        likelihood=likelihood,
        sigma=sigma,
        warn=output.warn,
    )
    info = read_exported_metadata(path)
    output.emit([archive_table(str(path), info)], document=info)
    output.wrote(path, "loading it runs the exported programs: pass --trust to commands that read it")

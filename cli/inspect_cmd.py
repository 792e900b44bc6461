"""`vmieval inspect FILE`: what a checkpoint is, read without building a model or running code.

Imports only the checkpoint reader (torch, for `torch.load(weights_only=True)`), nothing that
estimates or trains, so it answers in about the time of `import torch`.
"""

from __future__ import annotations

import json

import click
from vmieval.cli import output
from vmieval.cli.options import checkpoint_format_option, common_options


def describe_table(checkpoint: str, info: dict) -> output.Table:
    """format, architecture, spec, sizes and the training record, one row each."""
    meta = info.get("metadata", {})
    rows: list[tuple[str, str]] = [("format", str(info.get("format")))]
    arch = meta.get("architecture", {})
    if arch:
        rows.append(("architecture", f"{arch.get('name')} {json.dumps(arch.get('config', {}))}"))
    spec = meta.get("spec", {})
    if spec:
        rows.append(("observation", "x".join(map(str, spec.get("observation_shape", [])))))
        rows.append(("likelihood", str(spec.get("likelihood"))))
        rows.append(
            ("latent blocks", ", ".join(f"{b['kind']}({b['name']}, {b['size']})" for b in spec.get("blocks", [])))
        )
    rows += [(key, f"{info[key]:,}") for key in ("parameters", "tensors") if key in info]
    training = meta.get("training") or {}
    for key in ("preset", "objective", "lam", "entropy", "seed", "epochs_done", "dataset"):
        if key in training:
            rows.append((f"training.{key}", str(training[key])))
    return output.Table(checkpoint, (output.Column("field"), output.Column("value")), rows, show_header=False)


@click.command("inspect")
@click.argument("checkpoint", type=click.Path())  # a file, or a pythae model folder
@checkpoint_format_option
@common_options
def inspect_command(checkpoint: str, fmt: str) -> None:
    """Describe CHECKPOINT: format, architecture, latent spec, training record.

    Reads the file without building the model or running any of its code. CHECKPOINT is a file
    (native .pt, JointVAE state dict, `vmieval export` archive) or a pythae model folder."""
    from vmieval.checkpoints import describe_checkpoint

    info = describe_checkpoint(checkpoint, fmt)
    output.emit([describe_table(checkpoint, info)], document=info)

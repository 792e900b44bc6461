"""Export any user's VAE into the exported checkpoint tier (see vmieval/checkpoints/exported.py).

`export_model` turns an encoder and a decoder (modules, bound methods or plain callables) into two
`torch.export` programs with a dynamic batch dimension, checks that the programs reproduce the eager
outputs at two batch sizes, and writes one zip archive atomically. The contract the programs obey:
    encoder(x [B, C, H, W] in spec.value_range) -> [B, spec.param_width]
        block order of the spec; a Gaussian block gives [mean (d), log-variance (d)], a categorical
        block its logits (k) (unnormalised log-probabilities: take the log of probabilities)
    decoder(latent [B, spec.latent_width]) -> [B, C, H, W]
        Bernoulli logits (strip a final sigmoid) or Gaussian means
Encoders that return `(mean, logvar, logits)` tuples or `{block name: tensor | (mean, logvar)}` dicts
are flattened by `FlatEncoder`; a decoder returning flat [B, C*H*W] images is reshaped.

`export_from_file` is the command line's path: it imports a user's Python file and calls a function in
it that returns `(spec, encoder, decoder)` (docs/checkpoints.md has a worked example).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import json
import math
import re
import sys
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vmieval.checkpoints.exported import FORMAT, METADATA_MEMBER, PROGRAM_MEMBERS, SCHEMA_VERSION
from vmieval.distributions import concat_latent, sample_prior
from vmieval.errors import CheckpointError, UsageError, VmievalError, first_line
from vmieval.outputs import atomic_write, check_writable
from vmieval.spec import ModelSpec

Net = nn.Module | Callable[[torch.Tensor], Any]


def flatten_posterior(spec: ModelSpec, out: Any) -> torch.Tensor:
    """An encoder's output as the flat [B, P] vector: a tensor, a tuple/list, or a dict by block name."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, Mapping):
        pieces: list[torch.Tensor] = []
        for block in spec.blocks:
            if block.name not in out:
                raise UsageError(f"encoder output dict has no entry for block {block.name!r}")
            value = out[block.name]
            if isinstance(value, Mapping):
                value = [value["mean"], value["logvar"]] if block.kind == "gaussian" else value["logits"]
            pieces.extend(value if isinstance(value, list | tuple) else [value])
        return torch.cat([p.flatten(1) for p in pieces], dim=1)
    if isinstance(out, list | tuple):
        return torch.cat([flatten_posterior(spec, o).flatten(1) for o in out], dim=1)
    raise UsageError(f"encoder returned a {type(out).__name__}; return a tensor, a tuple or a dict of tensors")


class FlatEncoder(nn.Module):
    """Adapts an encoder returning tuples or dicts (see `flatten_posterior`) to the flat contract."""

    def __init__(self, spec: ModelSpec, encoder: Net) -> None:
        super().__init__()
        self.spec = spec
        self.encoder = as_module(encoder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return flatten_posterior(self.spec, self.encoder(x))


class _ImageDecoder(nn.Module):
    """Reshapes a decoder's flat [B, C*H*W] output to [B, C, H, W]; passes image tensors through."""

    def __init__(self, spec: ModelSpec, decoder: Net) -> None:
        super().__init__()
        self.shape = tuple(spec.observation_shape)
        self.decoder = as_module(decoder)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        out = self.decoder(latent)
        if out.dim() == 2 and out.shape[1] == math.prod(self.shape):
            out = out.view(-1, *self.shape)
        return out


class _ProbabilitiesToLogits(nn.Module):
    """Turns a decoder that ends in a sigmoid back into Bernoulli logits (`torch.logit`, clamped)."""

    eps = 1e-6

    def __init__(self, decoder: nn.Module) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.logit(self.decoder(latent), eps=self.eps)


class _Method(nn.Module):
    """A bound method of a module (`model.encode`): the owner is registered, so its weights are parameters."""

    def __init__(self, owner: nn.Module, name: str) -> None:
        super().__init__()
        self.owner = owner
        self.method = name

    def forward(self, x: torch.Tensor) -> Any:
        return getattr(self.owner, self.method)(x)


class _Function(nn.Module):
    """Any other callable; tensors it closes over are exported as constants."""

    def __init__(self, fn: Callable[[torch.Tensor], Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> Any:
        return self.fn(x)


def as_module(net: Net) -> nn.Module:
    if isinstance(net, nn.Module):
        return net
    owner = getattr(net, "__self__", None)
    if isinstance(owner, nn.Module) and hasattr(net, "__name__"):
        return _Method(owner, net.__name__)
    if callable(net):
        return _Function(net)
    raise UsageError(f"expected a module or a callable, got a {type(net).__name__}")


def _example_inputs(spec: ModelSpec, example_input: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(x [B, C, H, W], latent [B, L]) for tracing; seeded, so an export is reproducible."""
    gen = torch.Generator().manual_seed(0)
    if example_input is None:
        lo, hi = spec.value_range
        example_input = lo + (hi - lo) * torch.rand(2, *spec.observation_shape, generator=gen)
    if example_input.dim() != 4 or tuple(example_input.shape[1:]) != tuple(spec.observation_shape):
        raise UsageError(
            f"example input has shape {tuple(example_input.shape)}, the spec needs [B, {spec.observation_shape}]"
        )
    if example_input.shape[0] < 2:
        example_input = example_input.expand(2, *spec.observation_shape)  # batch 1 would be specialised
    x = example_input.detach().float().cpu().contiguous()
    return x, concat_latent(spec, sample_prior(spec, x.shape[0], gen))


def _run(part: str, module: nn.Module, inp: torch.Tensor) -> Any:
    try:
        with torch.no_grad():
            return module(inp)
    except (RuntimeError, ValueError, IndexError, TypeError) as exc:
        raise UsageError(
            f"the {part} fails on a {list(inp.shape)} input ({first_line(exc, 300)}); does the spec match the model?"
        ) from None


def _check_eager(spec: ModelSpec, encoder: nn.Module, decoder: nn.Module, x: torch.Tensor, z: torch.Tensor) -> None:
    """Shapes and finiteness of one eager pass, with messages that say which half and how to fix it."""
    for part, mod in (("encoder", encoder), ("decoder", decoder)):
        if any(t.device.type != "cpu" for t in [*mod.parameters(), *mod.buffers()]):
            raise UsageError(f"the {part} has weights off the CPU; call .cpu() before exporting")
    params, images = _run("encoder", encoder, x), _run("decoder", decoder, z)
    want = (x.shape[0], spec.param_width)
    if not isinstance(params, torch.Tensor) or tuple(params.shape) != want:
        got = tuple(params.shape) if isinstance(params, torch.Tensor) else type(params).__name__
        layout = ", ".join(f"{b.name}: {b.param_width}" for b in spec.blocks)
        raise UsageError(f"encoder returns {got}, the spec needs {want} ({layout}) in block order")
    if not isinstance(images, torch.Tensor) or tuple(images.shape) != (x.shape[0], *spec.observation_shape):
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        need = (x.shape[0], *spec.observation_shape)
        raise UsageError(f"decoder returns {got} for a [B, {spec.latent_width}] latent; the spec needs images {need}")
    if not (bool(torch.isfinite(params).all()) and bool(torch.isfinite(images).all())):
        raise UsageError("the model produces NaN/Inf on the example input")


def looks_like_probabilities(spec: ModelSpec, decoder: nn.Module) -> bool:
    """True when every output of a Bernoulli decoder on prior samples lies in [0, 1].

    Why: the spec promises logits; a decoder that ends in a sigmoid still exports, but every ELBO and
    likelihood computed from it is wrong (the sigmoid is applied twice). Trained logits are strongly
    negative on background pixels, so outputs confined to [0, 1] over a batch of prior samples mean
    probabilities, not logits.
    """
    if spec.likelihood != "bernoulli":
        return False
    z = concat_latent(spec, sample_prior(spec, 16, torch.Generator().manual_seed(1)))
    images = _run("decoder", decoder, z)
    return bool(((images >= 0) & (images <= 1)).all())


def _decoder_in_logits(spec: ModelSpec, decoder: nn.Module, decoder_output: str | None) -> nn.Module:
    """The decoder as the spec's contract wants it; refuses to guess when its outputs look like probabilities."""
    if decoder_output == "probabilities":
        return _ProbabilitiesToLogits(decoder).eval()
    if decoder_output not in (None, "logits"):
        raise UsageError(f"decoder output must be 'logits' or 'probabilities', got {decoder_output!r}")
    if decoder_output is None and looks_like_probabilities(spec, decoder):
        raise UsageError(
            "the decoder's outputs all lie in [0, 1]: it seems to end in a sigmoid, but a Bernoulli spec needs logits; "
            "pass --decoder-output probabilities to convert them, or --decoder-output logits if they really are logits"
        )
    return decoder


_SUGGESTED = re.compile(r"Suggested fixes:\s*\n((?:[ \t]+\S.*\n?)+)")
_MAX = re.compile(r"max=(\d+)")


def _export_failure(part: str, exc: Exception) -> UsageError:
    """torch.export's error in one line, with its own suggested fix passed on (and the option that applies it)."""
    text = str(exc)
    detail = f"{type(exc).__name__}: {first_line(exc, 300)}"
    fix = _SUGGESTED.search(text)
    if fix is None:
        return UsageError(f"torch.export cannot export the {part} ({detail})")
    lines = "; ".join(line.strip() for line in fix.group(1).splitlines() if line.strip())
    cap = _MAX.search(lines)
    hint = f": pass --max-batch {cap.group(1)}" if cap else ""
    return UsageError(f"torch.export cannot export the {part} ({detail}); torch.export suggests {lines}{hint}")


def _export(part: str, module: nn.Module, example: torch.Tensor, max_batch: int | None = None) -> bytes:
    """torch.export with a dynamic batch (at most `max_batch` when the model cannot take any size); the
    program is checked against eager at two batch sizes."""
    batch = torch.export.Dim("batch", min=1) if max_batch is None else torch.export.Dim("batch", min=1, max=max_batch)
    try:
        program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    except Exception as exc:  # noqa: BLE001 - torch.export rejects user code in many ways
        raise _export_failure(part, exc) from None
    bigger = torch.cat([example, example[:1]]) if max_batch is None or example.shape[0] < max_batch else example[:1]
    with torch.no_grad():
        for inp in (example, bigger):
            if not torch.allclose(program.module()(inp), module(inp), rtol=1e-4, atol=1e-5):
                raise UsageError(f"the exported {part} does not reproduce the module's outputs; is it deterministic?")
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def with_likelihood(spec: ModelSpec, likelihood: str | None, sigma: float | None) -> ModelSpec:
    """The spec with the likelihood named on the command line: `gaussian` with a fixed scale `sigma` for a
    model trained with MSE (see docs/checkpoints.md: sigma^2 = D * kld_weight / 2 for a mean-MSE loss)."""
    if sigma is not None and not (math.isfinite(sigma) and sigma > 0):
        raise UsageError(f"--sigma must be a positive number, got {sigma}")
    if likelihood is None and sigma is None:
        return spec
    chosen = likelihood or spec.likelihood
    if chosen == "bernoulli" and sigma is not None:
        raise UsageError("--sigma is the scale of a Gaussian likelihood; add --likelihood gaussian")
    if chosen == "gaussian" and sigma is None and spec.likelihood_scale is None:
        raise UsageError(
            "--likelihood gaussian needs --sigma S (for a loss MSE_mean + w * KL: S = sqrt(D * w / 2), "
            "D = pixels x channels)"
        )
    scale = sigma if sigma is not None else (spec.likelihood_scale if chosen == "gaussian" else None)
    return dataclasses.replace(spec, likelihood=chosen, likelihood_scale=scale)  # type: ignore[arg-type]


def range_warnings(spec: ModelSpec, images: torch.Tensor) -> list[str]:
    """A warning when a Gaussian decoder's means `images` (decoded from prior codes) fall well outside
    the data's value range: a tanh decoder's [-1, 1] against [0, 1] data scores every pixel as an error.
    Used by `export_model` and by every report (`results.build`)."""
    if spec.likelihood != "gaussian":
        return []
    lo, hi = spec.value_range
    margin = 0.1 * (hi - lo)
    got_lo, got_hi = float(images.min()), float(images.max())
    if got_lo >= lo - margin and got_hi <= hi + margin:
        return []
    return [
        f"decoder means span [{got_lo:.2f}, {got_hi:.2f}] but the data lies in [{lo:g}, {hi:g}]: if the model was "
        f'trained on [-1, 1] images (a tanh output), set "value_range": [-1, 1] in the spec so the data is '
        f"converted to it; otherwise every likelihood is wrong"
    ]


def prior_images(spec: ModelSpec, decode: Callable[[torch.Tensor], Any], n: int = 16) -> torch.Tensor:
    """`decode` (flat latent [n, L] -> images) on `n` seeded prior codes: what `range_warnings` checks."""
    return _run("decoder", decode, concat_latent(spec, sample_prior(spec, n, torch.Generator().manual_seed(1))))


def _json_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    try:
        return json.loads(json.dumps(dict(metadata or {})))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"metadata must be JSON-serialisable ({exc})") from None


def export_model(
    path: str | Path,
    spec: ModelSpec | Mapping[str, Any],
    encoder: Net,
    decoder: Net,
    example_input: torch.Tensor | None = None,
    metadata: Mapping[str, Any] | None = None,
    force: bool = False,
    decoder_output: str | None = None,
    max_batch: int | None = None,
    likelihood: str | None = None,
    sigma: float | None = None,
    warn: Callable[[str], None] | None = None,
) -> Path:
    """Write `path`: one zip with vmieval.json, encoder.pt2 and decoder.pt2. Puts the modules in eval mode.

    `decoder_output` is what a Bernoulli decoder returns: "logits" (the contract), "probabilities" (a
    final sigmoid: converted with `torch.logit`), or None to check and refuse output that looks like
    probabilities. `max_batch` caps the programs' batch size (for a model torch.export cannot trace at
    any size); `likelihood`/`sigma` override the spec's (`with_likelihood`); `warn` hears what looks wrong
    but is not refused (decoder means outside the data's range).
    """
    if not isinstance(spec, ModelSpec):
        try:
            spec = ModelSpec.from_dict(dict(spec))
        except CheckpointError as exc:
            raise UsageError(str(exc)) from None
    spec = with_likelihood(spec, likelihood, sigma)
    if max_batch is not None and max_batch < 2:
        raise UsageError(f"--max-batch must be 2 or more (a batch of 1 is specialised away), got {max_batch}")
    path = check_writable(path, force)
    user = _json_metadata(metadata)
    enc = FlatEncoder(spec, encoder).eval()
    dec = _ImageDecoder(spec, decoder).eval()
    x, z = _example_inputs(spec, example_input)
    _check_eager(spec, enc, dec, x, z)  # shapes first: their messages name the example batch
    dec = _decoder_in_logits(spec, dec, decoder_output)
    for warning in range_warnings(spec, prior_images(spec, dec)):
        if warn is not None:
            warn(warning)
    if max_batch is not None:
        x, z = x[:max_batch], z[:max_batch]
    blobs = {"encoder": _export("encoder", enc, x, max_batch), "decoder": _export("decoder", dec, z, max_batch)}
    from vmieval import __version__

    meta = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "spec": spec.to_dict(),
        "architecture": {"name": "exported", "config": {"encoder": _name(encoder), "decoder": _name(decoder)}},
        "programs": {
            name: {
                "member": PROGRAM_MEMBERS[name],
                "sha256": hashlib.sha256(blob).hexdigest(),
                "bytes": len(blob),
            }
            for name, blob in blobs.items()
        },
        "metadata": user,
        "max_batch": max_batch,
        "vmieval_version": __version__,
        "torch_version": torch.__version__,
    }

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w") as zf:
            zf.writestr(METADATA_MEMBER, json.dumps(meta, indent=2), compress_type=zipfile.ZIP_DEFLATED)
            for name, blob in blobs.items():
                zf.writestr(PROGRAM_MEMBERS[name], blob, compress_type=zipfile.ZIP_STORED)

    return atomic_write(path, write, force=force)


def _name(net: Net) -> str:
    owner = getattr(net, "__self__", None)
    if isinstance(owner, nn.Module):
        return f"{type(owner).__name__}.{getattr(net, '__name__', '?')}"
    return type(net).__name__ if isinstance(net, nn.Module) else getattr(net, "__qualname__", type(net).__name__)


def load_builder(target: str) -> Callable[..., Any]:
    """`path/to/file.py:function` -> that function. Importing the file runs the user's own code."""
    file, sep, func = target.rpartition(":")
    if not sep or not file or not func.isidentifier():
        raise UsageError(f"--module-file must be FILE.py:FUNCTION (e.g. my_model.py:build), got {target!r}")
    path = Path(file)
    if not path.is_file():
        raise UsageError(f"{path}: no such Python file")
    spec = importlib.util.spec_from_file_location(f"vmieval_user_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # so the file can import its siblings, as `python my_model.py` would
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's code; report it in one line
        raise UsageError(f"importing {path} failed ({type(exc).__name__}: {first_line(exc, 300)})") from None
    finally:
        sys.path.remove(folder)
    builder = getattr(module, func, None)
    if not callable(builder):
        raise UsageError(f"{path} defines no function {func!r}")
    return builder


def _unpack(built: Any, spec_file: str | Path | None, target: str) -> tuple[Any, Net, Net, torch.Tensor | None]:
    """(spec, encoder, decoder, example input) from what a builder returned."""
    example = None
    if isinstance(built, Mapping) and {"encoder", "decoder"} <= set(built):
        spec, encoder, decoder = built.get("spec"), built["encoder"], built["decoder"]
        example = built.get("example_input")
    elif isinstance(built, tuple | list) and len(built) == 3:
        spec, encoder, decoder = built
    elif isinstance(built, tuple | list) and len(built) == 2:
        spec, (encoder, decoder) = None, built
    else:
        raise UsageError(f"{target} must return (spec, encoder, decoder), (encoder, decoder) or a dict of them")
    if spec_file is not None:
        try:
            spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UsageError(f"cannot read the spec file {spec_file} ({exc})") from None
    if spec is None:
        raise UsageError(f"{target} returned no spec; return (spec, encoder, decoder) or pass --spec SPEC.json")
    return spec, encoder, decoder, example


def export_from_file(
    target: str,
    path: str | Path,
    spec_file: str | Path | None = None,
    args: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    force: bool = False,
    decoder_output: str | None = None,
    **options: Any,
) -> Path:
    """Import `FILE.py:FUNCTION`, call it with `args`, and export what it returns (`--spec` wins over its spec);
    `options` go to `export_model` (max_batch, likelihood, sigma, warn)."""
    check_writable(path, force)  # before running a possibly slow build
    builder = load_builder(target)
    try:
        built = builder(**dict(args or {}))
    except VmievalError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's code; report it in one line
        raise UsageError(f"{target} raised {type(exc).__name__}: {first_line(exc, 300)}") from None
    spec, encoder, decoder, example = _unpack(built, spec_file, target)
    record = {"exported_from": target, "build_args": dict(args or {}), **dict(metadata or {})}
    return export_model(
        path,
        spec,
        encoder,
        decoder,
        example_input=example,
        metadata=record,
        force=force,
        decoder_output=decoder_output,
        **options,
    )

"""FrozenVAE: the one object every estimator and analysis sees, whatever file it came from.

It wraps an encoder and a decoder (a registered module's methods, or exported programs) behind
the contract of ../DESIGN.md: eval mode, no gradients, inputs moved to the model's device and
checked against the spec, outputs in spec layout. Estimators never touch the raw module; they read
a split encoded once (`vmieval.encoded.encode_split`) and call `decode` where they must.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from vmieval.distributions import Posterior, concat_latent
from vmieval.errors import DataError
from vmieval.spec import ModelSpec

RawFn = Callable[[torch.Tensor], torch.Tensor]
ENCODE_BATCH = 1000  # images per encoder call when a whole split is encoded


@dataclass(frozen=True)
class CheckpointInfo:
    """Where a model came from: enough to cite it in a report and to tell two files apart."""

    path: str
    format: str
    sha256: str
    architecture: str
    metadata: dict[str, Any] = field(default_factory=dict)


class FrozenVAE:
    """A loaded VAE: `spec`, `encode(x) -> Posterior`, `decode(latent) -> likelihood params`."""

    def __init__(
        self,
        spec: ModelSpec,
        encode_fn: RawFn,
        decode_fn: RawFn,
        info: CheckpointInfo,
        module: nn.Module | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.spec = spec
        self.info = info
        self.device = torch.device(device)
        self._encode_fn = encode_fn
        self._decode_fn = decode_fn
        self._module = module  # kept for tests that inspect the loaded weights; estimators never use it
        if module is not None:
            module.eval().requires_grad_(False).to(self.device)

    @classmethod
    def from_module(cls, module: nn.Module, spec: ModelSpec, info: CheckpointInfo, device: str = "cpu") -> FrozenVAE:
        """Wrap a module with `encode`/`decode` methods (an architecture from the registry)."""
        return cls(spec, module.encode, module.decode, info, module=module, device=device)

    @property
    def training_record(self) -> dict[str, Any]:
        return dict(self.info.metadata.get("training") or {})

    def _check_images(self, x: torch.Tensor) -> torch.Tensor:
        expected = tuple(self.spec.observation_shape)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            got = "x".join(map(str, x.shape[1:])) if x.dim() == 4 else f"a {x.dim()}-d tensor"
            want = "x".join(map(str, expected))
            raise DataError(
                f"images are {got} but the model expects {want}; use --image-size {expected[-1]} "
                f"or a dataset of that shape"
            )
        return x.to(self.device, torch.float32)

    @torch.no_grad()
    def encode_params(self, x: torch.Tensor) -> torch.Tensor:
        """Flat posterior parameters [B, P] in spec layout."""
        return self._encode_fn(self._check_images(x)).float()

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> Posterior:
        return Posterior.from_flat(self.spec, self.encode_params(x))

    @torch.no_grad()
    def decode(self, latent: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        """Likelihood parameters [B, C, H, W] (Bernoulli logits or Gaussian means)."""
        if isinstance(latent, dict):
            latent = concat_latent(self.spec, latent)
        return self._decode_fn(latent.to(self.device, torch.float32)).float()

    @torch.no_grad()
    def decode_mean(self, latent: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        """The decoder's expected image in the observation range (sigmoid of Bernoulli logits)."""
        out = self.decode(latent)
        return torch.sigmoid(out) if self.spec.likelihood == "bernoulli" else out

    def __repr__(self) -> str:
        blocks = ", ".join(f"{b.kind}({b.name}, {b.size})" for b in self.spec.blocks)
        return f"FrozenVAE({self.info.architecture}, [{blocks}], from {self.info.path})"

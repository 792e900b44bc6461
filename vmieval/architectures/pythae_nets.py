"""pythae's default MLP encoder and decoder (pythae 0.1.2, `pythae/models/nn/default_architectures.py`),
rebuilt with the original attribute names so a pythae `model.pt` loads with `strict=True`, no renaming.

pythae builds these two networks for every VAE-family model trained without custom networks
(`Encoder_VAE_MLP`, `Decoder_AE_MLP`); the width 512 is fixed in its source. Layout and state-dict keys:
    encoder.layers.0.0   Linear(prod(input_dim), 512), then ReLU      (`layers` is a ModuleList of Sequentials)
    encoder.embedding    Linear(512, latent_dim)                      the posterior mean
    encoder.log_var      Linear(512, latent_dim)                      the posterior log-variance
    decoder.layers.0.0   Linear(latent_dim, 512), then ReLU
    decoder.layers.1.0   Linear(512, prod(input_dim)), then Sigmoid
The encoder flattens its input (`x.reshape(-1, prod(input_dim))`), so any image shape with the same number
of pixels gives the same function.

pythae's decoder always ends in a Sigmoid, whatever the reconstruction loss. One deliberate difference:
- Bernoulli likelihood (pythae's "bce"): we return the pre-sigmoid values, the Bernoulli logits of the same
  likelihood (pythae's `binary_cross_entropy` on the sigmoid output is this likelihood, except that torch
  clamps each log term at -100 where the sigmoid saturates in float32; the logits are exact there).
- Gaussian likelihood (pythae's "mse", `0.5 * ||x - mean||^2`, i.e. N(mean, I) up to a constant): the
  sigmoid output is the mean, kept as is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from vmieval.architectures.registry import register
from vmieval.spec import ModelSpec

PYTHAE_MLP = "pythae-mlp"


@dataclass(frozen=True)
class PythaeMLPConfig:
    """pythae fixes the hidden width at 512; kept as a field so the registry can validate it."""

    hidden: int = 512


class PythaeEncoder(nn.Module):
    """`x [B, C, H, W] -> (mean [B, d], log-variance [B, d])`, pythae's `Encoder_VAE_MLP`."""

    def __init__(self, pixels: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Sequential(nn.Linear(pixels, hidden), nn.ReLU())])
        self.embedding = nn.Linear(hidden, latent)
        self.log_var = nn.Linear(hidden, latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = x.flatten(1)
        for layer in self.layers:
            out = layer(out)
        return self.embedding(out), self.log_var(out)


class PythaeDecoder(nn.Module):
    """`z [B, d] -> [B, prod(input_dim)]`, pythae's `Decoder_AE_MLP` with or without its final Sigmoid."""

    def __init__(self, latent: int, hidden: int, pixels: int, sigmoid: bool) -> None:
        super().__init__()
        last: list[nn.Module] = [nn.Linear(hidden, pixels)] + ([nn.Sigmoid()] if sigmoid else [])
        self.layers = nn.ModuleList([nn.Sequential(nn.Linear(latent, hidden), nn.ReLU()), nn.Sequential(*last)])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = z
        for layer in self.layers:
            out = layer(out)
        return out


class PythaeMLPVAE(nn.Module):
    """`encode(x [B, C, H, W]) -> [B, 2d]` ([mean, log-variance]); `decode(z [B, d]) -> [B, C, H, W]`:
    Bernoulli logits for a Bernoulli spec, Gaussian means (in (0, 1)) for a Gaussian one."""

    def __init__(self, config: PythaeMLPConfig, spec: ModelSpec) -> None:
        super().__init__()
        if len(spec.blocks) != 1 or spec.blocks[0].kind != "gaussian":
            raise ValueError("pythae's default MLP has one Gaussian latent block and nothing else")
        if config.hidden <= 0:
            raise ValueError("hidden width must be positive")
        self.observation_shape = spec.observation_shape
        pixels, latent = math.prod(spec.observation_shape), spec.blocks[0].size
        self.encoder = PythaeEncoder(pixels, config.hidden, latent)
        self.decoder = PythaeDecoder(latent, config.hidden, pixels, sigmoid=spec.likelihood == "gaussian")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        mean, log_var = self.encoder(x)
        return torch.cat([mean, log_var], dim=1)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decoder(latent).view(-1, *self.observation_shape)


@register(PYTHAE_MLP, PythaeMLPConfig)
def build_pythae_mlp(config: PythaeMLPConfig, spec: ModelSpec) -> nn.Module:
    return PythaeMLPVAE(config, spec)

"""A fully connected encoder/decoder: the small, fast reference architecture."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from vmieval.architectures.registry import register
from vmieval.spec import ModelSpec


@dataclass(frozen=True)
class MLPConfig:
    hidden: tuple[int, ...] = (512, 256)


def _stack(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-2], widths[1:-1], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(widths[-2], widths[-1]))
    return nn.Sequential(*layers)


class MLPVAE(nn.Module):
    def __init__(self, config: MLPConfig, spec: ModelSpec) -> None:
        super().__init__()
        if not config.hidden or any(int(h) <= 0 for h in config.hidden):
            raise ValueError("hidden widths must be positive")
        self.observation_shape = spec.observation_shape
        pixels = math.prod(spec.observation_shape)
        hidden = [int(h) for h in config.hidden]
        self.encoder = _stack([pixels, *hidden, spec.param_width])
        self.decoder = _stack([spec.latent_width, *reversed(hidden), pixels])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decoder(latent).view(-1, *self.observation_shape)


@register("mlp", MLPConfig)
def build_mlp(config: MLPConfig, spec: ModelSpec) -> nn.Module:
    return MLPVAE(config, spec)

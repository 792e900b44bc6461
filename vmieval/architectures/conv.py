"""The paper's convolutional encoder/decoder (InfoGAN-style, as used by VMI-VAE).

Encoder: conv 4x4/2 -> 64, conv 4x4/2 -> 128 (BN), FC 512 (BN), LeakyReLU(0.2) throughout.
Decoder mirrors it with transposed convolutions and ReLU. Two stride-2 stages, so H and W must be
divisible by 4 (28x28 MNIST -> 7x7 feature maps; 32x32 -> 8x8).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vmieval.architectures.registry import register
from vmieval.spec import ModelSpec


@dataclass(frozen=True)
class ConvConfig:
    channels: tuple[int, int] = (64, 128)
    fc: int = 512


class ConvVAE(nn.Module):
    def __init__(self, config: ConvConfig, spec: ModelSpec) -> None:
        super().__init__()
        c_in, h, w = spec.observation_shape
        if h % 4 or w % 4:
            raise ValueError(f"conv architecture needs H and W divisible by 4, got {h}x{w}")
        if len(config.channels) != 2 or config.fc <= 0 or min(config.channels) <= 0:
            raise ValueError("conv config needs two positive channel counts and a positive fc width")
        c1, c2 = (int(c) for c in config.channels)
        self.feature_shape = (c2, h // 4, w // 4)
        flat = c2 * (h // 4) * (w // 4)
        self.encoder = nn.Sequential(
            nn.Conv2d(c_in, c1, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c1, c2, 4, 2, 1),
            nn.BatchNorm2d(c2),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(flat, config.fc),
            nn.BatchNorm1d(config.fc),
            nn.LeakyReLU(0.2),
            nn.Linear(config.fc, spec.param_width),
        )
        self.decoder_fc = nn.Sequential(
            nn.Linear(spec.latent_width, config.fc),
            nn.BatchNorm1d(config.fc),
            nn.ReLU(),
            nn.Linear(config.fc, flat),
            nn.BatchNorm1d(flat),
            nn.ReLU(),
        )
        self.decoder_conv = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 4, 2, 1),
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            nn.ConvTranspose2d(c1, c_in, 4, 2, 1),
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decoder_conv(self.decoder_fc(latent).view(-1, *self.feature_shape))


@register("conv", ConvConfig)
def build_conv(config: ConvConfig, spec: ModelSpec) -> nn.Module:
    return ConvVAE(config, spec)

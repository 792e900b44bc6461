"""The β-VAE convolutional encoder/decoder of Burgess et al. 2018 ("Understanding disentangling in
β-VAE", appendix A.1), the usual architecture for dSprites, 3D Shapes and CelebA at 64×64.

    encoder  conv 4×4/2 C→32, ReLU, 3 × (conv 4×4/2 32→32, ReLU)    -> [B, 32, 4, 4]
             Linear(512, 256), ReLU, Linear(256, 256), ReLU, Linear(256, 2·D)
    decoder  Linear(D, 256), ReLU, Linear(256, 256), ReLU, Linear(256, 512), ReLU
             3 × (convT 4×4/2 32→32, ReLU), convT 4×4/2 32→C      -> Bernoulli logits or Gaussian means
32×32 images drop one stride-2 stage on each side (`conv_64` / `convT_64`). Any channel count.

The attribute names and the interleaved (mean, log-variance) head are those of the widely used
PyTorch implementation (YannDubs/disentangling-vae, `EncoderBurgess`/`DecoderBurgess` inside a
module holding `encoder` and `decoder`), so its state dicts have exactly our keys. Its head emits
[μ_1, logσ²_1, μ_2, ...]; `encode` de-interleaves that into the spec's [mean (D), log-variance (D)].
Its decoder ends in a Sigmoid; ours returns the pre-sigmoid values (the Bernoulli logits of the same
likelihood), as `jointvae.py` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vmieval.architectures.registry import register
from vmieval.spec import ModelSpec

KERNEL = 4  # the feature map before the linears is channels × 4 × 4 at both image sizes


@dataclass(frozen=True)
class BurgessConfig:
    """Burgess et al. fix 32 channels and 256 hidden units; both stay configurable."""

    channels: int = 32
    hidden: int = 256


def _conv(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, KERNEL, stride=2, padding=1)


def _conv_t(c_in: int, c_out: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(c_in, c_out, KERNEL, stride=2, padding=1)


class BurgessEncoder(nn.Module):
    """x [B, C, S, S] -> interleaved (μ, log σ²) [B, 2·D]."""

    def __init__(self, config: BurgessConfig, channels: int, size: int, latent: int) -> None:
        super().__init__()
        c, hidden = config.channels, config.hidden
        self.conv1, self.conv2, self.conv3 = _conv(channels, c), _conv(c, c), _conv(c, c)
        if size == 64:
            self.conv_64 = _conv(c, c)
        self.lin1 = nn.Linear(c * KERNEL * KERNEL, hidden)
        self.lin2 = nn.Linear(hidden, hidden)
        self.mu_logvar_gen = nn.Linear(hidden, 2 * latent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x))))))
        if hasattr(self, "conv_64"):
            x = torch.relu(self.conv_64(x))
        return self.mu_logvar_gen(torch.relu(self.lin2(torch.relu(self.lin1(x.flatten(1))))))


class BurgessDecoder(nn.Module):
    """latent [B, D] -> pre-sigmoid image [B, C, S, S]."""

    def __init__(self, config: BurgessConfig, channels: int, size: int, latent: int) -> None:
        super().__init__()
        c, hidden = config.channels, config.hidden
        self.feature_shape = (c, KERNEL, KERNEL)
        self.lin1 = nn.Linear(latent, hidden)
        self.lin2 = nn.Linear(hidden, hidden)
        self.lin3 = nn.Linear(hidden, c * KERNEL * KERNEL)
        if size == 64:
            self.convT_64 = _conv_t(c, c)
        self.convT1, self.convT2, self.convT3 = _conv_t(c, c), _conv_t(c, c), _conv_t(c, channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.lin3(torch.relu(self.lin2(torch.relu(self.lin1(z))))))
        x = x.view(-1, *self.feature_shape)
        if hasattr(self, "convT_64"):
            x = torch.relu(self.convT_64(x))
        return self.convT3(torch.relu(self.convT2(torch.relu(self.convT1(x)))))


class BurgessVAE(nn.Module):
    """`encode(x [B, C, S, S]) -> [B, 2·D]` (mean then log-variance), `decode(z [B, D]) -> [B, C, S, S]`."""

    def __init__(self, config: BurgessConfig, spec: ModelSpec) -> None:
        super().__init__()
        channels, height, width = spec.observation_shape
        if (height, width) not in ((32, 32), (64, 64)):
            raise ValueError(f"the Burgess architecture takes 32x32 or 64x64 images, the spec says {height}x{width}")
        if len(spec.blocks) != 1 or spec.blocks[0].kind != "gaussian":
            raise ValueError("the Burgess architecture has one Gaussian latent block and nothing else")
        if config.channels <= 0 or config.hidden <= 0:
            raise ValueError("channels and hidden width must be positive")
        self.latent = spec.blocks[0].size
        self.encoder = BurgessEncoder(config, channels, height, self.latent)
        self.decoder = BurgessDecoder(config, channels, height, self.latent)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        mean, logvar = self.encoder(x).view(-1, self.latent, 2).unbind(-1)
        return torch.cat([mean, logvar], dim=1)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decoder(latent)


@register("burgess", BurgessConfig)
def build_burgess(config: BurgessConfig, spec: ModelSpec) -> nn.Module:
    return BurgessVAE(config, spec)

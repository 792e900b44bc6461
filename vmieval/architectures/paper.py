"""The VMI-VAE paper's own conv + batch-norm encoder/decoder (../shared/PAPER-PROTOCOL.md), rebuilt natively.

    encoder  conv 4x4/2 C->64, BN, LReLU(0.2); conv 4x4/2 64->128, BN, LReLU;
             Linear(128·H/4·W/4 -> 512), BN, LReLU; Linear(512 -> spec.param_width)
    decoder  Linear(latent -> 512), BN, LReLU; Linear(512 -> 64·H/4·W/4);
             convT 4x4/2 64->32, BN, LReLU; convT 4x4/2 32->C, tanh
The paper's encoder emits a log standard deviation per Gaussian dim (`std = exp(out)`); the spec
wants a log-variance, so `encode` doubles those columns: the same model, re-expressed exactly.
The decoder's tanh output is the mean of a fixed-scale Gaussian on [-1, 1] pixels, so the spec
must say so (likelihood gaussian, value_range (-1, 1)); any other spec is refused at build time.

Batch norm: the state dict holds every running mean/variance, so a checkpoint loads with
`weights_only=True` and a frozen model runs in eval mode on those running statistics. The paper
evaluates with batch norm in train mode (per-batch statistics); the trainer's history records
that number beside the eval-mode one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vmieval.architectures.registry import register
from vmieval.spec import ModelSpec

PAPER_VALUE_RANGE = (-1.0, 1.0)


@dataclass(frozen=True)
class PaperConvConfig:
    """Widths: encoder conv channels, the fully connected width, the decoder's first feature map."""

    channels: tuple[int, int] = (64, 128)
    fc: int = 512
    decoder_channels: int = 64


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2)


class PaperConvVAE(nn.Module):
    """`encode(x [B, C, H, W] in [-1, 1]) -> [B, P]`, `decode(latent [B, L]) -> means [B, C, H, W] in [-1, 1]`."""

    def __init__(self, config: PaperConvConfig, spec: ModelSpec) -> None:
        super().__init__()
        c_in, h, w = spec.observation_shape
        if h % 4 or w % 4:
            raise ValueError(f"the paper's conv net needs H and W divisible by 4, got {h}x{w}")
        if spec.likelihood != "gaussian" or tuple(spec.value_range) != PAPER_VALUE_RANGE:
            raise ValueError("the paper's tanh decoder needs a gaussian likelihood on value_range (-1, 1)")
        c1, c2 = (int(c) for c in config.channels)
        d = int(config.decoder_channels)
        if len(config.channels) != 2 or min(c1, c2, config.fc, d) <= 0 or d % 2:
            raise ValueError("paper config needs two positive channel counts, a positive fc and an even decoder width")
        self.feature_shape = (d, h // 4, w // 4)
        self.encoder = nn.Sequential(
            nn.Conv2d(c_in, c1, 4, 2, 1),
            nn.BatchNorm2d(c1),
            _lrelu(),
            nn.Conv2d(c1, c2, 4, 2, 1),
            nn.BatchNorm2d(c2),
            _lrelu(),
            nn.Flatten(),
            nn.Linear(c2 * (h // 4) * (w // 4), config.fc),
            nn.BatchNorm1d(config.fc),
            _lrelu(),
            nn.Linear(config.fc, spec.param_width),
        )
        self.decoder_fc = nn.Sequential(
            nn.Linear(spec.latent_width, config.fc),
            nn.BatchNorm1d(config.fc),
            _lrelu(),
            nn.Linear(config.fc, d * (h // 4) * (w // 4)),
        )
        self.decoder_conv = nn.Sequential(
            nn.ConvTranspose2d(d, d // 2, 4, 2, 1),
            nn.BatchNorm2d(d // 2),
            _lrelu(),
            nn.ConvTranspose2d(d // 2, c_in, 4, 2, 1),
            nn.Tanh(),
        )
        # 2 on the log-std columns of each Gaussian block (log var = 2 log std), 1 elsewhere; not saved.
        scale = torch.ones(spec.param_width)
        for block, (start, stop) in zip(spec.blocks, spec.param_offsets().values(), strict=True):
            if block.kind == "gaussian":
                scale[start + block.size : stop] = 2.0
        self.register_buffer("param_scale", scale, persistent=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x) * self.param_scale

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decoder_conv(self.decoder_fc(latent).view(-1, *self.feature_shape))


@register("paper-conv", PaperConvConfig)
def build_paper_conv(config: PaperConvConfig, spec: ModelSpec) -> nn.Module:
    return PaperConvVAE(config, spec)

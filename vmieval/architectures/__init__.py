"""Architectures that native checkpoints name: rebuilt from (name, config, spec), never unpickled.

Every architecture is an `nn.Module` with two methods, the raw side of the FrozenVAE contract:
`encode(x [B, C, H, W]) -> [B, spec.param_width]` (flat posterior parameters in block order) and
`decode(latent [B, spec.latent_width]) -> [B, C, H, W]` (Bernoulli logits or Gaussian means).
"""

from vmieval.architectures.registry import ARCHITECTURES, build_architecture, register

__all__ = ["ARCHITECTURES", "build_architecture", "register"]

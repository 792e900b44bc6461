"""Loading checkpoints: sniff the file, validate it, build a FrozenVAE without running its code.

`load_checkpoint` is the single entry point. It reads tensors only through
`torch.load(weights_only=True)`; a zip archive with a `vmieval.json` member is an exported model,
whose programs are built only with `trust=True`.
"""

from vmieval.checkpoints.loader import describe_checkpoint, load_checkpoint, read_payload
from vmieval.checkpoints.native import save_native

__all__ = ["describe_checkpoint", "load_checkpoint", "read_payload", "save_native"]

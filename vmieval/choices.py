"""Named choices of vmieval's interface that the command line offers before it imports torch.

`vmieval mi-bound --help` lists `--checkpoint-format`'s values; defining them here (not in the
torch-importing checkpoint loader, which re-exports them) keeps `--help` instant.
"""

from __future__ import annotations

CHECKPOINT_FORMATS = ("auto", "native", "exported", "jointvae")

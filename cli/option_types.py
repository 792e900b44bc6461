"""Ranges of numeric options that no library function checks, enforced by click before anything runs
(a one-line usage error, exit 2).

A seed beyond 64 bits otherwise travels to the first `torch.Generator.manual_seed`, after the
checkpoint and the data are loaded, and ends as an internal error.
"""

from __future__ import annotations

import click

# torch generators take 64-bit seeds (negative ones wrap); the trainers add small offsets (seed + 1, + 2, + 3).
SEED = click.IntRange(-(2**63), 2**63 - 4)

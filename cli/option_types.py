"""Ranges of numeric options that no library function checks, enforced by click before anything runs
(a one-line usage error, exit 2).

A seed beyond 64 bits otherwise travels to the first `torch.Generator.manual_seed`, after the
checkpoint and the data are loaded, and ends as an internal error.
"""

from __future__ import annotations

import click


class SeedType(click.ParamType):
    """An integer seed, checked to fit a torch generator; its help shows INTEGER, not the 64-bit range."""

    name = "integer"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "INTEGER"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        number = click.INT.convert(value, param, ctx)
        if not LOW <= number <= HIGH:
            self.fail(f"{number} does not fit a 64-bit seed", param, ctx)
        return number


# torch generators take 64-bit seeds (negative ones wrap); the trainers add small offsets (seed + 1, + 2, + 3).
LOW, HIGH = -(2**63), 2**63 - 4
SEED = SeedType()

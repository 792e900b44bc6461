"""The model spec: what a frozen VAE observes, how it scores pixels, and its ordered latent blocks.

The spec is the only description of a model that the estimators and analyses read. It travels as
JSON inside every checkpoint, so it is validated on the way in: a file from the internet is not
trusted to describe itself correctly.

Layout conventions (the FrozenVAE contract, ../DESIGN.md):
- The decoder's input is the blocks' samples concatenated in block order; a categorical block
  contributes a one-hot (or relaxed one-hot) vector of width k.
- The encoder's output is one flat parameter vector per input, in block order: a Gaussian block
  contributes `[mean (dim), log-variance (dim)]`, a categorical block its `logits (k)`.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from vmieval.errors import CheckpointError, UsageError

MAX_OBSERVATION_VALUES = 1 << 24  # C x H x W of one image: 4096 x 4096 grey, or 2364 x 2364 RGB
MIN_LIKELIHOOD_SCALE = 1e-6  # 1 / scale**2 must stay finite in float32

BlockKind = Literal["gaussian", "categorical"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


Likelihood = Literal["bernoulli", "gaussian"]


@dataclass(frozen=True)
class LatentBlock:
    """One latent block: `gaussian` (dim = size, N(0, I) prior) or `categorical` (k = size, uniform)."""

    kind: BlockKind
    name: str
    size: int

    @property
    def decoder_width(self) -> int:
        """Width of this block's slice of the decoder input (dim or k)."""
        return self.size

    @property
    def param_width(self) -> int:
        """Width of this block's slice of the encoder output (2·dim or k)."""
        return 2 * self.size if self.kind == "gaussian" else self.size


def gaussian(name: str, dim: int) -> LatentBlock:
    return LatentBlock("gaussian", name, dim)


def categorical(name: str, k: int) -> LatentBlock:
    return LatentBlock("categorical", name, k)


@dataclass(frozen=True)
class ModelSpec:
    """Observation shape and range, likelihood, and the ordered latent blocks of a VAE.

    `likelihood_scale` is the fixed standard deviation of a Gaussian likelihood (None for
    Bernoulli, or when the decoder learns it).
    """

    observation_shape: tuple[int, int, int]
    blocks: tuple[LatentBlock, ...]
    likelihood: Likelihood = "bernoulli"
    value_range: tuple[float, float] = (0.0, 1.0)
    likelihood_scale: float | None = None
    class_names: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        self.validate()

    # -- derived sizes -------------------------------------------------------------------------
    @property
    def latent_width(self) -> int:
        return sum(b.decoder_width for b in self.blocks)

    @property
    def param_width(self) -> int:
        return sum(b.param_width for b in self.blocks)

    def block(self, name: str) -> LatentBlock:
        for b in self.blocks:
            if b.name == name:
                return b
        names = ", ".join(b.name for b in self.blocks)
        raise UsageError(f"no latent block named {name!r}; this model has: {names}")

    def blocks_of_kind(self, kind: BlockKind) -> list[LatentBlock]:
        return [b for b in self.blocks if b.kind == kind]

    def param_offsets(self) -> dict[str, tuple[int, int]]:
        """Start/end of each block in the encoder's flat parameter vector."""
        return _offsets(self.blocks, "param_width")

    # -- validation and JSON ---------------------------------------------------------------------
    def validate(self) -> None:
        shape = self.observation_shape
        if len(shape) != 3 or not all(_is_int(s) and s > 0 for s in shape):
            raise CheckpointError(f"spec: observation_shape must be (C, H, W) > 0, got {shape}")
        if math.prod(shape) > MAX_OBSERVATION_VALUES:
            raise CheckpointError(f"spec: observation_shape {shape} has more than {MAX_OBSERVATION_VALUES:,} values")
        if self.likelihood not in ("bernoulli", "gaussian"):
            raise CheckpointError(f"spec: unknown likelihood {self.likelihood!r}")
        lo, hi = self.value_range
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise CheckpointError(f"spec: value_range must be finite with low < high, got {self.value_range}")
        scale = self.likelihood_scale
        if scale is not None and not (MIN_LIKELIHOOD_SCALE <= scale <= 1 / MIN_LIKELIHOOD_SCALE):
            raise CheckpointError(
                f"spec: likelihood_scale must lie in [{MIN_LIKELIHOOD_SCALE:g}, {1 / MIN_LIKELIHOOD_SCALE:g}], "
                f"got {scale!r}"
            )
        if not self.blocks:
            raise CheckpointError("spec: a model needs at least one latent block")
        seen: set[str] = set()
        for b in self.blocks:
            if b.kind not in ("gaussian", "categorical"):
                raise CheckpointError(f"spec: block {b.name!r} has unknown kind {b.kind!r}")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", b.name):
                raise CheckpointError(f"spec: block name {b.name!r} must be an identifier")
            if b.name in seen:
                raise CheckpointError(f"spec: duplicate block name {b.name!r}")
            seen.add(b.name)
            min_size = 2 if b.kind == "categorical" else 1
            if not _is_int(b.size) or b.size < min_size or b.size > 4096:
                raise CheckpointError(f"spec: block {b.name!r} has invalid size {b.size!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["blocks"] = [asdict(b) for b in self.blocks]
        return d

    @classmethod
    def from_dict(cls, d: Any) -> ModelSpec:
        """Build a spec from untrusted JSON; any malformed field becomes a CheckpointError."""
        if not isinstance(d, dict):
            raise CheckpointError("spec: expected a JSON object")
        # Strict types: a size of 16.7 or "16" is refused, not truncated or converted.
        blocks_raw, shape = d.get("blocks"), d.get("observation_shape")
        if not isinstance(blocks_raw, list | tuple) or not all(isinstance(b, dict) for b in blocks_raw):
            raise CheckpointError("spec: blocks must be a list of objects")
        if not isinstance(shape, list | tuple) or len(shape) != 3 or not all(_is_int(s) for s in shape):
            raise CheckpointError(f"spec: observation_shape must be three integers (C, H, W), got {shape!r}"[:200])
        for b in blocks_raw:
            if not (isinstance(b.get("kind"), str) and isinstance(b.get("name"), str) and _is_int(b.get("size"))):
                raise CheckpointError(f"spec: a block needs a kind, a name and an integer size, got {b!r}"[:200])
        value_range = d.get("value_range", (0.0, 1.0))
        if not isinstance(value_range, list | tuple) or len(value_range) != 2 or not all(map(_is_number, value_range)):
            raise CheckpointError(f"spec: value_range must be two numbers, got {value_range!r}"[:200])
        scale = d.get("likelihood_scale")
        class_names = d.get("class_names", ())
        if scale is not None and not _is_number(scale):
            raise CheckpointError(f"spec: likelihood_scale must be a number, got {scale!r}"[:200])
        if not isinstance(d.get("likelihood", "bernoulli"), str):
            raise CheckpointError("spec: likelihood must be a string")
        if not isinstance(class_names, list | tuple) or not all(isinstance(c, str) for c in class_names):
            raise CheckpointError("spec: class_names must be a list of strings")
        try:
            return cls(
                observation_shape=tuple(shape),  # type: ignore[arg-type]
                blocks=tuple(LatentBlock(kind=b["kind"], name=b["name"], size=b["size"]) for b in blocks_raw),
                likelihood=d.get("likelihood", "bernoulli"),
                value_range=tuple(float(v) for v in value_range),  # type: ignore[arg-type]
                likelihood_scale=None if scale is None else float(scale),
                class_names=tuple(class_names),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise CheckpointError(f"spec: malformed field ({type(exc).__name__}: {exc})") from None


def _offsets(blocks: tuple[LatentBlock, ...], width_attr: str) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    start = 0
    for b in blocks:
        end = start + getattr(b, width_attr)
        out[b.name] = (start, end)
        start = end
    return out


@dataclass(frozen=True)
class TargetPart:
    """A block, or a slice of a Gaussian block's dimensions, chosen as an estimation target."""

    block: str
    start: int | None = None
    stop: int | None = None

    def label(self) -> str:
        return self.block if self.start is None else f"{self.block}[{self.start}:{self.stop}]"


@dataclass(frozen=True)
class Target:
    """A named subset of the latent code: `c`, `z[0:2]`, or a combination `c,z[0:2]`."""

    parts: tuple[TargetPart, ...]

    def label(self) -> str:
        return ",".join(p.label() for p in self.parts)


_PART = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[\s*(\d+)\s*(?:(:)\s*(\d+)\s*)?\])?\s*$")
TARGET_SYNTAX = "write e.g. 'c', 'z[7]', 'z[0:2]', 'z[3],z[7]' or 'c,z[0:2]'"


def parse_target(text: str, spec: ModelSpec) -> Target:
    """Parse `c`, `z[7]` (one dim, the same as `z[7:8]`), `z[0:2]` or combinations such as `c,z[0:2]` or
    `z[3],z[7]` against a spec. Slices only on Gaussian blocks; a block may appear twice only as
    disjoint slices (the target is then their joint)."""
    parts: list[TargetPart] = []
    for raw in text.split(","):
        m = _PART.match(raw)
        if not m:
            raise UsageError(f"cannot parse target {raw.strip()!r}; {TARGET_SYNTAX}")
        name, start, colon, stop = m.groups()
        block = spec.block(name)
        if start is None:
            parts.append(TargetPart(name))
            continue
        a = int(start)
        b = int(stop) if colon else a + 1
        if block.kind != "gaussian":
            raise UsageError(f"target {raw.strip()!r}: only Gaussian blocks can be sliced; name the block: {name!r}")
        if not 0 <= a < b <= block.size:
            last = f"{name}[{block.size - 1}]"
            raise UsageError(f"target {raw.strip()!r}: dims must lie within {name}[0] .. {last} (a slice a:b, a < b)")
        parts.append(TargetPart(name, a, b))
    _check_disjoint(text, parts)
    return Target(tuple(parts))


def _check_disjoint(text: str, parts: list[TargetPart]) -> None:
    """A block named twice is allowed only as disjoint slices of a Gaussian block."""
    for i, p in enumerate(parts):
        for q in parts[:i]:
            if p.block != q.block:
                continue
            if p.start is None or q.start is None:
                raise UsageError(f"target {text!r} names block {p.block!r} twice")
            if p.start < q.stop and q.start < p.stop:  # type: ignore[operator]
                raise UsageError(f"target {text!r}: {q.label()} and {p.label()} overlap")

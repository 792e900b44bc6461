"""Training curves (paper Figs 7/8): the KL of each latent block and the MI bound over training.

Drawn from the history columns a checkpoint stores (`training/<column>`, see
`vmieval.analysis.curves`): `kl.<block>` for Fig 7, `mi_bound` (the trainer's own Q bound) and
`iq_exact.<block>` (exact I_q(x; c) on held-out images) for Fig 8, against `epoch` (or
`iteration`/`step`, or the row number). One colour per model, one line style per quantity, so an
ELBO and an MI model read side by side on the same axes. A panel is drawn only when some model has
one of its columns; a history from another trainer may have neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from vmieval.figures.canvas import FONT_SIZE, model_colours, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

X_COLUMNS = ("epoch", "iteration", "step")
STYLES = ("-", "--", ":", "-.")
Columns = Mapping[str, np.ndarray]


def _kl_series(columns: Columns, target: str = "") -> dict[str, str]:
    """column -> legend text for the KL panel (one per block)."""
    return {c: f"KL({c.split('.', 1)[1]})" for c in sorted(columns) if c.startswith("kl.")}


def _mi_series(columns: Columns, target: str = "") -> dict[str, str]:
    named = f"I({target}; x_hat) >= trainer's Q bound" if target else "MI lower bound (trainer's Q, target unknown)"
    out = {"mi_bound": named} if "mi_bound" in columns else {}
    for c in sorted(columns):
        if c.startswith("iq_exact."):
            out[c] = f"I_q(x; {c.split('.', 1)[1]}), exact"
    return out


PANELS = (
    ("KL per latent block", "nats", _kl_series),
    ("mutual information", "nats", _mi_series),
)


def _x(columns: Columns) -> tuple[np.ndarray, str]:
    for name in X_COLUMNS:
        if name in columns and np.asarray(columns[name]).ndim == 1:
            return np.asarray(columns[name], dtype=np.float64), name
    n = len(next(iter(columns.values()))) if columns else 0
    return np.arange(1, n + 1, dtype=np.float64), "epoch"


def has_curves(histories: Mapping[str, Columns]) -> bool:
    """Whether any model's history has a column `training_curves_figure` draws."""
    return any(series(cols) for cols in histories.values() for _, _, series in PANELS)


def training_curves_figure(
    histories: Mapping[str, Columns], *, title: str = "", targets: Mapping[str, str] | None = None
) -> Figure:
    """The KL-per-block panel (paper Fig 7) and the MI panel (Fig 8) for every model in `histories`
    (name -> column name -> float [E]); `targets` (name -> the trainer's MI target, e.g. `c`) names what
    the MI bound is about. Raises ValueError when no model has a drawable column."""
    targets = targets or {}
    panels = [(t, unit, s) for t, unit, s in PANELS if any(s(cols) for cols in histories.values())]
    if not panels:
        raise ValueError("no KL or MI columns in the training history")
    fig = new_figure(380 * len(panels) + 40, 300 + 22 * len(histories) * 2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colours = model_colours(list(histories))
    x_name = "epoch"
    for ax, (panel_title, unit, series) in zip(axes, panels, strict=True):
        for model, cols in histories.items():
            x, x_name = _x(cols)
            for i, (column, text) in enumerate(series(cols, targets.get(model, "")).items()):
                y = np.asarray(cols[column], dtype=np.float64)
                ax.plot(x, y, color=colours[model], linestyle=STYLES[i % len(STYLES)], label=f"{model}: {text}")
        ax.set_title(panel_title, fontsize=FONT_SIZE + 1)
        ax.set_xlabel(x_name, fontsize=FONT_SIZE)
        ax.set_ylabel(unit, fontsize=FONT_SIZE)
        ax.tick_params(labelsize=FONT_SIZE - 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=FONT_SIZE - 1, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    fig.suptitle(title or f"training curves: {', '.join(histories)}", fontsize=FONT_SIZE + 2)
    return fig

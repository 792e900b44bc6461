"""The factor heatmap: I_q(z_j; v_k) of every Gaussian dim and ground-truth factor, with MIG per factor.

Drawn from `factors/` (`mi` [D, F], `factor_entropy` [F], `mig/gaps` [F], `mig/top_two` [F, 2]):
each cell is the MI in nats, written in it; each factor's column is titled with its entropy and its
MIG gap (top − second) / H(v_k), and its two most informative dims are outlined, so a disentangled
model shows one outlined cell per column standing out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vmieval.figures.canvas import FONT_SIZE, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def factor_heatmap_figure(
    values: np.ndarray,
    latents: list[str],
    factors: list[str],
    entropies: np.ndarray,
    gaps: np.ndarray,
    top_two: np.ndarray,
    *,
    model: str,
    mig: float,
    mig_stderr: float,
    n: int,
    split: str,
) -> Figure:
    """Heatmap [D rows, F columns] of I_q(z_j; v_k), values in the cells, MIG gap under each factor."""
    from matplotlib.patches import Rectangle

    vals = np.asarray(values, dtype=np.float64)
    d, f = vals.shape
    fig = new_figure(max(420, 150 + 92 * f), max(300, 150 + 24 * d))
    ax = fig.subplots()
    image = ax.imshow(np.clip(vals, 0, None), cmap="viridis", aspect="auto", vmin=0)
    top = float(np.nanmax(vals)) if vals.size else 1.0
    for j in range(d):
        for k in range(f):
            v = vals[j, k]
            colour = "black" if np.isfinite(v) and v > 0.6 * top else "white"
            ax.text(k, j, f"{v:.2f}", ha="center", va="center", fontsize=FONT_SIZE - 2, color=colour)
    for k in range(f):
        for rank, j in enumerate(np.asarray(top_two)[k]):
            style = {"linewidth": 2.0 if rank == 0 else 1.0, "linestyle": "-" if rank == 0 else "--"}
            ax.add_patch(Rectangle((k - 0.5, j - 0.5), 1, 1, fill=False, edgecolor="red", **style))
    ax.set_yticks(range(d), latents, fontsize=FONT_SIZE - 1)
    labels = [f"{name}\nH={h:.2f}\nMIG gap {g:.3f}" for name, h, g in zip(factors, entropies, gaps, strict=True)]
    ax.set_xticks(range(f), labels, fontsize=FONT_SIZE - 1)
    ax.set_xlabel("ground-truth factor v_k (H: its entropy, nats)", fontsize=FONT_SIZE)
    ax.set_ylabel("latent dim z_j", fontsize=FONT_SIZE)
    bar = fig.colorbar(image, ax=ax)
    bar.set_label("I_q(z_j; v_k), nats", fontsize=FONT_SIZE)
    bar.ax.tick_params(labelsize=FONT_SIZE - 1)
    fig.suptitle(
        f"{model}: I_q(z_j; v_k) ({split} split, N={n}); MIG = {mig:.3f} ± {mig_stderr:.3f}\n"
        "outlined: each factor's most informative dim (solid) and the runner-up (dashed)",
        fontsize=FONT_SIZE + 1,
    )
    return fig

"""Per-latent bars: KL to the prior and I_q(x; z_j) for each Gaussian dim, sorted by KL.

Drawn from `latents/` (`latent`, `kl`, `kl_stderr`, `iq`, `iq_stderr`, `active`): the first picture to
read of a Gaussian VAE, since it shows which dims carry information at all. Inactive dims (Var_x
E_q[z_j|x] under the threshold) are drawn pale; every bar carries its value, so a near-zero bar is
read as a number, not as a missing one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vmieval.figures.canvas import FONT_SIZE, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_DIMS = 32  # more dims than this: the top-KL ones are drawn, the title says how many are left out


def latent_bars_figure(
    names: list[str],
    kl: np.ndarray,
    kl_stderr: np.ndarray,
    iq: np.ndarray,
    iq_stderr: np.ndarray,
    active: np.ndarray,
    *,
    model: str,
    threshold: float,
    n: int,
    split: str,
) -> Figure:
    """Two bars per dim (KL, I_q ± 1 stderr), dims by decreasing KL, log N drawn as I_q's ceiling."""
    order = np.argsort(-np.asarray(kl), kind="stable")
    shown = order[:MAX_DIMS]
    width = max(640, 70 + 34 * len(shown))
    fig = new_figure(width, 380)
    ax = fig.subplots()
    x = np.arange(len(shown))
    pale = [0.35 if not active[j] else 1.0 for j in shown]
    for offset, values, errs, colour, label in (
        (-0.2, kl, kl_stderr, "C0", "E_x KL(q(z_j|x) || p(z_j))  (upper bound)"),
        (0.2, iq, iq_stderr, "C1", "I_q(x; z_j)  (Monte Carlo)"),
    ):
        v = np.asarray(values, dtype=np.float64)[shown]
        e = np.nan_to_num(np.asarray(errs, dtype=np.float64)[shown])
        bars = ax.bar(x + offset, np.nan_to_num(v), 0.4, yerr=e, color=colour, label=label, capsize=2)
        for bar, alpha in zip(bars, pale, strict=True):
            bar.set_alpha(alpha)
        ax.bar_label(bars, labels=[f"{t:.2f}" if np.isfinite(t) else "n/a" for t in v], fontsize=FONT_SIZE - 2,
                     padding=2, rotation=90 if len(shown) > 6 else 0)  # fmt: skip
    top = max(float(np.nanmax(kl)) if len(kl) else 1.0, 1e-3) * 1.35
    if np.log(n) < top:  # I_q's ceiling, drawn where it can bind
        ax.axhline(np.log(n), color="grey", linestyle=":", linewidth=1)
        ax.text(-0.5, np.log(n), f" log N = {np.log(n):.2f} (I_q's ceiling)", ha="left", va="bottom",
                fontsize=FONT_SIZE - 2, color="grey")  # fmt: skip
    ax.set_xticks(x, [names[j] for j in shown], fontsize=FONT_SIZE - 1, rotation=90 if len(shown) > 16 else 0)
    ax.set_ylabel("nats", fontsize=FONT_SIZE)
    ax.set_ylim(0, top)
    ax.tick_params(labelsize=FONT_SIZE - 1)
    ax.legend(fontsize=FONT_SIZE - 1, frameon=False, loc="upper right")
    n_active = int(np.sum(active))
    left_out = f"; top {len(shown)} of {len(names)} dims" if len(shown) < len(names) else ""
    fig.suptitle(
        f"{model}: information per latent dim, sorted by KL\n"
        f"{split} split, N={n}{left_out}; {n_active} of {len(names)} dims active: Var_x E_q[z_j|x] > {threshold:g} "
        "(pale: inactive)",
        fontsize=FONT_SIZE + 1,
    )
    return fig

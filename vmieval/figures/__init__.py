"""Figures a person reads: matplotlib views of the arrays a report stores.

Every builder takes plain arrays (the same ones `report.h5` holds: grid pixels and their column
values, histogram edges and counts, the contingency table, training-history columns, the
comparison table) and returns a `matplotlib.figure.Figure`; `save_figure` writes it as a PNG,
atomically. A figure is a view of stored data, never a second source of numbers.

matplotlib is imported inside the functions, so importing vmieval (and the CLI's `--help`) does
not pay for it; figures are drawn on an Agg canvas, never through pyplot's global state.

| module | figure | paper |
| --- | --- | --- |
| `traversal` | a labelled traversal grid with its input images | Figs 2-5 |
| `probabilities` | per-category histograms of q(c=k|x) | Fig 6 |
| `contingency` | for each label, the categories its images go to | Figs 9/10 |
| `curves` | KL per block and the MI bound over training | Figs 7/8 |
| `comparison` | the MI table of several models, with error bars | - |
| `latents` | KL and I_q(x; z_j) per Gaussian dim, sorted, active units | - |
| `factors` | the I_q(z_j; v_k) heatmap with MIG per factor | - |
"""

from vmieval.figures.canvas import save_figure
from vmieval.figures.comparison import mi_comparison_figure
from vmieval.figures.contingency import contingency_figure
from vmieval.figures.curves import has_curves, training_curves_figure
from vmieval.figures.factors import factor_heatmap_figure
from vmieval.figures.latents import latent_bars_figure
from vmieval.figures.probabilities import probability_histogram_figure
from vmieval.figures.traversal import traversal_figure

__all__ = [
    "contingency_figure",
    "factor_heatmap_figure",
    "has_curves",
    "latent_bars_figure",
    "mi_comparison_figure",
    "probability_histogram_figure",
    "save_figure",
    "training_curves_figure",
    "traversal_figure",
]

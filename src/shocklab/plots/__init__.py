"""Figures from results objects: each function takes ``ax=`` (or creates one) and returns Axes.

Plots never compute statistics: bands come from the result's ``conf_int``
(:mod:`shocklab.models.results`). Every figure follows the same reading rules, checked in
``tests/test_plots.py``: y-limits set by the plotted estimates (a wide band is clipped, never
sets the scale), legends outside the axes, an event marker on every time axis, and a unit on
every response axis.
"""

from shocklab.plots.event_study import plot_car_paths, plot_price_paths, plot_test_table
from shocklab.plots.liquidation import plot_elasticities, plot_irf, plot_liquidations
from shocklab.plots.regimes import (
    plot_breaks,
    plot_correlation_paths,
    plot_dcc_paths,
    plot_regime_probabilities,
    plot_regimes_zoom,
)

__all__ = [
    "plot_breaks",
    "plot_car_paths",
    "plot_correlation_paths",
    "plot_dcc_paths",
    "plot_elasticities",
    "plot_irf",
    "plot_liquidations",
    "plot_price_paths",
    "plot_regime_probabilities",
    "plot_regimes_zoom",
    "plot_test_table",
]

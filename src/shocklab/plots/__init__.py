"""Figures from results objects: each function takes ``ax=`` (or creates one) and returns Axes.

Plots never compute statistics beyond what the result holds (the confidence bands use the
result's standard errors).
"""

from shocklab.plots.event_study import plot_car_paths, plot_price_paths, plot_test_table
from shocklab.plots.liquidation import plot_elasticities, plot_irf, plot_liquidations
from shocklab.plots.regimes import (
    plot_breaks,
    plot_correlation_paths,
    plot_dcc_paths,
    plot_regime_probabilities,
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
    "plot_test_table",
]

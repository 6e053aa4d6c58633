"""Figures from results objects: each function takes ``ax=`` (or creates one) and returns Axes.

Plots never compute statistics beyond what the result holds (the confidence bands use the
result's standard errors).
"""

from shocklab.plots.event_study import plot_car_paths, plot_price_paths, plot_test_table

__all__ = ["plot_car_paths", "plot_price_paths", "plot_test_table"]

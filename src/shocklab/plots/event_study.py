"""Event-study figures: CAR paths with confidence bands, and the table of test statistics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from shocklab.formatting import format_value

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from shocklab.models.event_study import EventStudyResult


LINESTYLES = ("-", "--", "-.", ":")


def legend_outside(ax: Axes, **kwargs: object) -> None:
    """The legend to the right of the axes, never over the data."""
    ax.legend(
        loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize="small", **kwargs
    )


def fit_to_lines(ax: Axes, pad: float = 0.08) -> None:
    """Set the y-limits from the plotted lines only (estimates, not their bands), with ``pad``
    of the range on each side: a wide band never sets the scale; it is clipped at the axes."""
    values = np.concatenate(
        [
            np.asarray(line.get_ydata(), dtype=float)
            for line in ax.get_lines()
            if np.size(line.get_ydata()) > 2  # axhline/axvline have two points
        ]
        or [np.array([np.nan])]
    )
    values = values[np.isfinite(values)]
    if values.size:
        lo, hi = float(values.min()), float(values.max())
        span = (hi - lo) or max(abs(hi), 1.0)
        ax.set_ylim(lo - pad * span, hi + pad * span)


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(8, 4.5), layout="constrained")[1]


def plot_car_paths(
    result: EventStudyResult,
    event: str | None = None,
    *,
    assets: Sequence[str] = (),
    groups: Sequence[str] = ("all",),
    level: float = 0.95,
    ax: Axes | None = None,
) -> Axes:
    """CAR from the window start to each event bar, in percent, with ``level`` bands.

    Asset bands: ``CAR +/- z * se(CAR)`` (forecast-error variance from the estimation window).
    Group bands: ``CAAR +/- t_{N-1} * sd_cross(CAR) / sqrt(N)`` (cross-sectional, as the
    ``t_cross`` test), drawn only for groups with at least the result's ``min_group`` usable
    assets (the rule the tests follow); smaller groups show their CAAR without a band.
    """
    ds = result.dataset
    ev = event if event is not None else str(ds["event"].values[0])
    ax = _axes(ax)
    rel = ds["rel"].values
    paths = result.conf_int(level, what="car_path").xs(ev, level="event") * 100
    for asset in assets:
        band = paths.xs(asset, level="asset").reindex(rel)
        (line,) = ax.plot(rel, band["estimate"], marker=".", label=asset)
        ax.fill_between(rel, band["lower"], band["upper"], color=line.get_color(), alpha=0.15)
    min_group = int(result.parameters.get("min_group", 2))
    bands = result.conf_int(level, what="caar_path").xs(ev, level="event")
    for group in groups:
        band = bands.xs(group, level="group").reindex(rel)
        size = int(band["n"].max()) if band["n"].notna().any() else 0
        note = "" if size >= min_group else f", no band: N < {min_group}"
        (line,) = ax.plot(
            rel, band["estimate"] * 100, lw=2.2, label=f"CAAR {group} (N={size}{note})"
        )
        if size >= min_group:
            ax.fill_between(
                rel, band["lower"] * 100, band["upper"] * 100, color=line.get_color(), alpha=0.15
            )
    ax.axvline(0, color="0.3", lw=0.8, ls="--")
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xlabel("bars relative to the event (0 = event bar)")
    ax.set_ylabel("cumulative abnormal return (%)")
    fit_to_lines(ax)
    ax.set_title(f"{ev}: CAR paths, {level:.0%} bands ({result.parameters.get('model')} model)")
    legend_outside(ax)
    return ax


def _members(result: EventStudyResult, group: str) -> list[str]:
    member = result.dataset["in_group"].sel(group=group)
    return [str(a) for a in member["asset"].values[member.values]]


def plot_test_table(
    result: EventStudyResult,
    event: str | None = None,
    *,
    group: str = "all",
    horizons: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """A figure table: CAAR and each test's statistic (p-value) per horizon; p < 0.05 shaded."""
    table = result.summary(event, group)
    if horizons is not None:
        table = table.loc[list(horizons)]
    tests = [c for c in table.columns if c not in ("caar", "n") and not c.endswith("_p")]
    stat = table[tests].to_numpy(dtype=float)
    pval = table[[t + "_p" for t in tests]].to_numpy(dtype=float)
    caar = table["caar"].to_numpy(dtype=float)
    count = table["n"].to_numpy(dtype=float)
    cells = [
        [f"{caar[i] * 100:.2f}%", f"{count[i]:.0f}"]
        + [f"{stat[i, j]:.2f} ({format_value(pval[i, j], 'p')})" for j in range(len(tests))]
        for i in range(len(table))
    ]
    colours = [
        ["white", "white"] + ["#f4c7c3" if p < 0.05 else "white" for p in pval[i]]
        for i in range(len(table))
    ]
    ax = ax if ax is not None else _axes(None)
    ax.set_axis_off()
    tab = ax.table(
        cellText=cells,
        cellColours=colours,
        rowLabels=list(table.index),
        colLabels=["CAAR", "N", *tests],
        loc="center",
    )
    tab.auto_set_font_size(False)
    tab.set_fontsize(7)
    tab.scale(1.0, 1.3)
    ev = event if event is not None else str(result.dataset["event"].values[0])
    ax.set_title(f"{ev}, group {group}: statistic (p-value); shaded p < 0.05", fontsize=9)
    return ax


def plot_price_paths(
    prices: pd.DataFrame,
    groups: dict[str, str] | None = None,
    *,
    title: str = "",
    event: object = None,
    ax: Axes | None = None,
) -> Axes:
    """Rebased prices (100 = the bar before the event), one line per group mean or per asset.

    ``prices`` is :func:`shocklab.studies.event.normalised_prices` output; ``groups`` maps asset ->
    group (then each line is a group's mean rebased price); ``event`` (day 0's bar) is marked.
    """
    ax = _axes(ax)
    frame = prices.T.groupby(pd.Series(groups)).mean().T if groups else prices
    for i, name in enumerate(frame.columns):
        ax.plot(
            frame.index,
            frame[name],
            marker=".",
            ls=LINESTYLES[(i // 10) % len(LINESTYLES)],
            label=str(name),
        )
    ax.axhline(100, color="0.3", lw=0.8)
    if event is not None:
        ax.axvline(pd.Timestamp(event), color="crimson", lw=1, ls="--", label="day 0")  # type: ignore[arg-type]
    ax.set_ylabel("price, 100 = bar before the event")
    ax.set_title(title)
    legend_outside(ax)
    ax.figure.autofmt_xdate()
    return ax

"""Figures for the coupling study: correlation paths, regime ribbons and break dates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from shocklab.plots.event_study import LINESTYLES, _axes, legend_outside

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from shocklab.models.breaks import BreaksResult
    from shocklab.models.markov import MarkovResult


def _event_line(ax: Axes, event: Any) -> None:
    if event is not None:
        ax.axvline(pd.Timestamp(event), color="crimson", lw=1, ls="--", label="event")  # type: ignore[arg-type]


def plot_correlation_paths(
    ds: xr.Dataset,
    *,
    pairs: Sequence[str] = (),
    event: Any = None,
    bands: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Correlation per pair over time with its Fisher-z band (``corr``, ``lo``, ``hi``).

    A dataset without ``corr`` (e.g. no overlapping hourly data) shows its ``note`` instead.
    """
    ax = _axes(ax)
    if "corr" not in ds:
        ax.text(
            0.5,
            0.5,
            ds.attrs.get("note", "no correlation estimates"),
            ha="center",
            transform=ax.transAxes,
        )
        ax.set_axis_off()
        return ax
    chosen = list(pairs) or [str(p) for p in ds["pair"].values]
    time = pd.DatetimeIndex(ds["time"].values)
    for i, pair in enumerate(chosen):
        sel = ds.sel(pair=pair)
        (line,) = ax.plot(
            time, sel["corr"].values, lw=1.2, ls=LINESTYLES[i % len(LINESTYLES)], label=pair
        )
        if bands and "lo" in ds:
            ax.fill_between(
                time, sel["lo"].values, sel["hi"].values, color=line.get_color(), alpha=0.15, lw=0
            )
    _event_line(ax, event)
    ax.axhline(0, color="0.5", lw=0.6)
    method = ds.attrs.get("method", "")
    detail = {
        "rolling": f"{ds.attrs.get('window')}-bar window",
        "ewma": f"lambda {ds.attrs.get('lambda')}",
    }
    ax.set_title(f"{method} correlation ({detail.get(method, '')})".replace(" ()", ""))
    ax.set_ylabel("correlation")
    ax.set_ylim(-1, 1)
    legend_outside(ax)
    return ax


def plot_dcc_paths(
    corr: xr.DataArray, *, event: Any = None, ax: Axes | None = None, title: str = ""
) -> Axes:
    """DCC conditional correlations ``(time, pair)``."""
    ax = _axes(ax)
    time = pd.DatetimeIndex(corr["time"].values)
    pairs = [str(p) for p in corr["pair"].values]
    lefts = list(dict.fromkeys(p.split("~")[0] for p in pairs))
    rights = list(dict.fromkeys(p.split("~")[-1] for p in pairs))
    for pair in pairs:  # colour: the crypto asset; line style: the tech partner
        left, right = pair.split("~")[0], pair.split("~")[-1]
        ax.plot(
            time,
            corr.sel(pair=pair).values,
            lw=1.1,
            color=f"C{lefts.index(left) % 10}",
            ls=LINESTYLES[rights.index(right) % len(LINESTYLES)],
            label=pair,
        )
    _event_line(ax, event)
    ax.set_ylabel("conditional correlation")
    ax.set_title(title or "DCC conditional correlations")
    legend_outside(ax)
    return ax


def plot_regime_probabilities(
    fit: MarkovResult,
    *,
    event: Any = None,
    smoothed: bool = True,
    around: int | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Stacked regime probabilities (a ribbon per regime, loosest coupling at the bottom).

    ``around``: show only the ``around`` sample bars either side of ``event`` (an event-window
    zoom, where single days can be read); default the full history.
    """
    ax = _axes(ax)
    probs = fit.smoothed if smoothed else fit.filtered
    if around is not None and event is not None:
        index = pd.DatetimeIndex(probs.index)
        at = int(index.searchsorted(pd.Timestamp(event)))
        probs = probs.iloc[max(at - around, 0) : at + around + 1]
    time = pd.DatetimeIndex(probs.index)
    colours = ["#4c72b0", "#dd8452", "#c44e52", "#55a868"]
    base = np.zeros(len(probs))
    for i, name in enumerate(probs.columns):
        top = base + probs[name].to_numpy()
        row = fit.params.loc[name]
        beta = float(row["beta"] if "beta" in row.index else row["const"])
        sd = float(np.sqrt(row["sigma2"]))
        label = f"{name!s} (beta {beta:.2f}, sd {sd:.2f})"
        ax.fill_between(
            time, base, top, color=colours[i % 4], alpha=0.8, lw=0, step="mid", label=label
        )
        base = top
    _event_line(ax, event)
    ax.set_ylim(0, 1)
    ax.set_xlim(time[0], time[-1])  # type: ignore[arg-type]
    ax.set_ylabel(f"{'smoothed' if smoothed else 'filtered'} probability")
    span = "full sample" if around is None else f"{around} bars either side of the event"
    ax.set_title(f"Markov-switching coupling regimes ({span})")
    legend_outside(ax)
    return ax


def plot_regimes_zoom(fit: MarkovResult, event: Any, *, around: int = 40) -> Any:
    """The regime figure a reader can use: the full history (left) beside an event-window zoom
    of ``around`` bars either side of ``event`` (right). Returns the figure."""
    import matplotlib.pyplot as plt

    fig, (full, zoom) = plt.subplots(
        1, 2, figsize=(12, 4), layout="constrained", gridspec_kw={"width_ratios": [1.4, 1]}
    )
    plot_regime_probabilities(fit, event=event, ax=full)
    full.get_legend().remove()
    plot_regime_probabilities(fit, event=event, around=around, ax=zoom)
    fig.autofmt_xdate()
    return fig


def plot_breaks(
    series: pd.Series,
    fit: BreaksResult,
    *,
    event: Any = None,
    ax: Axes | None = None,
    ylabel: str = "rolling beta",
) -> Axes:
    """A coupling series (e.g. rolling beta) with segment betas, break dates and intervals."""
    ax = _axes(ax)
    ax.plot(series.index, series.to_numpy(), color="0.4", lw=1, label=series.name or ylabel)
    if "beta" in fit.segments:
        for _, seg in fit.segments.iterrows():
            ax.hlines(seg["beta"], seg["start"], seg["end"], color="black", lw=2)
    for _, brk in fit.breaks.iterrows():
        ax.axvspan(brk["lo"], brk["hi"], color="orange", alpha=0.3, lw=0)
        ax.axvline(brk["date"], color="darkorange", lw=1.2)
    _event_line(ax, event)
    ax.set_ylabel(ylabel)
    ax.set_title(
        f"Bai-Perron: {fit.n_breaks} break{'s' if fit.n_breaks != 1 else ''} chosen by "
        f"{fit.criterion.upper()} ({fit.level:.0%} intervals shaded; segment betas in black)"
    )
    legend_outside(ax)
    return ax

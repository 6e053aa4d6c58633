"""Liquidation figures: bars with a price overlay, elasticity estimates with bands, IRFs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from shocklab.plots.event_study import _axes, legend_outside

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.axes import Axes

    from shocklab.models.liquidation import Estimates


def plot_liquidations(
    panel: xr.Dataset,
    asset: str,
    start: str,
    end: str,
    *,
    event: object = None,
    ax: Axes | None = None,
) -> Axes:
    """Daily long (down) and short (up) liquidations in M USD, with the close on a twin axis
    and a marker at ``event`` (the event's UTC day)."""
    ax = _axes(ax)
    d = panel.sel(asset=asset, time=slice(start, end))
    t = pd.DatetimeIndex(d["time"].values)
    ax.bar(t, -d["long_usd"].values / 1e6, color="#c0392b", label="longs liquidated")
    ax.bar(t, d["short_usd"].values / 1e6, color="#27ae60", label="shorts liquidated")
    ax.set_ylabel("liquidations, M USD (longs < 0)")
    twin = ax.twinx()
    price = np.exp(np.nancumsum(np.nan_to_num(d["ret"].values)))
    twin.plot(t, 100 * price / price[0], color="0.2", lw=1.5, label="price (100 = start)")
    twin.set_ylabel("price, 100 = first day")
    if event is not None:
        ax.axvline(pd.Timestamp(event), color="crimson", lw=1, ls="--", label="event (UTC day)")  # type: ignore[arg-type]
    ax.set_title(f"{asset}: liquidations (CoinGlass, lower bound) and price")
    handles, labels = ax.get_legend_handles_labels()
    more, names = twin.get_legend_handles_labels()
    ax.legend(
        handles + more,
        labels + names,
        loc="upper left",
        bbox_to_anchor=(1.08, 1.0),
        fontsize="small",
    )
    ax.figure.autofmt_xdate()
    return ax


def plot_elasticities(est: Estimates, *, level: float = 0.95, ax: Axes | None = None) -> Axes:
    """Per-asset elasticities (rows ``asset, side``) with ``level`` confidence bars."""
    ax = _axes(ax)
    table = est.conf_int(level).assign(estimate=est.params).dropna(subset=["estimate"])
    for offset, side in ((-0.15, "long"), (0.15, "short")):
        sub = table.xs(side, level="side")
        x = np.arange(len(sub)) + offset
        err = [sub["estimate"] - sub["lower"], sub["upper"] - sub["estimate"]]
        ax.errorbar(x, sub["estimate"], yerr=err, fmt="o", capsize=3, label=side)
        ax.set_xticks(np.arange(len(sub)), list(sub.index))
    ax.axhline(0, color="0.3", lw=0.8)
    unit = "bp per 1 % of OI" if est.extra.get("scale") == "oi" else "bp per 100 M USD"
    ax.set_ylabel(f"return response, {unit}")
    ax.set_title(f"Liquidation elasticity per asset, {level:.0%} HAC bands")
    legend_outside(ax)
    return ax


def plot_irf(est: Estimates, *, ax: Axes | None = None) -> Axes:
    """Orthogonalised impulse responses of the VAR (all shock -> response pairs)."""
    ax = _axes(ax)
    irf = np.asarray(est.extra["irf"])
    names = list(est.extra["order"])
    h = np.arange(irf.shape[0])
    for i, resp in enumerate(names):
        for j, shock in enumerate(names):
            ax.plot(h, irf[:, i, j], marker=".", label=f"{shock} -> {resp}")
    ax.axhline(0, color="0.3", lw=0.8)
    ax.axvline(0, color="crimson", lw=1, ls="--", label="shock (bar 0)")
    ax.set_xlabel("bars (days) after the shock")
    units = est.extra.get(
        "units", "units of each variable: return (log points), liquidations (share of OI)"
    )
    ax.set_ylabel(f"response to a one-sd shock\n({units})")
    ax.set_title(f"VAR({est.extra['lags']}) impulse responses")
    legend_outside(ax)
    return ax

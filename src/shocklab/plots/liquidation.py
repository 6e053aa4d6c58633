"""Liquidation figures: bars with a price overlay, elasticity estimates with bands, IRFs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from shocklab.plots.event_study import _axes

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.axes import Axes

    from shocklab.models.liquidation import Estimates


def plot_liquidations(
    panel: xr.Dataset, asset: str, start: str, end: str, *, ax: Axes | None = None
) -> Axes:
    """Daily long (down) and short (up) liquidations in M USD, with the close on a twin axis."""
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
    ax.set_title(f"{asset}: liquidations (CoinGlass, lower bound) and price")
    ax.legend(loc="lower left", fontsize="small")
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
    ax.legend(fontsize="small")
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
    ax.set_xlabel("bars after the shock")
    ax.set_ylabel("response (one-sd orthogonal shock)")
    ax.set_title(f"VAR({est.extra['lags']}) impulse responses")
    ax.legend(fontsize="small")
    return ax

"""Daily derivatives panel: returns, long/short liquidations and open interest per asset.

Joins CoinGlass daily aggregates (``open_liquidations``, ``open_open_interest``; assets named
``BTC``, ``ETH``, ...) with Binance UTC-daily closes of ``<asset>USDT`` on the UTC day, the
frequency both share. Finer data (hourly CoinGlass, a Binance forceOrder recording) can be put
in the same layout by the user; the models do not care about the frequency.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import cast

import numpy as np
import pandas as pd
import xarray as xr

from shocklab.config import data_root
from shocklab.data.catalog import DERIVATIVE_FILES, Catalog
from shocklab.data.errors import CoverageError, DataFileError, DataQualityWarning
from shocklab.data.loaders import (
    TimeLike,
    open_funding,
    open_liquidations,
    open_open_interest,
    open_prices,
)


def liquidation_panel(
    symbols: Sequence[str] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
) -> xr.Dataset:
    """``(time, asset)`` daily panel (computed) over ``start``..``end`` (default: the span
    :meth:`Catalog.liquidation_coverage` finds, from the first to the last day any asset has
    liquidations, open interest and prices together) with

    - ``ret``: log return of the Binance spot close, UTC day ``t-1`` -> ``t`` (log points);
    - ``long_usd``, ``short_usd``: liquidations during UTC day ``t`` (USD; ``lower_bound``);
    - ``oi_usd``: open interest at the close of day ``t``; ``oi_lag`` at the close of ``t-1``;
    - ``funding``: Binance USD-M funding paid over UTC day ``t`` (sum of the settlements'
      rates, fraction; NaN where the asset has no funding file or no settlement that day);
    - ``long_share``, ``short_share``: liquidations over ``oi_lag`` (fraction of the open
      interest at the start of the day). Zero or missing open interest gives NaN shares and a
      :class:`DataQualityWarning` counting them; nothing is filled.
    """
    if start is None or end is None:
        cov = Catalog(data_root(data_dir)).liquidation_coverage(symbols)
        usable = cov[cov["reason"] == ""]
        if usable.empty:
            root = data_root(data_dir)
            why = "; ".join(f"{a}: {r}" for a, r in cov["reason"].items()) or (
                f"no {DERIVATIVE_FILES['liquidations']}"
            )
            msg = (
                f"no asset has liquidations, open interest and daily prices together in {root} "
                f"({why}); fetch them with shocklab.data.fetch.fetch_coinglass_liquidations"
            )
            raise CoverageError(msg)
        start = start if start is not None else str(usable["first"].min().date())
        end = end if end is not None else str(usable["last"].max().date())
    liq = open_liquidations(symbols, start, end, data_dir=data_dir).compute()
    oi = open_open_interest(symbols, start, end, data_dir=data_dir).compute()
    assets = [str(a) for a in liq["asset"].values]
    pairs = [f"{a}USDT" for a in assets]
    prices = open_prices(pairs, start, end, freq="1d", data_dir=data_dir)
    close = prices["close"].compute().assign_coords(asset=assets)
    time = pd.DatetimeIndex(liq.indexes["time"]).as_unit("ns")
    liq = liq.assign_coords(time=time)
    oi = oi.assign_coords(time=pd.DatetimeIndex(oi.indexes["time"]).as_unit("ns")).reindex(
        time=time
    )
    close = close.reindex(time=time)
    ret = cast(xr.DataArray, np.log(close / close.shift(time=1)))
    oi_lag = oi["oi_usd"].shift(time=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        long_share = liq["long_usd"] / oi_lag
        short_share = liq["short_usd"] / oi_lag
    # the first day has no previous open interest by construction; count the others
    unusable = liq["long_usd"].notnull() & long_share.isnull()  # noqa: PD004 (xarray API)
    bad_oi = int(unusable.isel(time=slice(1, None)).sum())
    if bad_oi:
        warnings.warn(
            f"{bad_oi} asset-days have liquidations but no usable open interest the day before "
            "(zero or missing); their liquidation shares are NaN",
            DataQualityWarning,
            stacklevel=2,
        )
    funding = _daily_funding(pairs, assets, time, start, end, data_dir)
    ds = xr.Dataset(
        {
            "ret": ret.drop_vars([c for c in ret.coords if c not in ("time", "asset")]),
            "funding": funding,
            "long_usd": liq["long_usd"],
            "short_usd": liq["short_usd"],
            "oi_usd": oi["oi_usd"],
            "oi_lag": oi_lag,
            "long_share": long_share,
            "short_share": short_share,
        }
    )
    ds = ds.assign_coords(pair=("asset", pairs))
    ds["ret"].attrs = {"units": "log points", "description": "Binance spot close-to-close, UTC day"}
    ds["long_share"].attrs = {"units": "1", "description": "long liquidations / OI(t-1)"}
    ds["short_share"].attrs = {"units": "1", "description": "short liquidations / OI(t-1)"}
    ds["funding"].attrs = {"units": "1", "description": "sum of funding rates settled in the day"}
    ds.attrs = {
        "source": f"{liq.attrs.get('source_file')} + {oi.attrs.get('source_file')} + Binance 1d",
        "liquidation_sha256": str(liq.attrs.get("sha256")),
        "open_interest_sha256": str(oi.attrs.get("sha256")),
        "completeness": "lower_bound",
        "frequency": "1d (UTC)",
    }
    return ds


def _daily_funding(
    pairs: Sequence[str],
    assets: Sequence[str],
    time: pd.DatetimeIndex,
    start: TimeLike,
    end: TimeLike,
    data_dir: str | os.PathLike[str] | None,
) -> xr.DataArray:
    """Daily sum of funding settlements per asset on the ``time`` grid (NaN without data)."""
    out = xr.DataArray(
        np.full((len(time), len(assets)), np.nan),
        dims=("time", "asset"),
        coords={"time": time, "asset": list(assets)},
    )
    for pair, asset in zip(pairs, assets, strict=True):
        try:
            rates = open_funding(pair, start, end, data_dir=data_dir)["funding_rate"]
        except (DataFileError, CoverageError) as exc:  # absent or out of range: flag, leave NaN
            warnings.warn(
                f"no funding for {pair}: {exc}; its funding column is NaN",
                DataQualityWarning,
                stacklevel=3,
            )
            continue
        series = rates.sel(asset=pair).to_series().dropna()
        daily = series.groupby(pd.DatetimeIndex(series.index).floor("D")).sum()
        out.loc[{"asset": asset}] = daily.reindex(time).to_numpy()
    return out

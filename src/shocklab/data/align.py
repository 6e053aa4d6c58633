"""Calendar alignment: put 24/7 crypto and NYSE-session assets on one time axis.

One mechanism serves every calendar: **as-of sampling on** ``bar_end``. For each sampling instant
``t`` and asset, take the close of the last *expected* bar whose close was observed at or
before ``t`` (``bar_end <= t``), provided it is at most ``tolerance`` old; if that bar is
missing, the sample is NaN. A price is never carried across a gap, and each sample reports how
many expected bars were missing in the interval since the previous sample.

* :func:`nyse_close_panel` — **NYSE-close-synchronous daily** prices: every asset observed at
  each session close (16:00 America/New_York, 13:00 on early closes; DST and holidays from
  exchange-calendars). A crypto return on Monday spans Friday's close to Monday's close, like a
  stock's.
* :func:`hourly_panel` — a UTC hourly grid; NYSE assets carry an ``in_session`` mask.
* :func:`returns` — simple or log returns along ``time``; NaN where either end is missing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal, cast

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from dask.base import tokenize

from shocklab.config import data_root
from shocklab.data.calendar import nyse_open_mask, nyse_schedule
from shocklab.data.catalog import Catalog, Venue
from shocklab.data.loaders import TimeLike, open_prices, provenance_attrs, window

ReturnKind = Literal["log", "simple"]


def _asof_kernel(
    close: np.ndarray, bar_end: np.ndarray, instants: np.ndarray, tolerance: np.timedelta64
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """As-of sampling per row (asset). ``close``/``bar_end``: ``(..., time)``.

    Returns ``(price, n_missing, n_expected)`` of shape ``(..., sample)``; the counts refer to
    expected bars whose close falls in ``(instants[k-1], instants[k]]``.
    """
    lead = close.shape[:-1]
    flat_close = close.reshape(-1, close.shape[-1])
    flat_end = np.broadcast_to(bar_end, close.shape).reshape(-1, close.shape[-1])
    m = instants.size
    price = np.full((flat_close.shape[0], m), np.nan)
    n_missing = np.zeros((flat_close.shape[0], m))
    n_expected = np.zeros((flat_close.shape[0], m))
    for i in range(flat_close.shape[0]):
        keep = ~np.isnat(flat_end[i])
        ends, values = flat_end[i][keep], flat_close[i][keep]
        if ends.size == 0:
            price[i] = np.nan
            continue
        pos = np.searchsorted(ends, instants, side="right") - 1
        ok = pos >= 0
        safe = np.clip(pos, 0, None)
        fresh = ok & (instants - ends[safe] <= tolerance)
        price[i] = np.where(fresh, values[safe], np.nan)
        cum_missing = np.concatenate([[0], np.cumsum(np.isnan(values))])
        upto = pos + 1  # number of bars with end <= instant
        n_missing[i] = np.diff(cum_missing[upto], prepend=cum_missing[upto[0]])
        n_expected[i] = np.diff(upto, prepend=upto[0])
    shape = (*lead, m)
    return price.reshape(shape), n_missing.reshape(shape), n_expected.reshape(shape)


_SAMPLED = ("close", "n_missing", "n_expected")


def _asof_block(
    close: np.ndarray, bar_end: np.ndarray, instants: np.ndarray, tolerance: np.timedelta64
) -> np.ndarray:
    """:func:`_asof_kernel` on a ``(time, asset)`` block -> ``(sample, asset, 3)``."""
    return np.stack(_asof_kernel(close.T, bar_end.T, instants, tolerance), axis=-1).transpose(
        1, 0, 2
    )


def _sampled_stack(
    prices: xr.Dataset, instants: np.ndarray, tolerance: np.timedelta64
) -> np.ndarray | da.Array:
    """As-of samples of every asset, ``(sample, asset, 3)`` in the order of :data:`_SAMPLED`.

    Dask input gives one task per asset chunk (the loaders' file blocks), in the same chunks.
    """
    close = prices["close"].transpose("time", "asset").data
    bar_end = prices["bar_end"].transpose("time", "asset").data
    if not isinstance(close, da.Array) and not isinstance(bar_end, da.Array):
        return _asof_block(np.asarray(close), np.asarray(bar_end), instants, tolerance)
    close = da.asarray(close).rechunk({0: -1})  # the kernel needs whole series
    bar_end = da.asarray(bar_end).rechunk({0: -1, 1: close.chunks[1]})
    sampled: da.Array = da.map_blocks(
        _asof_block,
        close,
        bar_end,
        instants=instants,
        tolerance=tolerance,
        chunks=((instants.size,), close.chunks[1], (len(_SAMPLED),)),
        new_axis=2,
        dtype="float64",
        name=f"asof-{tokenize(close, bar_end, instants, tolerance)}",
    )
    # samples are few: merge the per-file blocks up to dask's chunk size, so each sampled
    # variable is a handful of tasks rather than one per file
    merged: da.Array = sampled.rechunk({1: "auto"}, method="tasks")
    return merged


def _instants(instants: pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    inst = np.asarray(pd.DatetimeIndex(instants).as_unit("ns").to_numpy(), dtype="datetime64[ns]")
    if inst.size == 0:
        msg = "no sampling instants: the window holds no session or hour. Widen the window."
        raise ValueError(msg)
    return inst


def _sampled_dataset(
    stack: np.ndarray | da.Array,
    asset_coords: dict[str, tuple[str, np.ndarray]],
    instants: np.ndarray,
    labels: pd.DatetimeIndex | None,
    attrs: dict[str, object],
    time_coords: dict[str, np.ndarray] | None = None,
) -> xr.Dataset:
    """The sampled variables with their coordinates, built at once (no re-alignment)."""
    out = xr.Dataset(
        {name: (("time", "asset"), stack[:, :, k]) for k, name in enumerate(_SAMPLED)},
        coords={
            "time": ("time", instants if labels is None else pd.DatetimeIndex(labels).to_numpy()),
            "sample_time": ("time", instants),
            **{name: ("time", values) for name, values in (time_coords or {}).items()},
            **asset_coords,
        },
    )
    out["close"].attrs = dict(attrs)
    out["n_missing"].attrs["description"] = "expected source bars missing since previous sample"
    out["n_expected"].attrs["description"] = "expected source bars since previous sample"
    return out


def _coords_along_asset(*parts: xr.Dataset) -> dict[str, tuple[str, np.ndarray]]:
    """The ``asset`` coordinates of one or more datasets, concatenated in order."""
    coords = parts[0]["asset"].coords
    names = [str(name) for name, coord in coords.items() if coord.dims == ("asset",)]
    return {
        name: ("asset", np.concatenate([part[name].to_numpy() for part in parts])) for name in names
    }


def sample_at(
    prices: xr.Dataset,
    instants: pd.DatetimeIndex | np.ndarray,
    *,
    tolerance: pd.Timedelta | str = "0s",
    labels: pd.DatetimeIndex | None = None,
) -> xr.Dataset:
    """As-of sample ``prices['close']`` at UTC ``instants`` (lazy; one task per asset chunk).

    Returns ``close`` (NaN where the bar closing at or within ``tolerance`` before the instant is
    missing), ``n_missing`` and ``n_expected`` (expected bars, and how many of them were missing,
    whose close falls since the previous instant). ``time`` holds ``labels`` (default: the
    instants) and the coordinate ``sample_time`` the instants.
    """
    inst = _instants(instants)
    tol = np.timedelta64(pd.Timedelta(tolerance).value, "ns")
    stack = _sampled_stack(prices, inst, tol)
    out = _sampled_dataset(stack, _coords_along_asset(prices), inst, labels, prices["close"].attrs)
    out.attrs = dict(prices.attrs)
    return out


def nyse_close_panel(
    symbols: Sequence[str] | str,
    start: TimeLike,
    end: TimeLike,
    *,
    source_freq: Literal["1h", "5m"] = "1h",
    venue: Venue = "spot",
    data_dir: str | os.PathLike[str] | None = None,
    fetch: bool | None = None,
) -> xr.Dataset:
    """Prices of every asset at each NYSE session close in ``[start, end]``.

    Equities use their daily close; crypto is sampled from ``source_freq`` bars at the bar that
    closes exactly at the session close (16:00 New York = 21:00 UTC in winter, 20:00 UTC in
    summer; 18:00/17:00 UTC on early closes). One extra session before ``start`` is included so
    that the first return in the window is defined.

    ``time`` is the session date; coordinates ``interval_start`` and ``interval_end`` give the
    UTC span of each return (previous close -> this close).
    """
    symbols = [symbols] if isinstance(symbols, str) else list(symbols)
    start_ts, end_ts = window(start, end)
    sched = nyse_schedule(start_ts - pd.Timedelta(days=10), end_ts - pd.Timedelta(1, "ns"))
    first = int(sched.index.searchsorted(start_ts))
    sched = sched.iloc[max(first - 1, 0) :]
    if len(sched) < 2:
        msg = f"no NYSE session between {start} and {end}; pick dates with trading sessions."
        raise ValueError(msg)
    closes = pd.DatetimeIndex(sched["close"])
    load_start = closes[0] - pd.Timedelta(days=1)
    load_end = closes[-1] + pd.Timedelta(hours=1)

    catalog = Catalog(data_root(data_dir))
    # the coverage authority says which file a NYSE-close panel reads: session-dated daily bars,
    # or 24/7 intraday bars sampled at the close
    sources = {s: catalog.source(s.upper(), "nyse", venue, source_freq) for s in symbols}
    daily = [s for s in symbols if (sf := sources[s]) is not None and sf.freq == "1d"]
    intraday = [s for s in symbols if s not in daily]
    opened = {}
    if daily:
        opened[symbols.index(daily[0])] = open_prices(
            daily,
            sched.index[0],
            sched.index[-1] + pd.Timedelta(days=1),
            freq="1d",
            data_dir=data_dir,
            fetch=fetch,
        )
    if intraday:
        opened[symbols.index(intraday[0])] = open_prices(
            intraday,
            load_start,
            load_end,
            freq=source_freq,
            venue=venue,
            data_dir=data_dir,
            fetch=fetch,
        )
    parts = [opened[k] for k in sorted(opened)]  # the request's order when it lists each kind
    inst = _instants(closes)
    stacks = [_sampled_stack(part, inst, np.timedelta64(0, "ns")) for part in parts]
    coords = _coords_along_asset(*parts)
    stack = (
        stacks[0] if len(stacks) == 1 else da.concatenate([da.asarray(x) for x in stacks], axis=1)
    )
    panel = _sampled_dataset(
        stack,
        coords,
        inst,
        pd.DatetimeIndex(sched.index),
        parts[0]["close"].attrs,
        {  # the UTC span of each return: previous close -> this close
            "interval_start": np.concatenate([[np.datetime64("NaT", "ns")], inst[:-1]]),
            "interval_end": inst,
        },
    )
    have = panel.indexes["asset"]
    wanted = have.get_indexer(pd.Index([s.upper() for s in symbols]))
    if not np.array_equal(wanted, np.arange(have.size)):  # interleaved kinds or repeats
        panel = panel.isel(asset=wanted)
    panel["time"].attrs["label"] = "NYSE session date; prices observed at the session close (UTC)"
    panel.attrs = provenance_attrs(
        "nyse_close_panel",
        data_root(data_dir),
        symbols=symbols,
        start=str(start_ts),
        end=str(end_ts),
        source_freq=source_freq,
        venue=venue,
    )
    panel.attrs["alignment"] = f"nyse_close (crypto sampled from {source_freq} bars)"
    return panel


def hourly_panel(
    symbols: Sequence[str] | str,
    start: TimeLike,
    end: TimeLike,
    *,
    venue: Venue = "spot",
    data_dir: str | os.PathLike[str] | None = None,
    fetch: bool | None = None,
) -> xr.Dataset:
    """A UTC hourly grid for crypto and NYSE assets with an ``in_session`` mask.

    ``time`` is the hour's open (UTC); each asset's price is its close as of the hour's end.
    NYSE hourly bars start at :30, so their closes are up to 30 minutes older than the grid
    instant (``tolerance`` of 30 minutes); ``in_session`` is True where the NYSE regular session
    overlaps the hour (always True for 24/7 assets).
    """
    start_ts, end_ts = window(start, end)
    ds = open_prices(
        symbols, start_ts, end_ts, freq="1h", venue=venue, data_dir=data_dir, fetch=fetch
    )
    grid = pd.date_range(start_ts.ceil("1h"), end_ts, freq="1h", inclusive="left", name="time")
    instants = grid + pd.Timedelta(hours=1)
    out = sample_at(ds, instants, tolerance="30min", labels=grid)
    session = nyse_open_mask(instants.to_numpy(), np.timedelta64(1, "h"))
    always = (ds["calendar"] == "24/7").values
    mask = np.where(always[None, :], True, session[:, None])
    out["in_session"] = (("time", "asset"), mask, {"description": "asset's market open in hour"})
    out.attrs["alignment"] = "utc_hourly (as-of hour end; NYSE bars up to 30 min stale)"
    return out


def returns(prices: xr.Dataset | xr.DataArray, kind: ReturnKind = "log") -> xr.DataArray:
    """Returns along ``time`` from ``close`` (or a price DataArray): log or simple.

    The first label and any label whose own or previous price is missing are NaN: returns are
    never computed across a gap.
    """
    price = prices["close"] if isinstance(prices, xr.Dataset) else prices
    if kind not in ("log", "simple"):
        msg = f"kind must be 'log' or 'simple', not {kind!r}"
        raise ValueError(msg)
    ratio = price / price.shift(time=1)
    out = cast(xr.DataArray, np.log(ratio)) if kind == "log" else ratio - 1.0
    out.name = f"{kind}_return"
    out.attrs = {"units": "1" if kind == "simple" else "log points", "kind": kind}
    return out

"""Files -> lazy, aligned ``xr.Dataset`` panels with dims ``(time, asset)``.

Every loader builds one dask task per file: nothing is read until the result is computed (only
the manifest and the files' SHA-256 are touched when a panel is opened). Every file a loader
will read is recorded then, in the calling process (``shocklab.data.readlog``). Coordinates along
``asset`` say what each column is (``asset_class``, ``venue``, ``group``, ``calendar``,
``source_file``, ``sha256``); ``attrs`` carry the request and the data root.

Time labels are tz-naive **UTC bar open times** for intraday and crypto bars, and **session
dates** for daily exchange bars. Because the two differ, every price panel also carries
``bar_end``: the UTC instant at which each bar's close was observed (crypto: open + bar length;
NYSE daily: the session close from exchange-calendars; NYSE hourly: open + 1 h, cut at the
close). Alignment across calendars (``shocklab.data.align``) samples on ``bar_end``.
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from dask.base import tokenize
from dask.delayed import delayed

from shocklab import __version__
from shocklab.config import DATA_ENV, data_root, offline
from shocklab.data.calendar import nyse_hourly_bars, nyse_schedule
from shocklab.data.catalog import (
    DERIVATIVE_FILES,
    FUNDING_DIR,
    Catalog,
    SeriesFile,
    Venue,
    check_venue,
    path_sha256,
)
from shocklab.data.errors import (
    CoverageError,
    DataFileError,
    DataQualityWarning,
    ShocklabDataError,
    UnknownSymbolError,
)
from shocklab.data.readlog import record_read
from shocklab.data.sources.coinglass import AGG_DAILY_FIX
from shocklab.data.sources.mirror import (
    Bars,
    read_bar_arrays,
    read_csv_checked,
    read_fred_csv,
    read_funding,
    read_long_panel,
)
from shocklab.universe import load_universe

PRICE_FIELDS = ("open", "high", "low", "close", "volume")
LEVEL_CLASSES = ("rate",)  # may be zero or negative: not prices
_STEPS = {"5m": pd.Timedelta(minutes=5), "1h": pd.Timedelta(hours=1), "1d": pd.Timedelta(days=1)}

TimeLike = str | pd.Timestamp


def window(start: TimeLike, end: TimeLike) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` in naive UTC; a date-only ``end`` includes that whole day."""
    s, e = _utc(start), _utc(end)
    if isinstance(end, str) and len(end.strip()) == 10:
        e += pd.Timedelta(days=1)
    if not s < e:
        msg = f"empty window: start {start} is not before end {end}. Swap or widen the dates."
        raise ValueError(msg)
    return s, e


def _utc(value: TimeLike) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        msg = f"{value!r} is not a date or time; use ISO format such as 2025-01-27."
        raise ValueError(msg) from exc
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


@dataclass(frozen=True)
class _Schedule:
    """Expected bars of one file in a window: labels and the instants their closes are seen."""

    labels: pd.DatetimeIndex
    bar_end: np.ndarray


def _schedule_kind(sf: SeriesFile) -> tuple[str, str]:
    """What a file's expected bars depend on: its calendar family and bar length."""
    if sf.freq not in _STEPS:
        msg = f"unsupported freq {sf.freq!r}; use one of {sorted(_STEPS)}."
        raise ValueError(msg)
    if sf.calendar in ("XNYS", "session") and sf.freq == "1d":
        return "nyse-sessions", sf.freq
    if sf.calendar == "XNYS":
        return "nyse-hours", sf.freq
    return "grid", sf.freq


@functools.lru_cache(maxsize=32)
def _schedule(kind: str, freq: str, start: pd.Timestamp, end: pd.Timestamp) -> _Schedule:
    """Expected bars of a calendar in ``[start, end)``; shared by every file of that kind."""
    step = _STEPS[freq]
    if kind == "nyse-sessions":
        sched = nyse_schedule(start, end - pd.Timedelta(1, "ns"))
        out = _Schedule(pd.DatetimeIndex(sched.index, name="time"), sched["close"].to_numpy())
    elif kind == "nyse-hours":
        bars = nyse_hourly_bars(start, end)
        bars = bars[(bars.index >= start) & (bars.index < end)]
        out = _Schedule(pd.DatetimeIndex(bars.index, name="time"), bars["end"].to_numpy())
    else:
        labels = pd.date_range(start.ceil(step), end, freq=step, inclusive="left", name="time")
        out = _Schedule(labels, (labels + step).to_numpy())
    out.bar_end.flags.writeable = False  # cached: shared by every caller
    return out


def _check_coverage(sf: SeriesFile, start: pd.Timestamp, end: pd.Timestamp) -> None:
    if sf.first is None or sf.last is None:
        return
    if end <= sf.first or start > sf.last:
        msg = (
            f"{sf.symbol} ({sf.relpath}) covers {sf.first} .. {sf.last}; the window "
            f"{start} .. {end} lies outside. Pick dates inside the coverage or fetch more data."
        )
        raise CoverageError(msg)


def _read_block(
    reader: Callable[[Path], Bars],
    path: Path,
    labels: np.ndarray,
    own: np.ndarray,
    fields: Sequence[str],
    name: str,
) -> np.ndarray:
    """Parse one file and place its rows on the union grid: float array ``(time, 1, field)``.

    Rows inside the window that are not expected bars (e.g. a row dated on an exchange holiday)
    are reported, not placed.
    """
    bars = reader(path)
    lo = int(np.searchsorted(bars.time, labels[0], side="left"))
    hi = int(np.searchsorted(bars.time, labels[-1], side="right"))
    stamps, rows = bars.time[lo:hi], bars.values[lo:hi]
    pos = np.minimum(np.searchsorted(labels, stamps), labels.size - 1)
    placed = (labels[pos] == stamps) & own[pos]
    if not placed.all():
        stray = stamps[~placed]
        warnings.warn(
            f"{name}: {stray.size} row(s) fall on no expected bar of its calendar (first "
            f"{pd.Timestamp(stray[0])}); they are left out of the panel. A time-zone slip or a "
            "holiday row?",
            DataQualityWarning,
            stacklevel=2,
        )
        pos, rows = pos[placed], rows[placed]
    out = np.full((labels.size, 1, len(fields)), np.nan)
    if bars.columns[: len(fields)] == tuple(fields):  # the usual layout: whole rows at once
        out[pos, 0, :] = rows[:, : len(fields)]
    else:
        for k, field in enumerate(fields):
            if field in bars.columns:
                out[pos, 0, k] = rows[:, bars.columns.index(field)]
    return out


_READ_TASK = delayed(_read_block, pure=True)  # wrapped once: wrapping tokenizes the function


def _fred_session_bars(path: Path) -> pd.DataFrame:
    """A FRED daily series as bars on the NYSE session calendar: its value as ``close`` (the
    other fields NaN). FRED dates some series on every calendar day (DFF carries Friday's
    rate through the weekend); rows that are not NYSE sessions are not bars of this
    calendar and are left out here, not reported as strays."""
    frame = read_fred_csv(path)
    sessions = nyse_schedule(frame.index.min(), frame.index.max()).index
    frame = frame[frame.index.isin(sessions)]
    out = pd.DataFrame(np.nan, index=frame.index, columns=list(PRICE_FIELDS))
    out["close"] = frame["value"].to_numpy()
    return out


def _frame_bars(reader: Callable[[Path], pd.DataFrame], path: Path) -> Bars:
    """Adapt a frame reader (time index, float columns) to :func:`_read_block`."""
    frame = reader(path)
    return Bars(
        frame.index.to_numpy(dtype="datetime64[ns]"),
        frame.to_numpy(dtype="float64", na_value=np.nan),
        tuple(str(c) for c in frame.columns),
    )


def _resolve(
    symbols: Iterable[str],
    freq: str,
    venue: Venue,
    root: Path,
    fetch: bool | None,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> list[SeriesFile]:
    catalog = Catalog(root)
    allow_fetch = (not offline()) if fetch is None else fetch
    files: list[SeriesFile] = []
    seen: set[str] = set()
    for raw in symbols:
        symbol = str(raw).strip().upper()
        if not symbol:
            msg = "empty symbol in the request; remove it."
            raise ValueError(msg)
        if symbol in seen:
            continue
        seen.add(symbol)
        sf = catalog.locate(symbol, freq, venue)
        if sf is None and allow_fetch:
            from shocklab.data.fetch import fetch_prices  # the network layer, only when needed

            fetch_prices(symbol, freq=freq, venue=venue, start=start, end=end, root=root)
            catalog = Catalog(root)
            sf = catalog.locate(symbol, freq, venue)
        elif sf is not None and allow_fetch and _extend(sf, start, end, root):
            catalog = Catalog(root)
            sf = catalog.locate(symbol, freq, venue)
        if sf is None:
            why = "no local file" + (
                " and downloads are off (SHOCKLAB_OFFLINE or fetch=False)"
                if not allow_fetch
                else ""
            )
            raise catalog.unknown(symbol, freq, venue, why)
        record_read(sf.path, root)  # before the coverage check, which may read the file's span
        _check_coverage(sf, start, end)
        files.append(sf)
    if not files:
        msg = "no symbols requested; pass at least one symbol."
        raise ValueError(msg)
    return files


def _missing_spans(
    sf: SeriesFile, start: pd.Timestamp, end: pd.Timestamp
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The parts of ``[start, end)`` before the file's first bar and after its last one."""
    if sf.first is None or sf.last is None:
        return []
    spans = []
    if start < sf.first:
        spans.append((start, sf.first))
    after = sf.last + sf.bar_length
    if end > after:
        spans.append((after, end))
    return spans


def _extend(sf: SeriesFile, start: pd.Timestamp, end: pd.Timestamp, root: Path) -> bool:
    """Online, fetch the parts of ``[start, end)`` the local file lacks and merge them into it
    (the fetch records the new span for the catalog). True when something was fetched. A part
    the upstream cannot give (not listed then, an upstream error) is a
    :class:`DataQualityWarning` naming the file, the span and why: the panel then has NaN
    there, said out loud."""
    from shocklab.data.fetch import fetch_prices  # the network layer, only when needed

    fetched = False
    for lo, hi in _missing_spans(sf, start, end):
        try:
            fetch_prices(sf.symbol, freq=sf.freq, venue=_venue_of(sf), start=lo, end=hi, root=root)
        except (ShocklabDataError, OSError) as exc:
            warnings.warn(
                f"{sf.symbol}: {sf.relpath} covers {sf.first} .. {sf.last} and fetching "
                f"{lo} .. {hi} failed ({exc}); those bars stay empty.",
                DataQualityWarning,
                stacklevel=4,
            )
            continue
        fetched = True
    return fetched


def _venue_of(sf: SeriesFile) -> Venue:
    """The Binance venue folder of a crypto file (``spot`` for the others: unused there)."""
    parts = sf.relpath.split("/")
    if parts[:2] == ["crypto", "binance"] and len(parts) > 2:
        return check_venue(parts[2])
    return "spot"


def open_prices(
    symbols: Sequence[str] | str,
    start: TimeLike,
    end: TimeLike,
    *,
    freq: str = "1h",
    venue: Venue = "spot",
    data_dir: str | os.PathLike[str] | None = None,
    fetch: bool | None = None,
) -> xr.Dataset:
    """Open OHLCV bars of many assets as one lazy ``(time, asset)`` dataset.

    Parameters
    ----------
    symbols
        Binance pairs (``BTCUSDT``), US tickers (``NVDA``) or macro names (``VIX``), mixed freely.
    start, end
        Window ``[start, end)`` in UTC; a date-only ``end`` includes that day.
    freq
        ``"5m"``, ``"1h"`` or ``"1d"``.
    venue
        Binance market for crypto symbols: ``"spot"``, ``"usdm"`` (perpetuals) or
        ``"usdm-mark"`` (mark price).
    data_dir
        Data root (default: ``$SHOCKLAB_DATA_DIR`` or the user cache).
    fetch
        Download missing files (default: yes unless ``$SHOCKLAB_OFFLINE``).

    Returns
    -------
    xr.Dataset
        ``open, high, low, close, volume`` (float64, dask), ``bar_end`` (datetime64, the UTC
        instant of each close), ``expected`` (the asset's calendar has a bar there) and
        ``missing`` (expected but absent or invalid). Prices are never filled across gaps.
    """
    symbols = [symbols] if isinstance(symbols, str) else list(symbols)
    start_ts, end_ts = window(start, end)
    root = data_root(data_dir)
    files = _resolve(symbols, freq, venue, root, fetch, start_ts, end_ts)
    kinds = [_schedule_kind(sf) for sf in files]
    schedules = {kind: _schedule(*kind, start_ts, end_ts) for kind in dict.fromkeys(kinds)}
    labels = pd.DatetimeIndex(
        functools.reduce(np.union1d, [s.labels.to_numpy() for s in schedules.values()]),
        name="time",
    ).as_unit("ns")
    if labels.empty:
        msg = (
            f"no bars expected between {start_ts} and {end_ts} for {symbols} at {freq} "
            "(a weekend or holiday for equities?). Widen the window."
        )
        raise CoverageError(msg)
    n, values = labels.size, labels.to_numpy()
    owns, ends = {}, {}
    for kind, sched in schedules.items():
        owns[kind] = np.zeros(n, dtype=bool)
        owns[kind][np.searchsorted(values, sched.labels.to_numpy())] = True  # labels ⊂ values
        ends[kind] = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
        ends[kind][owns[kind]] = sched.bar_end
    expected = np.stack([owns[kind] for kind in kinds], axis=1)
    bar_end = np.stack([ends[kind] for kind in kinds], axis=1)
    # the union grid is fixed by the window and the calendar kinds in the request
    grid = tokenize(start_ts.value, end_ts.value, sorted(schedules))
    blocks = []
    for sf, kind in zip(files, kinds, strict=True):
        key = f"read-{sf.relpath}-{sf.sha256[:12]}-{grid}"
        reader: Callable[[Path], Bars] = functools.partial(
            read_bar_arrays,
            positive=sf.asset_class not in LEVEL_CLASSES,
            threads=len(files) == 1,  # several files: dask reads them in parallel
        )
        if sf.venue == "fred":
            reader = functools.partial(_frame_bars, _fred_session_bars)
        task = _READ_TASK(
            reader,
            sf.path,
            values,
            owns[kind],
            PRICE_FIELDS,
            sf.relpath,
            dask_key_name=key,
        )
        shape = (n, 1, len(PRICE_FIELDS))  # named after the task: tokenizing it costs 0.4 ms
        blocks.append(da.from_delayed(task, shape=shape, dtype="float64", name=f"bars-{key}"))
    cube = da.concatenate(blocks, axis=1)
    data_vars: dict[str, tuple[tuple[str, ...], object, dict[str, str]]] = {
        field: (("time", "asset"), cube[:, :, k], {"units": _units(field)})
        for k, field in enumerate(PRICE_FIELDS)
    }
    ds = xr.Dataset(data_vars, coords=_asset_coords(files) | {"time": labels})
    # calendar arrays in the file blocks' chunks: a mismatch would cost a rechunk in every graph
    chunks = cube.chunks[:2]
    ds["bar_end"] = (
        ("time", "asset"),
        da.from_array(bar_end, chunks=chunks),
        {"description": "UTC instant of the close"},
    )
    mask = da.from_array(expected, chunks=chunks)
    ds["expected"] = (("time", "asset"), mask, {"description": "calendar has a bar here"})
    ds["missing"] = (("time", "asset"), mask & da.isnan(cube[:, :, PRICE_FIELDS.index("close")]))
    ds["missing"].attrs["description"] = "expected bar absent from the file or with bad prices"
    ds.attrs.update(
        provenance_attrs(
            "open_prices",
            root,
            symbols=symbols,
            start=str(start_ts),
            end=str(end_ts),
            freq=freq,
            venue=venue,
        )
    )
    ds["time"].attrs.update(
        {"time_zone": "UTC", "label": "bar open (UTC); session date for daily exchange bars"}
    )
    return ds


def _units(field: str) -> str:
    return "base units (crypto) or shares" if field == "volume" else "quote currency"


def _asset_coords(files: Sequence[SeriesFile]) -> dict[str, tuple[str, list[str]]]:
    universe = load_universe()
    return {
        "asset": ("asset", [sf.symbol for sf in files]),
        "asset_class": ("asset", [sf.asset_class for sf in files]),
        "venue": ("asset", [sf.venue for sf in files]),
        "group": ("asset", [universe.group_of(sf.symbol) for sf in files]),
        "calendar": ("asset", [sf.calendar for sf in files]),
        "source_file": ("asset", [sf.relpath for sf in files]),
        "sha256": ("asset", [sf.sha256 for sf in files]),
    }


def provenance_attrs(loader: str, root: Path, **request: object) -> dict[str, str]:
    return {
        "loader": loader,
        "request": json.dumps(request, sort_keys=True, default=str),
        "data_root": str(root),
        "shocklab_version": __version__,
    }


# --- derivatives: funding, liquidations, open interest -------------------------------------------


def _default_span(
    spans: dict[str, tuple[pd.Timestamp, pd.Timestamp]],
    start: TimeLike | None,
    end: TimeLike | None,
) -> tuple[TimeLike, TimeLike]:
    """``start``/``end``, defaulting to the union of the per-symbol spans (whole days)."""
    if start is None:
        start = min((f for f, _ in spans.values()), default=pd.Timestamp("2020-01-01"))
    if end is None:
        last = max((la for _, la in spans.values()), default=pd.Timestamp("2020-01-02"))
        end = last + pd.Timedelta(days=1)
    return start, end


def open_funding(
    symbols: Sequence[str] | str,
    start: TimeLike,
    end: TimeLike,
    *,
    data_dir: str | os.PathLike[str] | None = None,
) -> xr.Dataset:
    """Binance USD-M funding settlements as a lazy ``(time, asset)`` dataset.

    ``time`` is the union of settlement instants (UTC; 8-hourly, some symbols 4-hourly);
    ``funding_rate`` is the rate per settlement as a fraction (NaN where an asset did not
    settle). One dask task per file.
    """
    symbols = [symbols] if isinstance(symbols, str) else list(symbols)
    start_ts, end_ts = window(start, end)
    root = data_root(data_dir)
    paths = []
    for s in symbols:
        path = root / FUNDING_DIR / f"{s.upper()}.csv"
        if not path.is_file():
            msg = (
                f"no funding file for {s!r} at {path}. Fetch it with "
                "shocklab.data.fetch.fetch_funding or check the symbol (e.g. BTCUSDT)."
            )
            raise DataFileError(msg)
        paths.append(path)
    for p in paths:
        record_read(p, root)
    # settlement times are irregular: the union grid needs the stamps (a cheap column read)
    stamps = [read_funding(p).loc[start_ts : end_ts - pd.Timedelta(1, "ns")].index for p in paths]
    labels = pd.DatetimeIndex(np.unique(np.concatenate([s.to_numpy() for s in stamps])))
    if labels.empty:
        msg = f"no funding settlements for {symbols} between {start_ts} and {end_ts}."
        raise CoverageError(msg)
    values = labels.to_numpy()
    blocks = []
    for p, own_stamps in zip(paths, stamps, strict=True):
        own = np.isin(values, own_stamps.to_numpy())
        task = delayed(_read_block, pure=True)(
            functools.partial(_frame_bars, read_funding), p, values, own, ("funding_rate",), p.name
        )
        blocks.append(da.from_delayed(task, shape=(labels.size, 1, 1), dtype="float64"))
    cube = da.concatenate(blocks, axis=1)
    ds = xr.Dataset(
        {"funding_rate": (("time", "asset"), cube[:, :, 0], {"units": "fraction per settlement"})},
        coords={
            "time": labels.rename("time"),
            "asset": [s.upper() for s in symbols],
            "source_file": ("asset", [p.relative_to(root).as_posix() for p in paths]),
            "sha256": ("asset", [path_sha256(p) for p in paths]),
        },
    )
    ds.attrs.update(
        provenance_attrs(
            "open_funding", root, symbols=symbols, start=str(start_ts), end=str(end_ts)
        )
    )
    return ds


def _open_coinglass(
    relpath: str,
    values: dict[str, str],
    symbols: Sequence[str] | None,
    start: TimeLike,
    end: TimeLike,
    data_dir: str | os.PathLike[str] | None,
    loader: str,
) -> xr.Dataset:
    start_ts, end_ts = window(start, end)
    root = data_root(data_dir)
    path = root / relpath
    if not path.is_file():
        where = (
            f"the data root {root} (from ${DATA_ENV})"
            if data_dir is None and os.environ.get(DATA_ENV)
            else f"the data root {root}"
        )
        msg = (
            f"{relpath} is not in {where}. Fetch CoinGlass history into it with "
            "shocklab.data.fetch.fetch_coinglass_liquidations (needs COINGLASS_API_KEY), or "
            "pass data_dir= (or set SHOCKLAB_DATA_DIR to) a root that holds the file."
        )
        raise DataFileError(msg)
    record_read(path, root)
    # the asset list is in the file: read the symbol column now so a wrong name fails here,
    # not later inside a dask task
    symbols_read = read_csv_checked(path, usecols=["symbol"], fix=AGG_DAILY_FIX)["symbol"]
    present = sorted(symbols_read.astype(str).unique())
    wanted = present if symbols is None else [s.upper() for s in symbols]
    absent = [s for s in wanted if s not in present]
    if absent:
        msg = (
            f"{relpath} has no rows for {absent}; it holds {present}. Use those names "
            "(base assets such as BTC, not pairs such as BTCUSDT)."
        )
        raise UnknownSymbolError(msg)
    labels = pd.date_range(start_ts.normalize(), end_ts, freq="1D", inclusive="left", name="time")

    def build() -> np.ndarray:
        panels = read_long_panel(
            path, time="ts_utc", symbol="symbol", values=values, symbols=wanted, fix=AGG_DAILY_FIX
        )
        out = np.full((labels.size, len(wanted), len(values)), np.nan)
        for j, name in enumerate(wanted):
            frame = panels[name].reindex(labels)
            out[:, j, :] = frame[list(values)].to_numpy(dtype="float64")
        return out

    cube = da.from_delayed(
        delayed(build, pure=True)(),
        shape=(labels.size, len(wanted), len(values)),
        dtype="float64",
    )
    ds = xr.Dataset(
        {
            name: (("time", "asset"), cube[:, :, k], {"units": "USD"})
            for k, name in enumerate(values)
        },
        coords={"time": labels, "asset": wanted},
    )
    ds.attrs.update(
        provenance_attrs(loader, root, symbols=wanted, start=str(start_ts), end=str(end_ts))
    )
    ds.attrs.update(
        {
            "source": "CoinGlass aggregated history (exchange subset), via the data root",
            "source_file": relpath,
            "sha256": path_sha256(path),
            "frequency": "1d (UTC day starting at time)",
        }
    )
    return ds


def open_liquidations(
    symbols: Sequence[str] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
) -> xr.Dataset:
    """Daily long/short liquidations in USD, ``(time, asset)``, from CoinGlass aggregates.

    ``long_usd`` = longs liquidated (forced sells). The upstream writes zeros for days before
    it has data (2020-12-23 in the mirror); days before an asset's first non-zero day are
    returned as NaN (*no data*). ``start``/``end`` default to the file's span (the catalog's
    :meth:`~shocklab.data.catalog.Catalog.derivative_spans`). ``attrs['completeness']`` is
    ``lower_bound``: the exchange set is narrower than CoinGlass's headline totals.
    """
    spans = Catalog(data_root(data_dir)).derivative_spans("liquidations")
    start, end = _default_span(spans, start, end)
    ds = _open_coinglass(
        DERIVATIVE_FILES["liquidations"],
        {"long_usd": "liq_long_usd", "short_usd": "liq_short_usd"},
        symbols,
        start,
        end,
        data_dir,
        "open_liquidations",
    )
    first = xr.DataArray(
        [spans[str(a)][0] if str(a) in spans else pd.NaT for a in ds["asset"].values],
        dims="asset",
        coords={"asset": ds["asset"]},
    )
    ds = ds.where(ds["time"] >= first)
    ds.attrs["completeness"] = "lower_bound"
    return ds


HOURLY_LIQUIDATIONS = "derivatives/coinglass_btc_1h/coinglass_BTC_liquidation_1h.csv.gz"
"""CoinGlass's hourly BTC liquidation export (bar-open ``timestamp`` in ms, USD)."""


def open_hourly_liquidations(
    *, data_dir: str | os.PathLike[str] | None = None
) -> pd.DataFrame | None:
    """Hourly BTC long/short liquidations in USD (CoinGlass export), indexed by the UTC bar
    open; ``None`` when the data root has no such file. Aggregated over CoinGlass's exchange
    list, BTC only: a lower bound for the market."""
    root = data_root(data_dir)
    path = root / HOURLY_LIQUIDATIONS
    if not path.is_file():
        return None
    record_read(path, root)
    raw = read_csv_checked(path, usecols=["timestamp", "longUsd", "shortUsd"], fix=AGG_DAILY_FIX)
    frame = pd.DataFrame(
        {"long_usd": raw["longUsd"].to_numpy(float), "short_usd": raw["shortUsd"].to_numpy(float)},
        index=pd.DatetimeIndex(pd.to_datetime(raw["timestamp"], unit="ms"), name="time"),
    )
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    frame.attrs.update(source_file=HOURLY_LIQUIDATIONS, asset="BTC", frequency="1h")
    return frame


def open_open_interest(
    symbols: Sequence[str] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
) -> xr.Dataset:
    """Daily aggregated futures open interest in USD (``oi_usd``, daily close), ``(time, asset)``.

    Zero open interest is not a valid level and is returned as NaN. ``start``/``end`` default
    to the file's span (the catalog's ``derivative_spans``).
    """
    spans = Catalog(data_root(data_dir)).derivative_spans("open_interest")
    start, end = _default_span(spans, start, end)
    ds = _open_coinglass(
        DERIVATIVE_FILES["open_interest"],
        {"oi_usd": "oi_total_close"},
        symbols,
        start,
        end,
        data_dir,
        "open_open_interest",
    )
    return ds.where(ds["oi_usd"] > 0)

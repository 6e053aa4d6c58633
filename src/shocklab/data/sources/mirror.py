"""Parsers for the mirror layout (``../shared/market-data``), also the layout fetches write.

Format contract (see the mirror's README): CSV (``.csv`` or ``.csv.gz``) with a header row.
Intraday and all crypto files start with ``time`` (ISO-8601 UTC with ``Z``, the bar's *open*
time); daily exchange-traded files start with ``date`` (the exchange session date).

Every parser returns a frame indexed by a tz-naive ``DatetimeIndex`` named ``time`` that is UTC
(or a session date for ``date`` files), sorted, without duplicates, with invalid prices (NaN,
zero, negative) set to NaN. Each repair is reported once as a :class:`DataQualityWarning` that
names the file; nothing is dropped silently, and conflicting duplicates are an error.
"""

from __future__ import annotations

import gzip
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from shocklab.data.errors import DataFileError, DataQualityWarning

PRICE_COLUMNS = ("open", "high", "low", "close")
_TZ_SUFFIX = r"(?:Z|[+-]\d\d(?::?\d\d)?)$"

Source = str | Path | IO[bytes] | IO[str]


def _name(source: Source) -> str:
    return str(source) if isinstance(source, str | Path) else getattr(source, "name", "<buffer>")


def read_csv_checked(source: Source, **kwargs: object) -> pd.DataFrame:
    """Read a CSV; corrupt or truncated input becomes a :class:`DataFileError`.

    Files on disk go through pyarrow's multithreaded parser first (it also decodes ISO stamps
    and gzip); anything it rejects is re-read with pandas' C parser, which either succeeds on
    quirky-but-valid input (ragged last line) or raises the detailed error.
    """
    name = _name(source)
    table = _read_arrow(source) if not kwargs else None
    if table is not None:
        frame: pd.DataFrame = table.to_pandas(date_as_object=False)
        return frame
    try:
        return pd.read_csv(source, **kwargs)  # type: ignore[call-overload, no-any-return]
    except (EOFError, gzip.BadGzipFile, zipfile.BadZipFile, zlib.error, OSError) as exc:
        msg = (
            f"{name}: the file is corrupt or truncated ({exc}). Delete it and fetch it again "
            "(shocklab.data.fetch), or restore it from the mirror."
        )
        raise DataFileError(msg) from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        msg = f"{name}: not a well-formed CSV ({exc}). Check the file or fetch it again."
        raise DataFileError(msg) from exc
    except pd.errors.EmptyDataError as exc:
        msg = f"{name}: the file is empty. Delete it and fetch it again."
        raise DataFileError(msg) from exc


def _read_arrow(source: Source, *, threads: bool = True) -> pa.Table | None:
    """pyarrow's parse of a file on disk, or None (a buffer, or input pyarrow rejects)."""
    if not isinstance(source, str | Path):
        return None
    try:
        return pacsv.read_csv(source, read_options=pacsv.ReadOptions(use_threads=threads))
    except (pa.ArrowInvalid, OSError, EOFError, zlib.error):
        return None  # the pandas path gives the precise diagnosis


def parse_utc_times(values: pd.Series, name: str, column: str = "time") -> pd.DatetimeIndex:
    """Parse ISO-8601 instants that carry a zone (``Z`` or an offset) into naive UTC.

    A stamp without a zone is a timezone slip waiting to happen and is rejected.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):  # decoded by pyarrow from zoned stamps
        return pd.DatetimeIndex(values).tz_convert(None).as_unit("ns").rename("time")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        msg = (
            f"{name}: column '{column}' holds time stamps without a time zone (first "
            f"{values.iloc[0]}). Intraday stamps must be UTC with 'Z' (2025-01-27T07:00:00Z) or "
            "carry an offset; convert the file to UTC."
        )
        raise DataFileError(msg)
    text = values.astype("string")
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    _reject_unparsed(parsed, text, name, column)
    zoned = text.str.contains(_TZ_SUFFIX, regex=True, na=False)
    if not bool(zoned.all()):
        bad = text[~zoned]
        msg = (
            f"{name}: column '{column}' has {len(bad)} time stamp(s) without a time zone, first "
            f"{bad.iloc[0]!r} at row {bad.index[0]}. Intraday stamps must be UTC with 'Z' "
            "(2025-01-27T07:00:00Z) or carry an offset; convert the file to UTC."
        )
        raise DataFileError(msg)
    return pd.DatetimeIndex(parsed).tz_convert(None).as_unit("ns").rename("time")


def parse_dates(values: pd.Series, name: str, column: str = "date") -> pd.DatetimeIndex:
    """Parse ``YYYY-MM-DD`` session dates into a naive midnight index."""
    if pd.api.types.is_datetime64_dtype(values.dtype):  # decoded by pyarrow (date32)
        index = pd.DatetimeIndex(values)
        if (index != index.normalize()).any():
            msg = f"{name}: column '{column}' should hold dates but has times of day."
            raise DataFileError(msg)
        return index.as_unit("ns").rename("time")
    text = values.astype("string")
    parsed = pd.to_datetime(text, errors="coerce", format="%Y-%m-%d")
    _reject_unparsed(parsed, text, name, column)
    return pd.DatetimeIndex(parsed).as_unit("ns").rename("time")


def _reject_unparsed(parsed: pd.Series, text: pd.Series, name: str, column: str) -> None:
    bad = parsed.isna()
    if bool(bad.any()):
        row = bad.to_numpy().nonzero()[0][0]
        msg = (
            f"{name}: column '{column}' row {row} holds {text.iloc[row]!r}, which is not a "
            "valid time stamp; the file may be truncated or corrupt. Fetch it again."
        )
        raise DataFileError(msg)


@dataclass(frozen=True)
class Bars:
    """Clean bars as arrays: ``time`` (``datetime64[ns]``, sorted, unique) and float64
    ``values`` of shape ``(time, column)``, with the repairs made (``notes``)."""

    time: np.ndarray
    values: np.ndarray
    columns: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def frame(self) -> pd.DataFrame:
        """The bars as a frame indexed by ``time``; ``attrs['quality_notes']`` lists repairs."""
        out = pd.DataFrame(
            self.values, index=pd.DatetimeIndex(self.time, name="time"), columns=self.columns
        )
        out.attrs["quality_notes"] = list(self.notes)
        return out


def clean_arrays(
    time: np.ndarray,
    values: np.ndarray,
    name: str,
    price_columns: Sequence[int] = (),
    *,
    positive: bool = True,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Sort, drop exact duplicate rows, reject conflicting duplicates, flag invalid prices.

    ``time`` is ``datetime64[ns]``, ``values`` float64 ``(n, k)``; ``price_columns`` are the
    column positions checked for prices. Invalid prices (NaN, zero, negative where ``positive``)
    set the row's price columns to NaN so that no return is ever computed from them. Returns the
    cleaned arrays and one note per repair; conflicting duplicates raise
    :class:`DataFileError`.
    """
    notes: list[str] = []
    stamps = time.view("int64")
    if stamps.size > 1 and bool((stamps[1:] < stamps[:-1]).any()):
        notes.append("rows were not in time order (sorted)")
        order = np.argsort(stamps, kind="stable")
        time, values, stamps = time[order], values[order], stamps[order]
    repeat = stamps[1:] == stamps[:-1]  # a row whose stamp equals the previous row's
    if bool(repeat.any()):
        later, earlier = values[1:][repeat], values[:-1][repeat]
        same = (later == earlier) | (np.isnan(later) & np.isnan(earlier))
        conflicting = np.unique(time[1:][repeat][~same.all(axis=1)])
        if conflicting.size:
            shown = ", ".join(str(pd.Timestamp(t)) for t in conflicting[:3])
            msg = (
                f"{name}: {conflicting.size} time stamp(s) appear more than once with "
                f"different values (first: {shown}). Keep one row per stamp (re-fetch the file)."
            )
            raise DataFileError(msg)
        notes.append(f"{int(repeat.sum())} exact duplicate row(s) dropped")
        keep = np.concatenate([[True], ~repeat])
        time, values = time[keep], values[keep]
    cols = list(price_columns)
    if cols:
        prices = values[:, cols]
        invalid = np.isnan(prices) | (prices <= 0) if positive else np.isnan(prices)
        bad_rows = invalid.any(axis=1)
        if bool(bad_rows.any()):
            first = pd.Timestamp(time[bad_rows.argmax()])
            notes.append(
                f"{int(bad_rows.sum())} row(s) with NaN/zero/negative prices set to NaN "
                f"(first at {first})"
            )
            values = values.copy()
            values[np.ix_(bad_rows, cols)] = np.nan
    return time, values, notes


def _report(name: str, notes: Sequence[str]) -> None:
    if notes:
        warnings.warn(f"{name}: " + "; ".join(notes), DataQualityWarning, stacklevel=4)


def clean_frame(
    frame: pd.DataFrame, name: str, price_columns: Sequence[str] = (), *, positive: bool = True
) -> pd.DataFrame:
    """:func:`clean_arrays` for a numeric frame indexed by time; repairs are reported once as
    a :class:`DataQualityWarning` and listed in ``attrs['quality_notes']``."""
    names = list(frame.columns)
    time, values, notes = clean_arrays(
        frame.index.to_numpy(dtype="datetime64[ns]"),
        frame.to_numpy(dtype="float64", na_value=np.nan),
        name,
        [names.index(c) for c in price_columns if c in names],
        positive=positive,
    )
    _report(name, notes)
    out = pd.DataFrame(values, index=pd.DatetimeIndex(time, name=frame.index.name))
    out.columns = frame.columns
    out.attrs = {**frame.attrs, "quality_notes": notes}
    return out


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        msg = (
            f"{name}: missing column(s) {missing}; found {list(frame.columns)}. "
            "See the mirror README for the expected layout."
        )
        raise DataFileError(msg)


def read_bars(source: Source, *, positive: bool = True) -> pd.DataFrame:
    """Read an OHLCV or close-only file of the mirror layout.

    ``positive=False`` accepts zero or negative levels (interest rates, yields); NaN is still
    flagged.

    Returns float64 columns ``open, high, low, close, volume`` (missing ones as NaN; an IEX-only
    ``volume_iex`` column is kept under that name, never relabelled as market volume).
    """
    return read_bar_arrays(source, positive=positive).frame()


def read_bar_arrays(source: Source, *, positive: bool = True, threads: bool = True) -> Bars:
    """:func:`read_bars` without the frame: the loaders' hot path (one call per file).

    A well-formed file (zoned ``time`` stamps or ``date`` column, numeric prices) goes from
    pyarrow's columns straight to numpy; anything else takes the pandas path, which parses
    leniently and names the exact problem. Both end in :func:`clean_arrays`. ``threads=False``
    parses on the calling thread only: for callers that already read many files in parallel.
    """
    name = _name(source)
    table = _read_arrow(source, threads=threads)
    parsed = _arrow_bars(table) if table is not None else None
    if parsed is None:
        parsed = _pandas_bars(read_csv_checked(source), name)
    time, values, columns, present = parsed
    time, values, notes = clean_arrays(time, values, name, present, positive=positive)
    _report(name, notes)
    return Bars(time, values, columns, tuple(notes))


_ParsedBars = tuple[np.ndarray, np.ndarray, tuple[str, ...], list[int]]
_NS_PER = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


def _bar_columns(names: Sequence[str]) -> tuple[tuple[str, ...], list[int]]:
    """Output columns (OHLCV, plus ``volume_iex`` if present) and which price columns exist."""
    extra = ("volume_iex",) if "volume_iex" in names else ()
    present = [k for k, c in enumerate(PRICE_COLUMNS) if c in names]
    return (*PRICE_COLUMNS, "volume", *extra), present


def _arrow_bars(table: pa.Table) -> _ParsedBars | None:
    """Columns of a well-formed table as numpy, or None when the file needs the pandas path."""
    names = table.column_names
    if "close" not in names or table.num_rows == 0:
        return None
    if "time" in names:
        kind = table.schema.field("time").type
        if not (pa.types.is_timestamp(kind) and kind.tz is not None):
            return None  # strings or zone-less stamps: parse_utc_times decides
        stamps, as_int, step = table["time"], pa.int64(), _NS_PER[kind.unit]
    elif "date" in names and pa.types.is_date32(table.schema.field("date").type):
        stamps, as_int, step = table["date"], pa.int32(), 86_400 * 10**9  # days since 1970
    else:
        return None
    if stamps.null_count:
        return None
    time = (stamps.cast(as_int).to_numpy().astype("int64") * step).view("datetime64[ns]")
    columns, present = _bar_columns(names)
    values = np.full((len(columns), table.num_rows), np.nan).T  # columns contiguous
    for k, col in enumerate(columns):
        if col not in names:
            continue  # close-only files: no fake OHLC, no volume
        kind = table.schema.field(col).type
        if not (pa.types.is_floating(kind) or pa.types.is_integer(kind) or pa.types.is_null(kind)):
            return None  # text in a number column: pd.to_numeric coerces it to NaN
        values[:, k] = table[col].cast(pa.float64()).to_numpy(zero_copy_only=False)
    return time, values, columns, present


def _pandas_bars(raw: pd.DataFrame, name: str) -> _ParsedBars:
    if "time" in raw.columns:
        index = parse_utc_times(raw["time"], name)
    elif "date" in raw.columns:
        index = parse_dates(raw["date"], name)
    else:
        msg = f"{name}: the first column must be 'time' (UTC instants) or 'date' (session dates)."
        raise DataFileError(msg)
    _require(raw, ["close"], name)
    columns, present = _bar_columns(list(raw.columns))
    values = np.full((len(raw), len(columns)), np.nan)
    for k, col in enumerate(columns):
        if col in raw.columns:  # close-only files: no fake OHLC, no volume
            values[:, k] = pd.to_numeric(raw[col], errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan
            )
    return index.to_numpy(dtype="datetime64[ns]"), values, columns, present


def read_funding(source: Source) -> pd.DataFrame:
    """Funding settlements ``time,funding_rate`` (rate per settlement as a fraction)."""
    name = _name(source)
    raw = read_csv_checked(source)
    _require(raw, ["time", "funding_rate"], name)
    out = pd.DataFrame(
        {"funding_rate": pd.to_numeric(raw["funding_rate"], errors="coerce").to_numpy()},
        index=parse_utc_times(raw["time"], name),
    )
    return clean_frame(out, name, ["funding_rate"], positive=False)


def read_fred_csv(source: Source, series_id: str | None = None) -> pd.DataFrame:
    """FRED ``fredgraph.csv``: ``observation_date,<ID>`` (older files: ``DATE,<ID>``).

    FRED writes ``.`` (older) or an empty cell for a missing observation; both become NaN.
    """
    name = _name(source)
    raw = read_csv_checked(source, na_values=["."], keep_default_na=True)
    date_col = next((c for c in ("observation_date", "DATE", "date") if c in raw.columns), None)
    if date_col is None or raw.shape[1] < 2:
        msg = f"{name}: not a FRED fredgraph CSV (need observation_date,<SERIES>)."
        raise DataFileError(msg)
    value_col = series_id or next(c for c in raw.columns if c != date_col)
    _require(raw, [value_col], name)
    out = pd.DataFrame(
        {"value": pd.to_numeric(raw[value_col], errors="coerce").to_numpy(dtype="float64")},
        index=parse_dates(raw[date_col], name, date_col),
    )
    out.attrs["series_id"] = value_col
    return clean_frame(out, name)  # FRED's empty cells are missing observations, not errors


def read_fomc(source: Source) -> pd.DataFrame:
    """FOMC calendar ``year,meeting_start,decision_date`` indexed by decision date."""
    name = _name(source)
    raw = read_csv_checked(source)
    _require(raw, ["meeting_start", "decision_date"], name)
    out = pd.DataFrame(
        {"meeting_start": parse_dates(raw["meeting_start"], name, "meeting_start")},
        index=parse_dates(raw["decision_date"], name, "decision_date"),
    )
    return out.sort_index()


def read_long_panel(
    source: Source,
    *,
    time: str,
    symbol: str,
    values: dict[str, str],
    symbols: Sequence[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Read a long-format file (one row per time and symbol) into one frame per symbol.

    ``values`` maps output names to the file's column names (e.g.
    ``{"long_usd": "liq_long_usd"}``). Times may be ISO instants with a zone or epoch
    milliseconds. Used for CoinGlass exports and users' own liquidation / OI files.
    """
    name = _name(source)
    raw = read_csv_checked(source)
    _require(raw, [time, symbol, *values.values()], name)
    if symbols is not None:
        raw = raw[raw[symbol].isin(list(symbols))]
    col = raw[time]
    if pd.api.types.is_numeric_dtype(col):
        index = pd.DatetimeIndex(epoch_to_utc(col.to_numpy()), name="time")
    else:
        index = parse_utc_times(col.reset_index(drop=True), name, time)
    data = pd.DataFrame(
        {out: pd.to_numeric(raw[src], errors="coerce").to_numpy() for out, src in values.items()},
        index=index,
    )
    negative = (data < 0).any(axis=1).to_numpy()
    if negative.any():  # USD amounts cannot be negative; empty cells are "no data", not errors
        msg = (
            f"{name}: {int(negative.sum())} row(s) with negative amounts (first at "
            f"{data.index[negative][0]}); fix the file or the column mapping."
        )
        raise DataFileError(msg)
    data["_symbol"] = raw[symbol].astype("string").to_numpy()
    return {
        str(sym): clean_frame(part.drop(columns="_symbol"), f"{name} [{sym}]")
        for sym, part in data.groupby("_symbol", sort=True)
    }


def epoch_to_utc(values: np.ndarray) -> np.ndarray:
    """Epoch stamps in ms or µs (decided per value: ≥ 1e14 is µs) to ``datetime64[ns]``.

    Binance spot archives switched from milliseconds to microseconds on 2025-01-01; a file or a
    concatenation may mix both. Values below 1e11 (seconds) are rejected.
    """
    stamps = np.asarray(values, dtype="int64")
    if stamps.size and int(stamps.min()) < 10**11:
        msg = (
            f"epoch stamp {int(stamps.min())} looks like seconds, not ms/µs; shocklab expects "
            "Binance-style millisecond or microsecond stamps."
        )
        raise DataFileError(msg)
    micro = stamps >= 10**14
    ns = np.where(micro, stamps * 1_000, stamps * 1_000_000)
    return ns.astype("datetime64[ns]")

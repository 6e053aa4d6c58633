"""Parsers for the mirror layout (``../shared/market-data``), also the layout fetches write.

Format contract (see the mirror's README): CSV (``.csv`` or ``.csv.gz``) with a header row.
Intraday and all crypto files start with ``time`` (ISO-8601 UTC with ``Z``, the bar's *open*
time); daily exchange-traded files start with ``date`` (the exchange session date).

Every parser returns a frame indexed by a tz-naive ``DatetimeIndex`` named ``time`` that is UTC
(or a session date for ``date`` files), sorted, without duplicates, with invalid prices (NaN,
zero, negative) set to NaN. Each repair is reported once as a :class:`DataQualityWarning` that
names the file; nothing is dropped silently, and conflicting duplicates are an error.

Bars that are present but implausible are *flagged* in that warning, never altered: ``high <
low``, an open or close outside ``[low, high]``, and isolated jumps of the close (see
:data:`JUMP_SCALES`).

Every file's shape is checked before its values are used: an empty or header-only file, a last
line cut mid-row (fewer fields than the header; in plain text also no line end, since every
writer ends its last line, while a gzip file's end marker and CRC catch a cut stream) and a row
short of fields anywhere are a :class:`DataFileError` naming the file and the line. A cut line
is never read as a price.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
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


_REFETCH = "Delete it and fetch it again (shocklab.data.fetch), or restore it from the mirror."


def read_csv_checked(
    source: Source,
    *,
    require_line_end: bool = True,
    fix: str = _REFETCH,
    **kwargs: object,
) -> pd.DataFrame:
    """Read a CSV; corrupt, truncated, empty or cut input becomes a :class:`DataFileError`.

    The whole file is read (and decompressed) first and its shape checked
    (:func:`check_csv_shape`; the line end of the last line only for plain text: a compressed
    file's own end marker and checksum vouch for its content, and so does an archive's checksum
    when ``require_line_end=False``). Files on disk then go through pyarrow's multithreaded
    parser (it also decodes ISO stamps); anything it rejects, every buffer and every call with
    pandas ``kwargs`` are read with pandas' C parser, which either succeeds on
    quirky-but-valid input or raises the detailed error. ``fix`` is the remedy the messages
    name.
    """
    name = _name(source)
    data, compressed = _load(source, fix)
    header = kwargs.get("header", "infer") is not None
    check_csv_shape(
        data, name, require_line_end=require_line_end and not compressed, header=header, fix=fix
    )
    table = _read_arrow(data) if not kwargs and isinstance(source, str | Path) else None
    if table is not None:
        frame: pd.DataFrame = table.to_pandas(date_as_object=False)
        return frame
    return _read_pandas(data, name, fix=fix, **kwargs)


def _load(source: Source, fix: str = _REFETCH) -> tuple[bytes, bool]:
    """The bytes of a file (decompressed: gzip by suffix or magic number, ``.bz2``, ``.xz``,
    single-member ``.zip``) or of a buffer (gzip by magic number), and whether they were
    compressed; a corrupt or truncated archive is a :class:`DataFileError` naming the file and
    ``fix``."""
    name = _name(source)
    if isinstance(source, str | Path):
        data, suffix = Path(source).read_bytes(), Path(source).suffix.lower()
    else:
        raw = source.read()
        data, suffix = (raw.encode("utf-8") if isinstance(raw, str) else raw), ""
    if data[:2] == b"\x1f\x8b":
        suffix = ".gz"
    try:
        return _decompress(data, suffix, name), suffix in _COMPRESSED
    except (EOFError, OSError, zipfile.BadZipFile, zlib.error, lzma.LZMAError) as exc:
        msg = f"{name}: the file is corrupt or truncated ({exc}). {fix}"
        raise DataFileError(msg) from exc


_COMPRESSED = (".gz", ".bz2", ".xz", ".zip")


def _decompress(data: bytes, suffix: str, name: str) -> bytes:
    if suffix == ".gz":
        return gzip.decompress(data)  # BadGzipFile is an OSError
    if suffix == ".bz2":
        return bz2.decompress(data)  # OSError on bad data
    if suffix == ".xz":
        return lzma.decompress(data)
    if suffix == ".zip":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = zf.namelist()
            if len(members) != 1:
                msg = f"{name}: expected one file inside the zip archive, found {members}."
                raise DataFileError(msg)
            return zf.read(members[0])
    return data


def _field_count(line: bytes) -> int:
    if b'"' in line:  # quoted fields may hold commas
        return len(next(csv.reader([line.decode("utf-8", errors="replace")]), []))
    return line.count(b",") + 1


def check_csv_shape(
    data: bytes,
    name: str,
    *,
    require_line_end: bool = True,
    header: bool = True,
    fix: str = _REFETCH,
) -> None:
    """Reject CSV text that cannot be trusted whole: empty or header-only (no data rows), or a
    last line cut mid-row: fewer fields than the first line, or (``require_line_end``) no line
    end after it. Every writer of the layout ends its last line, so a missing line end means
    the file stopped mid-write and the last value may be a prefix of the true one (``107`` for
    ``107146.5``). Costs a look at the first and last lines only."""
    end = len(data)
    while end and data[end - 1] in b" \t\r\n":  # trailing blank lines are harmless
        end -= 1
    if end == 0:
        msg = f"{name}: the file is empty (no header, no rows). {fix}"
        raise DataFileError(msg)
    start = data.rfind(b"\n", 0, end) + 1  # start of the last non-blank line
    first_end = data.find(b"\n")
    head = data[: first_end if first_end >= 0 else end]
    if header and start == 0:
        msg = (
            f"{name}: the file has a header ({head.decode('utf-8', 'replace').strip()!r}) but no "
            f"data rows. {fix}"
        )
        raise DataFileError(msg)
    last = data[start:end]
    want, got = _field_count(head), _field_count(last)
    problems = []
    if got < want:
        problems.append(f"{got} of {want} fields")
    if require_line_end and b"\n" not in data[end:]:
        problems.append("no line end")
    if problems:
        number = data.count(b"\n", 0, start) + 1
        text = last.decode("utf-8", "replace").strip()
        msg = (
            f"{name}: line {number:,} (the last) was cut mid-row ({', '.join(problems)}: "
            f"{text!r}); the file is truncated and its last values cannot be trusted. {fix}"
        )
        if got >= want:  # only the line end is missing: it may be a complete line
            msg += " (If that line is complete, end it with a line break.)"
        raise DataFileError(msg)


def _short_rows(data: bytes, name: str, fix: str) -> None:
    """A row with fewer fields than the first line, anywhere: pandas would pad it with NaN (or
    read a cut value as a number); an error naming the line instead. Slow path only."""
    lines = data.split(b"\n")
    want = _field_count(lines[0])
    quoted = b'"' in data
    for k, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        got = _field_count(line) if quoted else line.count(b",") + 1
        if got < want:
            text = line.decode("utf-8", "replace").strip()
            msg = (
                f"{name}: line {k:,} has {got} of {want} fields ({text!r}): a row was cut or "
                f"lost values. {fix}"
            )
            raise DataFileError(msg)


def _read_pandas(data: bytes, name: str, *, fix: str = _REFETCH, **kwargs: object) -> pd.DataFrame:
    """pandas' C parser on checked bytes, its errors as :class:`DataFileError`."""
    _short_rows(data, name, fix)
    try:
        return pd.read_csv(io.BytesIO(data), **kwargs)  # type: ignore[call-overload, no-any-return]
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        msg = f"{name}: not a well-formed CSV ({exc}). {fix}"
        raise DataFileError(msg) from exc
    except pd.errors.EmptyDataError as exc:
        msg = f"{name}: the file is empty. {fix}"
        raise DataFileError(msg) from exc


def _read_arrow(source: bytes | str | Path, *, threads: bool = True) -> pa.Table | None:
    """pyarrow's parse of checked bytes or of a file on disk (a path: pyarrow decompresses it
    while it parses), or None (input pyarrow rejects: pandas diagnoses)."""
    try:
        return pacsv.read_csv(
            pa.BufferReader(source) if isinstance(source, bytes) else source,
            read_options=pacsv.ReadOptions(use_threads=threads),
        )
    except (pa.ArrowInvalid, OSError, EOFError, zlib.error):
        return None


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


JUMP_SCALES = 50.0
"""``k`` of the isolated-jump flag: a close more than ``k`` robust scales (1.4826 x the median
absolute log return between consecutive valid closes, zero returns left out) away from the
close before it, whose next close moves back by more than ``k`` scales to within half the jump
of the close before. The largest such out-and-back move among the mirror's 136 price files is
33.7 scales (DOGEUSDT hourly, the 19 May 2021 crash), so real moves raise no flag. A close of 1e12
in the hourly BTC file is about 4,000 scales away; a price off by 10x is flagged in every series
whose scale is under 4.6 % (all intraday files, large caps, BTC/ETH daily), by 100x in all."""
JUMP_MIN_RETURNS = 20
"""Fewer valid returns than this give no scale to judge a jump by (no jump flag)."""
_SHOWN = 5  # rows named per flag


def clean_arrays(
    time: np.ndarray,
    values: np.ndarray,
    name: str,
    price_columns: Sequence[int] = (),
    *,
    positive: bool = True,
    columns: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Sort, drop exact duplicate rows, reject conflicting duplicates, flag invalid prices and
    implausible bars.

    ``time`` is ``datetime64[ns]``, ``values`` float64 ``(n, k)``; ``price_columns`` are the
    column positions checked for prices. Invalid prices (NaN, zero, negative where ``positive``)
    set the row's price columns to NaN so that no return is ever computed from them. With the
    column names (``columns``) of a positive price series, bars are also checked and flagged,
    never altered: ``high < low``, an open or close outside ``[low, high]``, isolated jumps of
    the close (:data:`JUMP_SCALES`). Returns the cleaned arrays and one note per repair or flag
    (naming the rows by time); conflicting duplicates raise :class:`DataFileError`.
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
    if positive and columns:
        checked = {columns[k]: k for k in cols if k < len(columns)}
        notes += _bar_flags(time, values, checked)
    return time, values, notes


def _bar_flags(time: np.ndarray, values: np.ndarray, at: dict[str, int]) -> list[str]:
    """Notes on implausible bars (values are kept): high < low, open/close outside the range,
    isolated jumps of the close. NaN compares false: invalid rows are never flagged."""
    notes = []
    high, low = at.get("high"), at.get("low")
    if high is not None and low is not None:
        hi, lo = values[:, high], values[:, low]
        inverted = hi < lo
        if bool(inverted.any()):
            rows = np.flatnonzero(inverted)
            notes.append(f"{rows.size} bar(s) with high < low, values kept: {_rows(time, rows)}")
        outside = np.zeros(len(values), dtype=bool)
        for field in ("open", "close"):
            k = at.get(field)
            if k is not None:
                outside |= (values[:, k] > hi) | (values[:, k] < lo)
        outside &= ~inverted
        if bool(outside.any()):
            rows = np.flatnonzero(outside)
            notes.append(
                f"{rows.size} bar(s) with the open or close outside [low, high], values kept: "
                f"{_rows(time, rows)}"
            )
    close = at.get("close")
    if close is not None:
        rows = _isolated_jumps(values[:, close])
        if rows.size:
            c = values[:, close]
            shown = _rows(time, rows, [f"close {c[r]:.10g}" for r in rows])
            notes.append(
                f"{rows.size} isolated jump(s) of the close (over {JUMP_SCALES:g} robust scales "
                f"away and straight back), values kept: {shown}"
            )
    return notes


def _isolated_jumps(close: np.ndarray) -> np.ndarray:
    """Row positions of closes that jump more than ``JUMP_SCALES`` robust scales from the
    previous valid close and whose next valid close moves back to within half the jump."""
    valid = np.flatnonzero(close > 0)  # NaN compares false
    if valid.size <= JUMP_MIN_RETURNS:
        return valid[:0]
    ret = np.diff(np.log(close[valid]))
    moves = np.abs(ret)
    moves = moves[moves > 0]
    if moves.size < JUMP_MIN_RETURNS:
        return valid[:0]
    middle = moves.size // 2  # the (upper) median by one partition: np.median costs 6x more
    limit = JUMP_SCALES * 1.4826 * float(np.partition(moves, middle)[middle])
    out, back = ret[:-1], ret[1:]
    spike = (np.abs(out) > limit) & (np.abs(back) > limit)
    if not bool(spike.any()):  # the usual case: one pass over the returns
        return valid[:0]
    spike &= (out * back < 0) & (np.abs(out + back) <= 0.5 * np.abs(out))
    rows: np.ndarray = valid[1:-1][spike]
    return rows


def _rows(time: np.ndarray, rows: np.ndarray, extra: Sequence[str] = ()) -> str:
    """The first rows by time stamp (with ``extra`` per row), and how many more."""
    shown = []
    for j, r in enumerate(rows[:_SHOWN]):
        stamp = pd.Timestamp(time[r])
        text = str(stamp.date()) if stamp == stamp.normalize() else f"{stamp:%Y-%m-%d %H:%M}"
        shown.append(f"{text} ({extra[j]})" if extra else text)
    more = f" and {rows.size - _SHOWN} more" if rows.size > _SHOWN else ""
    return ", ".join(shown) + more


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
        columns=[str(c) for c in names],
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

    The file's shape is checked (:func:`check_csv_shape`: empty, header-only or cut files are
    errors). A well-formed file on disk (zoned ``time`` stamps or ``date`` column, numeric
    prices) goes from pyarrow's columns straight to numpy; anything else (and every buffer)
    takes the pandas path, which parses leniently and names the exact problem.
    Both end in :func:`clean_arrays`. ``threads=False`` parses on the calling thread only: for
    callers that already read many files in parallel.
    """
    name = _name(source)
    data: bytes | None = None
    if isinstance(source, str | Path) and Path(source).suffix.lower() == ".gz":
        # gzip's end marker and CRC vouch for the content, and pyarrow decompresses while it
        # parses; a file pyarrow rejects or finds without rows gets the full check below
        table = _read_arrow(source, threads=threads)
    else:
        data, compressed = _load(source)
        check_csv_shape(data, name, require_line_end=not compressed)
        table = _read_arrow(data, threads=threads) if isinstance(source, str | Path) else None
    parsed = _arrow_bars(table) if table is not None else None
    if parsed is None:
        if data is None:
            data, _ = _load(source)
            check_csv_shape(data, name, require_line_end=False)
        parsed = _pandas_bars(_read_pandas(data, name), name)
    time, values, columns, present = parsed
    time, values, notes = clean_arrays(
        time, values, name, present, positive=positive, columns=columns
    )
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
    fix = (
        "A FRED fredgraph CSV (observation_date,<SERIES>) was expected: delete it and fetch it "
        "again (shocklab.data.fetch.fetch_fred)."
    )
    raw = read_csv_checked(source, fix=fix, na_values=["."], keep_default_na=True)
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
    fix: str = _REFETCH,
) -> dict[str, pd.DataFrame]:
    """Read a long-format file (one row per time and symbol) into one frame per symbol.

    ``values`` maps output names to the file's column names (e.g.
    ``{"long_usd": "liq_long_usd"}``). Times may be ISO instants with a zone or epoch
    milliseconds. Used for CoinGlass exports and users' own liquidation / OI files. ``fix`` is
    the remedy named when the file is corrupt, truncated or empty.
    """
    name = _name(source)
    raw = read_csv_checked(source, fix=fix)
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

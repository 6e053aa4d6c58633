"""Binance public market data: archive zips (data.binance.vision) and REST klines.

Kline archives are CSV inside a zip, 12 columns (futures archives since 2022 add a header row)::

    open_time, open, high, low, close, volume, close_time, quote_volume, count,
    taker_buy_volume, taker_buy_quote_volume, ignore

Spot archives switched ``open_time``/``close_time`` from milliseconds to **microseconds** on
2025-01-01; stamps are converted per value (see :func:`~shocklab.data.sources.mirror.epoch_to_utc`).
Each archive has a ``.CHECKSUM`` file: ``<sha256>  <file name>``.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from shocklab.data.errors import DataFileError
from shocklab.data.sources.mirror import clean_frame, epoch_to_utc, read_csv_checked

Market = Literal["spot", "usdm", "usdm-mark"]
KLINE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
_ARCHIVE_PATHS = {
    "spot": "data/spot/monthly/klines/{symbol}/{interval}/{symbol}-{interval}-{month}.zip",
    "usdm": "data/futures/um/monthly/klines/{symbol}/{interval}/{symbol}-{interval}-{month}.zip",
    "usdm-mark": (
        "data/futures/um/monthly/markPriceKlines/{symbol}/{interval}/"
        "{symbol}-{interval}-{month}.zip"
    ),
}
FUNDING_PATH = "data/futures/um/monthly/fundingRate/{symbol}/{symbol}-fundingRate-{month}.zip"
REST_KLINES = {
    "spot": "/api/v3/klines",
    "usdm": "/fapi/v1/klines",
    "usdm-mark": "/fapi/v1/markPriceKlines",
}


def archive_path(market: Market, symbol: str, interval: str, month: pd.Period) -> str:
    """Relative URL of a monthly kline archive, e.g. ``data/spot/monthly/klines/...zip``."""
    return _ARCHIVE_PATHS[market].format(symbol=symbol, interval=interval, month=f"{month:%Y-%m}")


def funding_path(symbol: str, month: pd.Period) -> str:
    """Relative URL of a monthly funding-rate archive."""
    return FUNDING_PATH.format(symbol=symbol, month=f"{month:%Y-%m}")


def parse_checksum(text: str, name: str = "CHECKSUM") -> str:
    """The SHA-256 hex digest from a ``.CHECKSUM`` file (``<hex>  <file>``)."""
    match = re.match(r"\s*([0-9a-fA-F]{64})\b", text)
    if match is None:
        msg = f"{name}: not a Binance CHECKSUM file (expected '<sha256>  <file>')."
        raise DataFileError(msg)
    return match.group(1).lower()


def _single_csv(path: Path) -> io.BytesIO:
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.endswith(".csv")]
            if len(names) != 1:
                msg = f"{path}: expected one CSV inside the archive, found {names}."
                raise DataFileError(msg)
            return io.BytesIO(zf.read(names[0]))
    except (zipfile.BadZipFile, EOFError) as exc:
        msg = f"{path}: corrupt or truncated zip ({exc}). Delete it and download it again."
        raise DataFileError(msg) from exc


def frame_from_klines(rows: pd.DataFrame, name: str) -> pd.DataFrame:
    """Kline rows (12 columns, stamps in ms or µs) -> clean OHLCV frame indexed by open time."""
    if rows.shape[1] < 6:
        msg = f"{name}: kline rows have {rows.shape[1]} columns, expected 12."
        raise DataFileError(msg)
    rows = rows.iloc[:, : len(KLINE_COLUMNS)].copy()
    rows.columns = list(KLINE_COLUMNS[: rows.shape[1]])
    stamps = pd.to_numeric(rows["open_time"], errors="coerce")
    if stamps.isna().any():
        bad = int(stamps.isna().to_numpy().nonzero()[0][0])
        msg = f"{name}: open_time at row {bad} is not an epoch stamp; the file may be truncated."
        raise DataFileError(msg)
    units = np.where(stamps.to_numpy() >= 10**14, "us", "ms")
    index = pd.DatetimeIndex(epoch_to_utc(stamps.to_numpy()), name="time")
    out = pd.DataFrame(index=index)
    for col in ("open", "high", "low", "close", "volume", "quote_volume", "count"):
        if col in rows.columns:
            out[col] = pd.to_numeric(rows[col], errors="coerce").to_numpy(dtype="float64")
    out = clean_frame(out, name, ["open", "high", "low", "close"])
    out.attrs["time_units"] = sorted(set(units.tolist()))
    return out


def read_kline_zip(path: Path) -> pd.DataFrame:
    """Parse one kline archive (header row or not; ms or µs stamps)."""
    buffer = _single_csv(path)
    first = buffer.getvalue().split(b"\n", 1)[0]
    header = 0 if first[:1].isalpha() else None
    # the archive's checksum vouches for its content: no final line end is required
    rows = read_csv_checked(buffer, header=header, require_line_end=False)
    return frame_from_klines(rows, str(path))


def read_funding_zip(path: Path) -> pd.DataFrame:
    """Parse a funding-rate archive ``calc_time,funding_interval_hours,last_funding_rate``."""
    rows = read_csv_checked(_single_csv(path), require_line_end=False)
    if not {"calc_time", "last_funding_rate"} <= set(rows.columns):
        msg = f"{path}: expected calc_time,funding_interval_hours,last_funding_rate columns."
        raise DataFileError(msg)
    stamps = epoch_to_utc(pd.to_numeric(rows["calc_time"]).to_numpy())
    # Binance stamps settlements a few ms after the hour: floor to the minute like the mirror
    index = pd.DatetimeIndex(stamps, name="time").floor("min")
    out = pd.DataFrame(
        {"funding_rate": pd.to_numeric(rows["last_funding_rate"], errors="coerce").to_numpy()},
        index=index,
    )
    return clean_frame(out, str(path), ["funding_rate"], positive=False)


def frame_from_rest(payload: Sequence[Sequence[object]], name: str) -> pd.DataFrame:
    """Parse the JSON array returned by ``/api/v3/klines`` or ``/fapi/v1/klines``."""
    if not payload:
        return pd.DataFrame(
            columns=["open", "high", "low", "close", "volume"],
            index=pd.DatetimeIndex([], name="time"),
            dtype="float64",
        )
    return frame_from_klines(pd.DataFrame(list(payload)), name)

"""US equities, ETFs and indices from Yahoo Finance via ``yfinance``.

``yfinance.download`` returns a frame indexed by session date (daily) or by tz-aware bar open
(intraday) whose columns are either flat (``Open, High, ...``) or a ``(field, ticker)``
MultiIndex (yfinance >= 0.2.48). :func:`frame_from_yfinance` turns either into the mirror layout.
Prices are split-adjusted only (``auto_adjust=False``), as in the mirror's equity files.
"""

from __future__ import annotations

import pandas as pd

from shocklab.data.errors import DataFileError, FetchError
from shocklab.data.sources.mirror import clean_frame

YAHOO_TICKERS = {  # mirror names -> Yahoo symbols for indices, futures, FX and rates
    "DXY": "DX-Y.NYB",
    "VIX": "^VIX",
    "TNX": "^TNX",
    "FVX": "^FVX",
    "IRX": "^IRX",
    "RUT": "^RUT",
    "USDJPY": "JPY=X",
    "NQ": "NQ=F",
    "ES": "ES=F",
    "GC": "GC=F",
    "CL": "CL=F",
    "ZN": "ZN=F",
}
# names the mirror files under macro/ (RUT is an index but lives with the equities)
MACRO_NAMES = frozenset(YAHOO_TICKERS) - {"RUT"}


def frame_from_yfinance(raw: pd.DataFrame, ticker: str, *, intraday: bool) -> pd.DataFrame:
    """yfinance output -> ``open, high, low, close, volume`` indexed like the mirror."""
    if raw.empty:
        msg = f"Yahoo returned no rows for {ticker!r}: check the ticker and the dates."
        raise FetchError(msg)
    frame: pd.DataFrame = raw
    if isinstance(frame.columns, pd.MultiIndex):
        level = 1 if ticker in frame.columns.get_level_values(1) else 0
        frame = (
            pd.DataFrame(frame.xs(ticker, axis=1, level=1))
            if level == 1
            else frame.droplevel(1, axis=1)
        )
    frame = frame.rename(columns=str.lower)
    if "close" not in frame.columns:
        msg = f"yfinance frame for {ticker!r} has no Close column: {list(frame.columns)}"
        raise DataFileError(msg)
    index = pd.DatetimeIndex(frame.index)
    if intraday:
        if index.tz is None:
            msg = f"intraday Yahoo data for {ticker!r} came without a time zone; refusing to guess."
            raise DataFileError(msg)
        index = index.tz_convert("UTC").tz_localize(None)
    else:
        index = (index.tz_localize(None) if index.tz is not None else index).normalize()
    cols = [c for c in ("open", "high", "low", "close", "volume") if c in frame.columns]
    out = pd.DataFrame(
        frame[cols].to_numpy(dtype="float64"), index=index.rename("time"), columns=cols
    )
    return clean_frame(out, f"yahoo:{ticker}", [c for c in cols if c != "volume"])


def download_yahoo(
    symbol: str, start: pd.Timestamp, end: pd.Timestamp, interval: str = "1d"
) -> pd.DataFrame:
    """Download one series with ``yfinance.download`` (network)."""
    import yfinance as yf

    ticker = YAHOO_TICKERS.get(symbol, symbol)
    raw = yf.download(
        ticker,
        start=start,
        end=end,
        interval=interval,
        auto_adjust=False,
        progress=False,
        actions=False,
        multi_level_index=True,
    )
    if raw is None:
        msg = f"yfinance returned nothing for {ticker!r}"
        raise FetchError(msg)
    return frame_from_yfinance(raw, ticker, intraday=interval != "1d")

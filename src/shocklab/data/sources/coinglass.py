"""Liquidations and open interest: CoinGlass API and users' own long-format files.

The CoinGlass API key is read from ``$COINGLASS_API_KEY`` only; it is sent as the
``CG-API-KEY`` header and never logged, stored or written into results.

Every liquidation frame carries ``attrs['source']`` and ``attrs['completeness']``:
``"complete"``, ``"lower_bound"`` (e.g. Binance's forceOrder stream: at most one liquidation per
symbol per second; exchange subsets) or ``"unknown"``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from shocklab.data.errors import DataFileError, FetchError
from shocklab.data.sources.mirror import (
    Source,
    clean_frame,
    epoch_to_utc,
    read_csv_checked,
    read_long_panel,
)

Completeness = Literal["complete", "lower_bound", "unknown"]
API_KEY_ENV = "COINGLASS_API_KEY"
LIQUIDATION_ENDPOINT = "/api/futures/liquidation/aggregated-history"
AGG_DAILY_FIX = (
    "Delete it and fetch it again: copy it from the market-data mirror "
    "(derivatives/coinglass_agg_daily/; its upstream is named in the mirror's "
    "derivatives/PROVENANCE.md), or fetch each asset again with "
    "shocklab.data.fetch.fetch_coinglass_liquidations (needs COINGLASS_API_KEY), which merges "
    "into the liquidation file."
)
"""The remedy named when a CoinGlass daily aggregate of the data root is corrupt or cut."""


def api_key() -> str:
    """The CoinGlass key from the environment, or a clear error."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        msg = (
            f"CoinGlass needs an API key: set the environment variable {API_KEY_ENV} "
            "(never put it in code, notebooks or parameters)."
        )
        raise FetchError(msg)
    return key


def frame_from_coinglass(payload: Mapping[str, Any], symbol: str) -> pd.DataFrame:
    """Parse an aggregated-liquidation response ``{"code": "0", "data": [...]}``."""
    if str(payload.get("code", "0")) != "0":
        msg = f"CoinGlass answered code {payload.get('code')}: {payload.get('msg', '')}"
        raise FetchError(msg)
    rows = payload.get("data") or []
    if not rows:
        msg = f"CoinGlass returned no liquidation rows for {symbol!r}."
        raise FetchError(msg)
    frame = pd.DataFrame(rows)
    need = {"time", "aggregated_long_liquidation_usd", "aggregated_short_liquidation_usd"}
    if not need <= set(frame.columns):
        msg = f"CoinGlass rows lack {sorted(need - set(frame.columns))}; got {list(frame.columns)}"
        raise DataFileError(msg)
    out = pd.DataFrame(
        {
            "long_usd": frame["aggregated_long_liquidation_usd"].astype("float64").to_numpy(),
            "short_usd": frame["aggregated_short_liquidation_usd"].astype("float64").to_numpy(),
        },
        index=pd.DatetimeIndex(epoch_to_utc(frame["time"].to_numpy(np.int64)), name="time"),
    )
    out = clean_frame(out, f"coinglass:{symbol}", ["long_usd", "short_usd"], positive=False)
    out.attrs.update({"source": "coinglass-api", "completeness": "lower_bound"})
    return out


def read_liquidation_csv(
    source: Source,
    *,
    columns: Mapping[str, str],
    source_name: str,
    completeness: Completeness,
    symbols: Sequence[str] | None = None,
    symbol: str | None = None,
) -> dict[str, pd.DataFrame]:
    """A user's long-format liquidation file -> one ``long_usd, short_usd`` frame per symbol.

    ``columns`` maps ``time``, ``symbol``, ``long_usd`` and ``short_usd`` to the file's names.
    A single-asset file without a symbol column (e.g. CoinGlass' hourly BTC export) takes
    ``symbol="BTC"`` instead of a ``symbol`` mapping. A file with a single ``side``-less amount
    column cannot be split and is rejected.
    """
    if symbol is not None and "symbol" not in columns:
        frame = read_csv_checked(source)
        frame["__symbol__"] = symbol
        source = io.StringIO(frame.to_csv(index=False))
        columns = {**columns, "symbol": "__symbol__"}
    need = {"time", "symbol", "long_usd", "short_usd"}
    missing = need - set(columns)
    if missing:
        msg = (
            f"column mapping lacks {sorted(missing)}: liquidations need a time, a symbol and "
            "separate long and short amounts (a series without a side cannot be split)."
        )
        raise ValueError(msg)
    frames = read_long_panel(
        source,
        time=columns["time"],
        symbol=columns["symbol"],
        values={"long_usd": columns["long_usd"], "short_usd": columns["short_usd"]},
        symbols=symbols,
    )
    for frame in frames.values():
        frame.attrs.update({"source": source_name, "completeness": completeness})
    return frames

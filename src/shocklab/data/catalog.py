"""The on-disk layout of a data root, and which file holds which series.

The layout is the offline mirror's (``../shared/market-data``); online fetches write into it::

    crypto/binance/{spot,usdm,usdm-mark}/{5m,1h,1d}/<SYMBOL>.csv[.gz]
    crypto/binance/usdm-funding/<SYMBOL>.csv
    equities/us/{1d,1h}/<TICKER>.csv
    macro/{1d,1h}/<NAME>.csv          macro/fred/<SERIES>.csv
    derivatives/coinglass_agg_daily/{liquidation_agg_1d,futures_oi_agg_1d}.csv.gz

``manifest.csv`` (optional) adds asset class, venue and coverage per file.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from shocklab.data.errors import UnknownSymbolError

Venue = Literal["spot", "usdm", "usdm-mark"]
Calendar = Literal["24/7", "XNYS", "session"]
FREQS = ("5m", "1h", "1d")
VENUES: tuple[Venue, ...] = ("spot", "usdm", "usdm-mark")
_VENUE_NAMES = {
    "spot": "binance-spot",
    "usdm": "binance-usdm-perpetual",
    "usdm-mark": "binance-usdm-mark-price",
}


@dataclass(frozen=True)
class SeriesFile:
    """One price file and what is known about it.

    ``calendar`` says how bars are scheduled: ``24/7`` (crypto, UTC bar open times), ``XNYS``
    (US equities: session dates for daily bars, session-bound hourly bars) or ``session``
    (macro series dated by their own trade date).
    """

    symbol: str
    freq: str
    path: Path
    relpath: str
    asset_class: str
    venue: str
    calendar: Calendar
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None

    @property
    def sha256(self) -> str:
        """SHA-256 of the file's bytes (cached per path, size and mtime)."""
        return path_sha256(self.path)


def path_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, cached while its size and mtime are unchanged."""
    stat = path.stat()
    return file_sha256(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def file_sha256(path: Path, size: int, mtime_ns: int) -> str:
    """SHA-256 hex digest of a file; ``size``/``mtime_ns`` key the cache."""
    del size, mtime_ns
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def crypto_dir(venue: Venue, freq: str) -> str:
    """Relative folder of Binance bars for a venue and frequency."""
    return f"crypto/binance/{venue}/{freq}"


def _find(root: Path, folder: str, symbol: str) -> Path | None:
    for suffix in (".csv.gz", ".csv"):
        path = root / folder / f"{symbol}{suffix}"
        if path.is_file():
            return path
    return None


class Catalog:
    """Read-only view of a data root: locate series files and their metadata."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._manifest = _read_manifest(root / "manifest.csv")

    def locate(self, symbol: str, freq: str, venue: Venue = "spot") -> SeriesFile | None:
        """The file for ``symbol`` at ``freq``: Binance ``venue`` first, then US equities, then
        macro. ``None`` when the root has none."""
        searches: list[tuple[str, Calendar, str, str]] = [
            (crypto_dir(venue, freq), "24/7", "crypto", _VENUE_NAMES[venue]),
            (f"equities/us/{freq}", "XNYS", "equity", "us-exchange"),
            (f"macro/{freq}", "session", "macro", "yahoo"),
        ]
        for folder, calendar, asset_class, venue_name in searches:
            path = _find(self.root, folder, symbol)
            if path is None:
                continue
            rel = path.relative_to(self.root).as_posix()
            meta = self._manifest.get(rel, {})
            return SeriesFile(
                symbol=symbol,
                freq=freq,
                path=path,
                relpath=rel,
                asset_class=str(meta.get("asset_class", asset_class)),
                venue=str(meta.get("venue", venue_name)),
                calendar=calendar,
                first=_stamp(meta.get("first")),
                last=_stamp(meta.get("last")),
            )
        return None

    def symbols(self, freq: str, venue: Venue = "spot") -> list[str]:
        """Every symbol the root holds at ``freq`` (crypto for ``venue``, equities, macro)."""
        names: set[str] = set()
        for folder in (crypto_dir(venue, freq), f"equities/us/{freq}", f"macro/{freq}"):
            names.update(p.name.split(".")[0] for p in (self.root / folder).glob("*.csv*"))
        return sorted(names)

    def unknown(self, symbol: str, freq: str, venue: Venue, why: str) -> UnknownSymbolError:
        """An error for a symbol that cannot be found, with near matches."""
        known = self.symbols(freq, venue)
        close = difflib.get_close_matches(symbol, known, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        msg = (
            f"unknown symbol {symbol!r} at freq {freq!r} (venue {venue!r}) under {self.root}: "
            f"{why}.{hint} Symbols here: {', '.join(known[:12])}{' ...' if len(known) > 12 else ''}."
        )
        return UnknownSymbolError(msg)


def _stamp(value: object) -> pd.Timestamp | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
        return None
    ts = pd.Timestamp(str(value))
    return ts.tz_convert(None) if ts.tzinfo is not None else ts


@functools.lru_cache(maxsize=16)
def _read_manifest_cached(path: Path, mtime_ns: int) -> dict[str, dict[str, object]]:
    del mtime_ns
    frame = pd.read_csv(path, dtype="string")
    return {
        str(row["path"]): {str(k): v for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    }


def _read_manifest(path: Path) -> dict[str, dict[str, object]]:
    if not path.is_file():
        return {}
    return _read_manifest_cached(path, path.stat().st_mtime_ns)

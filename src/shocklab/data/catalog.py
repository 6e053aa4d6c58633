"""The on-disk layout of a data root, and which file holds which series.

The layout is the offline mirror's (``../shared/market-data``); online fetches write into it::

    crypto/binance/{spot,usdm,usdm-mark}/{5m,1h,1d}/<SYMBOL>.csv[.gz]
    crypto/binance/usdm-funding/<SYMBOL>.csv
    equities/us/{1d,1h}/<TICKER>.csv
    macro/{1d,1h}/<NAME>.csv          macro/fred/<SERIES>.csv
    derivatives/coinglass_agg_daily/{liquidation_agg_1d,futures_oi_agg_1d}.csv.gz

``manifest.csv`` (optional) adds asset class, venue and coverage per file.

The :class:`Catalog` is the one coverage authority: which file feeds a symbol on each calendar
(:meth:`Catalog.source`), and the span it covers (:attr:`SeriesFile.first`/``last``, from a valid
manifest row, else read from the file itself), and whether it covers an event
(:meth:`Catalog.coverage`). Asset selection, coverage checks, statuses, the CLI and the
headlines all ask it.
"""

from __future__ import annotations

import difflib
import functools
import gzip
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from shocklab.config import offline
from shocklab.data import ledger
from shocklab.data.errors import DataQualityWarning, FetchError, UnknownSymbolError
from shocklab.data.readlog import file_sha256, path_sha256, record_read
from shocklab.data.sources.coinglass import AGG_DAILY_FIX
from shocklab.data.sources.mirror import read_csv_checked

Venue = Literal["spot", "usdm", "usdm-mark"]
Calendar = Literal["24/7", "XNYS", "session"]
FREQS = ("5m", "1h", "1d")
VENUES: tuple[Venue, ...] = ("spot", "usdm", "usdm-mark")
StudyCalendar = Literal["nyse", "hourly", "utc_daily"]
"""How a study samples an asset: ``nyse`` (priced at each NYSE close: session-dated daily bars,
or 24/7 intraday bars sampled at the close), ``hourly`` (UTC hour bars) or ``utc_daily``
(UTC-day bars)."""
LAYOUT = {
    "binance_bars": "crypto/binance/{venue}/{freq}",
    "funding": "crypto/binance/usdm-funding",
    "equity_bars": "equities/us/{freq}",
    "macro_bars": "macro/{freq}",
    "fred": "macro/fred",
    "coinglass_daily": "derivatives/coinglass_agg_daily",
}
"""Where each kind of file lives in a data root (the mirror's layout): the one table that
fetchers (which write) and loaders and the catalog (which read) take folders from."""
FUNDING_DIR = LAYOUT["funding"]
COINGLASS_DIR = LAYOUT["coinglass_daily"]
DERIVATIVE_FILES = {
    "liquidations": f"{COINGLASS_DIR}/liquidation_agg_1d.csv.gz",
    "open_interest": f"{COINGLASS_DIR}/futures_oi_agg_1d.csv.gz",
}
"""Long-format CoinGlass daily files (``symbol, ts_utc, <values>``) by kind."""
DERIVATIVE_VALUES = {
    "liquidations": ("liq_long_usd", "liq_short_usd"),
    "open_interest": ("oi_total_close",),
}
_STEP = {"5m": pd.Timedelta(minutes=5), "1h": pd.Timedelta(hours=1), "1d": pd.Timedelta(days=1)}
__all__ = ["Catalog", "Coverage", "SeriesFile", "file_sha256", "file_span", "path_sha256"]
_VENUE_NAMES = {
    "spot": "binance-spot",
    "usdm": "binance-usdm-perpetual",
    "usdm-mark": "binance-usdm-mark-price",
}


def check_venue(venue: object) -> Venue:
    """``venue`` if it is one of :data:`VENUES`, else a ``ValueError`` naming the valid venues
    (and the likely one: ``usdm_mark`` -> ``usdm-mark``)."""
    for known in VENUES:
        if venue == known:
            return known
    spelled = str(venue).strip().lower().replace("_", "-").replace(" ", "-")
    near = [spelled] if spelled in VENUES else difflib.get_close_matches(spelled, VENUES, n=1)
    hint = f" Did you mean {near[0]!r}?" if near else ""
    valid = ", ".join(f"{v!r} ({_VENUE_NAMES[v]})" for v in VENUES)
    msg = f"unknown venue {venue!r}; the valid venues are {valid}.{hint}"
    raise ValueError(msg)


@dataclass(frozen=True)
class SeriesFile:
    """One price file and what is known about it.

    ``calendar`` says how bars are scheduled: ``24/7`` (crypto, UTC bar open times), ``XNYS``
    (US equities: session dates for daily bars, session-bound hourly bars) or ``session``
    (macro series dated by their own trade date). ``first``/``last`` are the first and last bar
    labels (naive UTC); ``span_from`` says where they come from (``manifest`` or ``file``).
    """

    symbol: str
    freq: str
    path: Path
    relpath: str
    asset_class: str
    venue: str
    calendar: Calendar
    manifest_span: tuple[pd.Timestamp, pd.Timestamp] | None = field(default=None, repr=False)
    fetched_span: tuple[pd.Timestamp, pd.Timestamp] | None = field(default=None, repr=False)

    @property
    def sha256(self) -> str:
        """SHA-256 of the file's bytes (cached per path, size and mtime)."""
        return path_sha256(self.path)

    @functools.cached_property
    def _span(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None, str]:
        if self.fetched_span is not None:  # a fetch wrote the file after the manifest was made
            return (*self.fetched_span, "fetch")
        if self.manifest_span is not None:
            return (*self.manifest_span, "manifest")
        span = file_span(self.path)
        return (span[0], span[1], "file") if span is not None else (None, None, "unreadable")

    @property
    def first(self) -> pd.Timestamp | None:
        """First bar label (naive UTC; a session date for daily exchange bars)."""
        return self._span[0]

    @property
    def last(self) -> pd.Timestamp | None:
        """Last bar label (naive UTC; a session date for daily exchange bars)."""
        return self._span[1]

    @property
    def span_from(self) -> str:
        """``fetch`` (recorded by the fetch that last wrote the file, see
        :mod:`shocklab.data.ledger`), ``manifest``, ``file`` (read from the file) or
        ``unreadable``."""
        return self._span[2]

    @property
    def bar_length(self) -> pd.Timedelta:
        """Nominal bar length (1 day for daily files)."""
        return _STEP.get(self.freq, pd.Timedelta(days=1))

    def covers(self, when: pd.Timestamp) -> str:
        """``""`` if the file has bars around ``when`` (a bar label or instant, naive UTC),
        else why not (data start after it, data end before it, file unreadable)."""
        if self.first is None or self.last is None:
            return f"the span of {self.relpath} cannot be read (empty or malformed file)"
        if when < self.first.normalize() if self.freq == "1d" else when < self.first:
            return f"data start {_day_or_time(self.first)}, after the event"
        if when >= self.last + self.bar_length:
            return f"data end {_day_or_time(self.last)}, before the event"
        return ""


def _span_text(span: tuple[pd.Timestamp, pd.Timestamp] | None) -> str:
    return "" if span is None else f"{span[0].date()}..{span[1].date()}"


def _day_or_time(stamp: pd.Timestamp) -> str:
    if stamp == stamp.normalize():
        return stamp.strftime("%Y-%m-%d")
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


@functools.lru_cache(maxsize=4096)
def _file_span_cached(
    path: Path, size: int, mtime_ns: int
) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    del size, mtime_ns
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            header = fh.readline()
            first_line = fh.readline()
            if path.suffix == ".gz":
                last_line = first_line
                for line in fh:
                    if line.strip():
                        last_line = line
            else:
                fh.seek(0, io.SEEK_END)
                size_now = fh.tell()
                fh.seek(max(size_now - 4096, 0))
                tail = [ln for ln in fh.read().splitlines() if ln.strip()]
                last_line = tail[-1] if tail else first_line
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    if not header or not first_line.strip():
        return None
    try:
        first = _stamp(first_line.split(b",", 1)[0].decode())
        last = _stamp(last_line.split(b",", 1)[0].decode())
    except (ValueError, UnicodeDecodeError):
        return None
    if first is None or last is None or first > last:
        return None
    return first, last


def file_span(path: Path) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """First and last time label of a bar file (first column), read from the file itself;
    ``None`` when the file is empty or its first column is not a time. Cached per path, size
    and mtime."""
    stat = path.stat()
    record_read(path)
    return _file_span_cached(path, stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class Coverage:
    """Whether the data root can answer a study at one moment, asset by asset.

    ``table`` has one row per requested symbol: ``file`` (relpath or empty), ``first``,
    ``last``, ``span_from`` and ``reason`` (empty when the file covers day 0).
    """

    table: pd.DataFrame

    @property
    def covered(self) -> list[str]:
        """Symbols whose file covers day 0, in request order."""
        return [str(s) for s in self.table.index[self.table["reason"] == ""]]

    @property
    def to_download(self) -> list[str]:
        """Symbols covered only by a download (online, no local file yet)."""
        return [str(s) for s in self.table.index[self.table["span_from"] == "download"]]

    @property
    def dropped(self) -> dict[str, str]:
        """Symbol -> reason, for the symbols left out."""
        gone = self.table[self.table["reason"] != ""]
        return {str(s): str(r) for s, r in gone["reason"].items()}


def crypto_dir(venue: Venue, freq: str) -> str:
    """Relative folder of Binance bars for a venue and frequency."""
    return LAYOUT["binance_bars"].format(venue=venue, freq=freq)


def equity_dir(freq: str) -> str:
    """Relative folder of US equity/ETF bars at ``freq``."""
    return LAYOUT["equity_bars"].format(freq=freq)


def macro_dir(freq: str) -> str:
    """Relative folder of macro series (Yahoo indices, futures, FX) at ``freq``."""
    return LAYOUT["macro_bars"].format(freq=freq)


def _find(root: Path, folder: str, symbol: str) -> Path | None:
    for suffix in (".csv.gz", ".csv"):
        path = root / folder / f"{symbol}{suffix}"
        if path.is_file():
            return path
    return None


class Catalog:
    """Read-only view of a data root: which file feeds a symbol, and what it covers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._manifest = _read_manifest(root / "manifest.csv")
        if self._manifest:
            record_read(root / "manifest.csv", root)
        self._fetched = ledger.load(root)["spans"] if (root / ledger.LEDGER).is_file() else {}

    def source(
        self,
        symbol: str,
        calendar: StudyCalendar,
        venue: Venue = "spot",
        source_freq: str = "1h",
    ) -> SeriesFile | None:
        """The file a panel of ``calendar`` reads for ``symbol`` (``None`` if the root has none).

        ``nyse``: the session-dated daily file of an exchange-traded asset, else the 24/7
        intraday file at ``source_freq`` that is sampled at each NYSE close (a UTC-daily crypto
        file cannot be: its bars close at 00:00 UTC). ``hourly``: the 1h file. ``utc_daily``:
        the 1d file.
        """
        if calendar == "hourly":
            return self.locate(symbol, "1h", venue)
        if calendar == "utc_daily":
            return self.locate(symbol, "1d", venue)
        daily = self.locate(symbol, "1d", venue)
        if daily is not None and daily.calendar != "24/7":
            return daily
        intraday = self.locate(symbol, source_freq, venue)
        return intraday if intraday is not None and intraday.calendar == "24/7" else None

    def coverage(
        self,
        symbols: Sequence[str],
        calendar: StudyCalendar,
        when: pd.Timestamp | None,
        *,
        venue: Venue = "spot",
        source_freq: str = "1h",
        session_close: pd.Timestamp | None = None,
        allow_fetch: bool | None = None,
        download: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    ) -> Coverage:
        """Which of ``symbols`` have a file covering day 0 ``when`` on ``calendar``.

        ``when`` is the day-0 label of that calendar (the NYSE session date, the hourly bar
        open or the UTC day); ``None`` means the calendar has no day 0 (e.g. a moment outside
        the exchange calendar). For ``nyse`` panels sampled from intraday bars the file must
        reach ``session_close``. Online (``allow_fetch``, default: unless
        ``$SHOCKLAB_OFFLINE``), a symbol without a local file counts as covered with
        ``span_from="download"``: the loaders download a missing file when they open it. A
        local file that ends before day 0 is not extended (it stays left out, with the reason).

        ``download=(start, end)`` (online only) downloads those missing files now, for that
        span, and answers from what arrived: a symbol whose download fails (no network, not
        listed on the venue, an upstream error) is left out with ``download failed: <why>``,
        so one unreachable series never fails a whole study.
        """
        allow = (not offline()) if allow_fetch is None else allow_fetch
        rows: list[dict[str, object]] = []
        for symbol in dict.fromkeys(symbols):
            sf = self.source(symbol, calendar, venue, source_freq)
            if sf is None and allow and when is not None and download is not None:
                failure = self._download(symbol, calendar, venue, source_freq, download)
                if failure:
                    failed: dict[str, object] = {"symbol": symbol, "file": "", "first": None}
                    failed |= {
                        "last": None,
                        "span_from": "",
                        "reason": f"download failed: {failure}",
                    }
                    rows.append(failed)
                    continue
                sf = self.source(symbol, calendar, venue, source_freq)
            if sf is None:
                row: dict[str, object] = {"symbol": symbol, "file": "", "first": None}
                row |= {"last": None, "span_from": "download" if allow and when else ""}
                reason = (
                    "" if allow and when else self._absent(symbol, calendar, venue, source_freq)
                )
                rows.append(row | {"reason": reason})
                continue
            at = when
            if at is not None and calendar == "nyse" and sf.freq != "1d":
                at = session_close if session_close is not None else at
            reason = "no day 0 on this calendar" if at is None else sf.covers(at)
            rows.append(
                {
                    "symbol": symbol,
                    "file": sf.relpath,
                    "first": sf.first,
                    "last": sf.last,
                    "span_from": sf.span_from,
                    "reason": reason,
                }
            )
        table = pd.DataFrame(
            rows, columns=["symbol", "file", "first", "last", "span_from", "reason"]
        ).set_index("symbol")
        return Coverage(table)

    def _download(
        self,
        symbol: str,
        calendar: StudyCalendar,
        venue: Venue,
        source_freq: str,
        span: tuple[pd.Timestamp, pd.Timestamp],
    ) -> str:
        """Download ``symbol``'s file for ``calendar`` into the root: ``""`` when it arrived,
        else why not (the fetcher's message)."""
        from shocklab.data.fetch import CRYPTO_QUOTES, fetch_prices

        start, end = (t.tz_convert(None) if t.tzinfo is not None else t for t in span)  # UTC
        crypto = symbol.endswith(CRYPTO_QUOTES)
        freq = {"hourly": "1h", "utc_daily": "1d"}.get(calendar, source_freq if crypto else "1d")
        try:
            fetch_prices(symbol, freq=freq, venue=venue, start=start, end=end, root=self.root)
        except (FetchError, OSError) as exc:
            return str(exc)
        return ""

    def _absent(self, symbol: str, calendar: StudyCalendar, venue: Venue, freq: str) -> str:
        if calendar == "nyse" and self.locate(symbol, "1d", venue) is not None:
            return (
                f"no file in the data root: only UTC-daily bars, and a NYSE-close panel needs "
                f"{freq} bars ({crypto_dir(venue, freq)}/{symbol}.csv)"
            )
        wanted = {"hourly": "1h", "utc_daily": "1d", "nyse": f"1d or {freq}"}[calendar]
        return f"no file in the data root ({wanted} bars)"

    def derivative(self, kind: str) -> Path | None:
        """The long-format CoinGlass file of ``kind`` (``liquidations`` or ``open_interest``)."""
        path = self.root / DERIVATIVE_FILES[kind]
        return path if path.is_file() else None

    def derivative_spans(self, kind: str) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
        """Per symbol, the first and last UTC day with a non-zero value in the ``kind`` file
        (the upstream writes zeros for days it has no data); empty if the file is absent."""
        path = self.derivative(kind)
        if path is None:
            return {}
        stat = path.stat()
        record_read(path, self.root)
        return dict(_long_spans(path, stat.st_size, stat.st_mtime_ns, DERIVATIVE_VALUES[kind]))

    def locate(self, symbol: str, freq: str, venue: Venue = "spot") -> SeriesFile | None:
        """The file for ``symbol`` at ``freq``: Binance ``venue`` first, then US equities, then
        macro (Yahoo), then (daily only) FRED series (``macro/fred/<ID>.csv``: one value per
        date, read as ``close`` on the session calendar). ``None`` when the root has none; an
        unknown ``venue`` is a ``ValueError``."""
        check_venue(venue)
        searches: list[tuple[str, Calendar, str, str]] = [
            (crypto_dir(venue, freq), "24/7", "crypto", _VENUE_NAMES[venue]),
            (equity_dir(freq), "XNYS", "equity", "us-exchange"),
            (macro_dir(freq), "session", "macro", "yahoo"),
        ]
        if freq == "1d":
            searches.append((LAYOUT["fred"], "session", "rate", "fred"))
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
                asset_class=str(meta.get("asset_class") or asset_class),
                venue=str(meta.get("venue") or venue_name),
                calendar=calendar,
                manifest_span=_manifest_span(meta),
                fetched_span=_fetched_span(self._fetched.get(rel)),
            )
        return None

    def liquidation_coverage(self, symbols: Sequence[str] | None = None) -> pd.DataFrame:
        """Per asset, the UTC days a liquidation panel can cover: the CoinGlass liquidation and
        open-interest spans (days with non-zero values), the Binance UTC-daily price file's
        span, and their overlap (``first``..``last``). ``reason`` is empty for an asset with an
        overlap, else names what is missing. Empty without the liquidation file.
        """
        liq = self.derivative_spans("liquidations")
        oi = self.derivative_spans("open_interest")
        assets = sorted(liq) if symbols is None else [s.upper() for s in symbols]
        rows = []
        for asset in assets:
            sf = self.locate(f"{asset}USDT", "1d")
            spans = {
                "liquidations": liq.get(asset),
                "open_interest": oi.get(asset),
                "prices": (sf.first, sf.last)
                if sf is not None and sf.first is not None and sf.last is not None
                else None,
            }
            absent = [k for k, v in spans.items() if v is None]
            first = max((v[0] for v in spans.values() if v is not None), default=None)
            last = min((v[1] for v in spans.values() if v is not None), default=None)
            if absent:
                where = {
                    "liquidations": DERIVATIVE_FILES["liquidations"],
                    "open_interest": DERIVATIVE_FILES["open_interest"],
                    "prices": f"{crypto_dir('spot', '1d')}/{asset}USDT.csv",
                }
                reason = "no " + ", no ".join(f"{k} ({where[k]})" for k in absent)
                first = last = None
            elif first is None or last is None or first > last:
                reason = "the liquidation, open-interest and price spans do not overlap"
            else:
                reason = ""
            rows.append(
                {
                    "asset": asset,
                    "liquidations": _span_text(spans["liquidations"]),
                    "open_interest": _span_text(spans["open_interest"]),
                    "prices": _span_text(spans["prices"]),
                    "first": first,
                    "last": last,
                    "reason": reason,
                }
            )
        columns = ["asset", "liquidations", "open_interest", "prices", "first", "last", "reason"]
        return pd.DataFrame(rows, columns=columns).set_index("asset")

    def symbols(self, freq: str, venue: Venue = "spot") -> list[str]:
        """Every symbol the root holds at ``freq`` (crypto for ``venue``, equities, macro)."""
        names: set[str] = set()
        for folder in (crypto_dir(venue, freq), equity_dir(freq), macro_dir(freq)):
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
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return None
    if str(value).strip() == "":
        return None
    ts = pd.Timestamp(str(value).strip())
    if str(ts) == "NaT":  # pd.Timestamp("NaT") is NaT; the stubs do not say so
        return None
    return ts.tz_convert(None) if ts.tzinfo is not None else ts


def _fetched_span(got: object) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    if not isinstance(got, list) or len(got) != 2:
        return None
    return pd.Timestamp(str(got[0])), pd.Timestamp(str(got[1]))


def _manifest_span(meta: dict[str, object]) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The manifest row's ``first``/``last`` if both parse and are ordered, else ``None`` (the
    span is then read from the file: a row without dates or with garbled ones is not trusted)."""
    if not meta:
        return None
    try:
        first, last = _stamp(meta.get("first")), _stamp(meta.get("last"))
    except (ValueError, TypeError):
        first = last = None
    if first is None or last is None or first > last:
        warnings.warn(
            f"manifest.csv row {meta.get('path')!r} has no usable first/last "
            f"({meta.get('first')!r}, {meta.get('last')!r}); its coverage is read from the file",
            DataQualityWarning,
            stacklevel=4,
        )
        return None
    return first, last


@functools.lru_cache(maxsize=16)
def _long_spans(
    path: Path, size: int, mtime_ns: int, values: tuple[str, ...]
) -> tuple[tuple[str, tuple[pd.Timestamp, pd.Timestamp]], ...]:
    del size, mtime_ns
    frame = read_csv_checked(path, usecols=["symbol", "ts_utc", *values], fix=AGG_DAILY_FIX)
    live = frame[(frame[list(values)].fillna(0) != 0).any(axis=1)]
    stamps = pd.to_datetime(live["ts_utc"], utc=True).dt.tz_localize(None)
    out = []
    for symbol, times in stamps.groupby(live["symbol"].astype(str)):
        out.append((str(symbol), (times.min().normalize(), times.max().normalize())))
    return tuple(sorted(out))


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

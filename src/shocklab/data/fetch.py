"""Online fetches into the data root's layout: cached, hash-checked, retried, with progress bars.

Downloads go through pooch: a file already in the cache is never downloaded again; where
upstream publishes a hash (Binance ``.CHECKSUM`` files) it is verified and a mismatching file is
not kept; failed requests (HTTP errors, time-outs) are retried. Raw downloads live under
``<root>/_downloads/``; parsed series are merged into the mirror layout (``crypto/...``,
``equities/...``, ``macro/fred/...``) so that loaders read them like mirror files.

Upstream addresses can be redirected (tests point them at 127.0.0.1) through environment
variables: ``SHOCKLAB_BINANCE_DATA_URL``, ``SHOCKLAB_BINANCE_SPOT_API``,
``SHOCKLAB_BINANCE_FUTURES_API``, ``SHOCKLAB_FRED_URL``, ``SHOCKLAB_COINGLASS_URL``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pooch
import requests

from shocklab.config import data_root, offline
from shocklab.data import ledger
from shocklab.data.atomic import replace_atomically
from shocklab.data.catalog import (
    DERIVATIVE_FILES,
    FUNDING_DIR,
    LAYOUT,
    Venue,
    check_venue,
    crypto_dir,
    equity_dir,
    macro_dir,
)
from shocklab.data.errors import ChecksumError, DataFileError, DataQualityWarning, FetchError
from shocklab.data.sources import binance, coinglass, yahoo
from shocklab.data.sources.mirror import (
    parse_dates,
    parse_utc_times,
    read_csv_checked,
    read_fred_csv,
)

DEFAULT_URLS = {
    "SHOCKLAB_BINANCE_DATA_URL": "https://data.binance.vision",
    "SHOCKLAB_BINANCE_SPOT_API": "https://api.binance.com",
    "SHOCKLAB_BINANCE_FUTURES_API": "https://fapi.binance.com",
    "SHOCKLAB_FRED_URL": "https://fred.stlouisfed.org",
    "SHOCKLAB_COINGLASS_URL": "https://open-api-v4.coinglass.com",
}
RETRIES = 3
TIMEOUT = 30.0
CRYPTO_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD")
FRED_SERIES = frozenset({"DFF", "SOFR", "DGS2", "DGS10", "T10Y2Y", "DTWEXBGS", "VIXCLS"})
"""Daily FRED series ids that :func:`fetch_prices` fetches from FRED (others: Yahoo); any
other FRED id is fetched with :func:`fetch_fred` and then loads like these."""


def base_url(env: str) -> str:
    """The upstream base URL for ``env`` (default: the public address)."""
    return os.environ.get(env, DEFAULT_URLS[env]).rstrip("/")


def _require_online(what: str) -> None:
    if offline():
        msg = (
            f"{what} is not in the data root and SHOCKLAB_OFFLINE is set, so nothing is "
            "downloaded. Unset SHOCKLAB_OFFLINE, or point SHOCKLAB_DATA_DIR at a mirror."
        )
        raise FetchError(msg)


DEADLINE = 600.0
"""The longest one download may take in all (seconds); :data:`TIMEOUT` bounds each read."""


class _DeadlineExceeded(Exception):  # not a requests error: pooch must not retry it
    pass


class _Downloader:
    """pooch downloader with a total deadline: pooch's ``HTTPDownloader`` bounds each read only,
    so a server that drips one byte every 0.2 s never times out. Reads whatever has arrived
    (``read1``) and checks the clock after each read."""

    def __init__(self, timeout: float, deadline: float, progressbar: bool) -> None:
        self.timeout, self.deadline, self.progressbar = timeout, deadline, progressbar

    def __call__(
        self, url: str, output_file: Any, pooch_obj: Any, check_only: bool = False
    ) -> bool | None:
        import time

        if check_only:  # pooch asks whether the file exists upstream
            with requests.head(url, timeout=self.timeout, allow_redirects=True) as resp:
                return bool(resp.status_code == 200)
        began = time.monotonic()
        with requests.get(url, stream=True, timeout=self.timeout) as resp:
            resp.raise_for_status()
            total = int(resp.headers.get("content-length", 0) or 0)
            bar = None
            if self.progressbar:
                from tqdm import tqdm  # the text bar: tqdm.auto wants ipywidgets in a kernel

                bar = tqdm(total=total or None, unit="B", unit_scale=True, leave=True)
            try:
                with open(output_file, "wb") as out:  # noqa: PTH123  # pooch gives a str path
                    while chunk := resp.raw.read1(1 << 16, decode_content=True):
                        out.write(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
                        if time.monotonic() - began > self.deadline:
                            msg = (
                                f"{url}: the download took longer than {self.deadline:.0f} s "
                                "in all (a stalled or very slow server)"
                            )
                            raise _DeadlineExceeded(msg)
            finally:
                if bar is not None:
                    bar.close()
        return None


def download(
    url: str,
    dest: Path,
    *,
    known_hash: str | None = None,
    timeout: float = TIMEOUT,
    deadline: float | None = None,
    retries: int | None = None,
    progressbar: bool = False,
) -> Path:
    """Download ``url`` to ``dest`` unless already there (and matching ``known_hash``).

    Raises :class:`ChecksumError` on a hash mismatch (the bad file is not kept) and
    :class:`FetchError` when the request still fails after ``retries`` retries (default
    :data:`RETRIES`; pooch waits 1 s, 2 s, ... between attempts) or takes longer than
    ``deadline`` (default :data:`DEADLINE`) in all. A file already in ``dest`` that fails
    ``known_hash`` (damaged on disk) is fetched again once, with a :class:`DataQualityWarning`.
    """
    _require_online(url)
    retries = RETRIES if retries is None else retries
    dest.parent.mkdir(parents=True, exist_ok=True)
    fetcher = pooch.create(
        path=dest.parent,
        base_url="",
        registry={dest.name: known_hash},
        urls={dest.name: url},
        retry_if_failed=retries,
        allow_updates=False,
    )
    downloader = _Downloader(timeout, DEADLINE if deadline is None else deadline, progressbar)
    for attempt in (1, 2):
        try:
            return Path(fetcher.fetch(dest.name, downloader=downloader))
        except _DeadlineExceeded as exc:
            msg = f"{exc}. Try again later."
            raise FetchError(msg) from None
        except ValueError as exc:
            if "updates are disallowed" in str(exc) and attempt == 1 and dest.exists():
                warnings.warn(
                    f"{dest}: the cached copy of {url} fails its checksum (damaged on disk); "
                    "it is fetched again.",
                    DataQualityWarning,
                    stacklevel=2,
                )
                dest.unlink()
                continue
            if "hash" in str(exc).lower():
                msg = (
                    f"{url}: checksum mismatch ({exc}). The file was not kept; try again later "
                    "or report it upstream if it persists."
                )
                raise ChecksumError(msg) from exc
            raise
        except requests.exceptions.RequestException as exc:
            msg = f"{url}: download failed after {retries} retries ({exc})."
            raise FetchError(msg) from exc
    msg = f"{url}: not fetched"  # not reached: the second attempt returns or raises
    raise FetchError(msg)


MAX_WAIT = 60.0
"""The longest wait a ``Retry-After`` header can ask for before a retry (seconds)."""


def _retry_after(resp: requests.Response, attempt: int) -> float:
    """Seconds to wait after HTTP 429/418: the server's ``Retry-After`` (seconds), else an
    exponential backoff (1, 2, 4 ... s), capped at :data:`MAX_WAIT`."""
    header = resp.headers.get("Retry-After", "")
    try:
        wait = float(header)
    except ValueError:
        wait = 2.0**attempt
    return min(max(wait, 0.0), MAX_WAIT)


def _upstream_message(resp: requests.Response) -> str:
    """The upstream's own explanation of an error answer (Binance: ``{"code", "msg"}``)."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200].strip()
    if isinstance(body, dict):
        return str(body.get("msg") or body.get("message") or body)[:200]
    return str(body)[:200]


def _get_json(url: str, params: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    """GET a JSON answer. Connection errors, time-outs and HTTP 5xx are retried
    :data:`RETRIES` times; HTTP 429 (and Binance's 418) wait as ``Retry-After`` says (else an
    exponential backoff) and are retried; any other 4xx is a :class:`FetchError` naming the URL,
    the request and the upstream's message (e.g. an unknown symbol)."""
    import time

    _require_online(url)
    last: Exception | str | None = None
    what = ", ".join(f"{k}={v}" for k, v in params.items())
    for attempt in range(RETRIES + 1):
        try:
            resp = requests.get(url, params=params, headers=headers, timeout=TIMEOUT)
        except (requests.ConnectionError, requests.Timeout) as exc:
            last = exc
            continue
        if resp.status_code in (418, 429):
            last = f"HTTP {resp.status_code}: rate limited"
            if attempt < RETRIES:
                time.sleep(_retry_after(resp, attempt))
            continue
        if resp.status_code >= 500:
            last = f"HTTP {resp.status_code}"
            continue
        if resp.status_code >= 400:
            msg = (
                f"{url} ({what}): HTTP {resp.status_code}, {_upstream_message(resp)!r}. Check "
                "the symbol and the dates (the upstream refused the request; retrying will not "
                "help)."
            )
            raise FetchError(msg)
        try:
            return resp.json()
        except ValueError as exc:
            msg = f"{url} ({what}): the answer is not JSON ({exc})."
            raise FetchError(msg) from exc
    msg = f"{url} ({what}): request failed after {RETRIES} retries ({last})."
    raise FetchError(msg)


def write_series(
    frame: pd.DataFrame, path: Path, *, time_col: str = "time", root: Path | None = None
) -> Path:
    """Merge ``frame`` into a mirror-format CSV at ``path`` atomically (new rows win).

    Works for any numeric columns (bars, funding, liquidations): the existing file is read back
    through the same time parsing as the mirror files. With ``root`` the span now in the file
    is recorded in the root's ledger (:mod:`shocklab.data.ledger`), which the catalog trusts
    over the mirror's manifest. Nothing is written when there is no row at all (an empty
    upstream answer is not a file): :class:`FetchError`.
    """
    if frame.empty and not path.exists():
        msg = f"{path.name}: the upstream answer held no rows; nothing was written."
        raise FetchError(msg)
    if path.exists():
        old = _read_written(path, time_col)
        old = old[[c for c in frame.columns if c in old.columns]]
        frame = pd.concat([old[~old.index.isin(frame.index)], frame]).sort_index()
    out = frame.copy()
    index = pd.DatetimeIndex(out.index)
    if time_col == "time":
        stamps = index.strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        stamps = index.strftime("%Y-%m-%d")
    out.insert(0, time_col, stamps)
    replace_atomically(path, lambda tmp: out.to_csv(tmp, index=False, float_format="%.10g"))
    if root is not None and len(index):
        ledger.record_span(root, path.relative_to(root).as_posix(), index.min(), index.max())
    return path


def _read_written(path: Path, time_col: str) -> pd.DataFrame:
    raw = read_csv_checked(path)
    parse = parse_utc_times if time_col == "time" else parse_dates
    index = parse(raw[time_col], str(path), time_col)
    numeric = raw.drop(columns=time_col).apply(pd.to_numeric, errors="coerce")
    return pd.DataFrame(numeric.to_numpy(dtype="float64"), index=index, columns=numeric.columns)


def _months(start: pd.Timestamp, end: pd.Timestamp) -> pd.PeriodIndex:
    return pd.period_range(
        start.to_period("M"), (end - pd.Timedelta(1, "ns")).to_period("M"), freq="M"
    )


def fetch_binance_klines(
    symbol: str,
    *,
    interval: str,
    market: Venue,
    start: pd.Timestamp,
    end: pd.Timestamp,
    root: Path | None = None,
    progressbar: bool = True,
) -> Path:
    """Binance klines for ``[start, end)`` from monthly archives (checksum-verified); months
    without an archive yet (the current one) come from the REST endpoint."""
    check_venue(market)
    root = data_root(root)
    path = root / crypto_dir(market, interval) / f"{symbol}.csv"
    relpath = path.relative_to(root).as_posix()
    if ledger.known_empty(root, relpath, start, end):
        msg = (
            f"Binance has no {market} {interval} bars of {symbol} for {start} .. {end} (an "
            f"earlier fetch found none: not listed then; recorded in {root / ledger.LEDGER})."
        )
        raise FetchError(msg)
    frames = []
    for month in _months(start, end):
        rel = binance.archive_path(market, symbol, interval, month)
        url = f"{base_url('SHOCKLAB_BINANCE_DATA_URL')}/{rel}"
        dest = root / "_downloads" / "binance" / rel
        try:
            checksum = download(url + ".CHECKSUM", dest.with_name(dest.name + ".CHECKSUM"))
        except FetchError as exc:
            if "404" not in str(exc):
                raise
            frames.append(_rest_month(symbol, interval, market, month))
            continue
        sha = binance.parse_checksum(checksum.read_text(encoding="utf-8"), str(checksum))
        archive = download(url, dest, known_hash=f"sha256:{sha}", progressbar=progressbar)
        frames.append(binance.read_kline_zip(archive))
    frame = pd.concat(frames).sort_index()
    frame = frame.loc[
        (frame.index >= start) & (frame.index < end), ["open", "high", "low", "close", "volume"]
    ]
    if market == "usdm-mark":
        frame = frame.drop(columns="volume")
    if frame.empty:  # "no data for that span", never a header-only file that blocks later calls
        ledger.record_empty(root, relpath, start, end)
        msg = (
            f"Binance has no {market} {interval} bars of {symbol} for {start} .. {end} (not "
            f"listed then, or not on this venue); recorded in {root / ledger.LEDGER}, so later "
            "calls for this span do not ask again."
        )
        raise FetchError(msg)
    return write_series(frame, path, root=root)


def _rest_month(symbol: str, interval: str, market: Venue, month: pd.Period) -> pd.DataFrame:
    env = "SHOCKLAB_BINANCE_SPOT_API" if market == "spot" else "SHOCKLAB_BINANCE_FUTURES_API"
    url = base_url(env) + binance.REST_KLINES[market]
    start_ms = int(month.start_time.value // 1_000_000)
    end_ms = int(month.end_time.value // 1_000_000)
    frames = []
    while start_ms <= end_ms:
        rows = _get_json(
            url,
            {
                "symbol": symbol,
                "interval": interval,
                "startTime": start_ms,
                "endTime": end_ms,
                "limit": 1000,
            },
        )
        if not rows:
            break
        frames.append(binance.frame_from_rest(rows, f"{url}?symbol={symbol}"))
        start_ms = int(rows[-1][0]) + 1
        if len(rows) < 1000:
            break
    if not frames:
        return binance.frame_from_rest([], url)
    return pd.concat(frames)


def fetch_funding(
    symbol: str,
    start: pd.Timestamp | str,
    end: pd.Timestamp | str,
    *,
    root: Path | None = None,
    progressbar: bool = True,
) -> Path:
    """Binance USD-M funding history from monthly archives into ``usdm-funding/<SYMBOL>.csv``."""
    root = data_root(root)
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    frames = []
    for month in _months(s, e):
        rel = binance.funding_path(symbol, month)
        url = f"{base_url('SHOCKLAB_BINANCE_DATA_URL')}/{rel}"
        dest = root / "_downloads" / "binance" / rel
        checksum = download(url + ".CHECKSUM", dest.with_name(dest.name + ".CHECKSUM"))
        sha = binance.parse_checksum(checksum.read_text(encoding="utf-8"), str(checksum))
        frames.append(
            binance.read_funding_zip(
                download(url, dest, known_hash=f"sha256:{sha}", progressbar=progressbar)
            )
        )
    frame = pd.concat(frames).sort_index()
    return write_series(frame, root / FUNDING_DIR / f"{symbol}.csv", root=root)


def fetch_fred(series_id: str, *, root: Path | None = None) -> Path:
    """A FRED series as ``macro/fred/<ID>.csv`` (FRED's own fredgraph CSV, validated)."""
    root = data_root(root)
    url = f"{base_url('SHOCKLAB_FRED_URL')}/graph/fredgraph.csv?id={series_id}"
    dest = root / "_downloads" / "fred" / f"{series_id}.csv"
    if dest.exists():  # FRED revises series: refresh instead of trusting an old copy
        dest.unlink()
    path = download(url, dest)
    read_fred_csv(path, series_id)  # reject a malformed answer before it enters the layout
    target = root / LAYOUT["fred"] / f"{series_id}.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    path.replace(target)
    return target


def fetch_yahoo(
    symbol: str,
    *,
    interval: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    root: Path | None = None,
) -> Path:
    """Equities/ETFs/indices via yfinance into ``equities/us/<freq>/`` (macro names into
    ``macro/<freq>/``)."""
    _require_online(f"{symbol} ({interval})")
    root = data_root(root)
    frame = yahoo.download_yahoo(symbol, start, end, interval)
    folder = macro_dir(interval) if symbol in yahoo.MACRO_NAMES else equity_dir(interval)
    path = root / folder / f"{symbol}.csv"
    return write_series(frame, path, time_col="date" if interval == "1d" else "time", root=root)


def fetch_prices(
    symbol: str,
    *,
    freq: str,
    venue: Venue,
    start: pd.Timestamp,
    end: pd.Timestamp,
    root: Path | None = None,
    progressbar: bool = False,
) -> Path:
    """Fetch a missing price series: Binance for crypto pairs, Yahoo otherwise. No progress
    bar by default: the loaders call this inside notebook kernels, where pooch's tqdm.auto
    bar needs ipywidgets and otherwise prints a TqdmWarning into the executed notebook."""
    if symbol.endswith(CRYPTO_QUOTES):
        return fetch_binance_klines(
            symbol,
            interval=freq,
            market=venue,
            start=start,
            end=end,
            root=root,
            progressbar=progressbar,
        )
    if symbol in FRED_SERIES:
        if freq != "1d":
            msg = f"{symbol} is a daily FRED series; use freq '1d'."
            raise FetchError(msg)
        return fetch_fred(symbol, root=root)
    if freq not in ("1d", "1h"):
        msg = f"Yahoo has no {freq} history for {symbol}; use freq '1d' or '1h'."
        raise FetchError(msg)
    return fetch_yahoo(symbol, interval=freq, start=start, end=end, root=root)


def fetch_coinglass_liquidations(
    symbol: str,
    *,
    interval: str = "1d",
    exchanges: str = "Binance,OKX,Bybit",
    root: Path | None = None,
) -> Path:
    """CoinGlass aggregated daily liquidation history of one base asset (``BTC``; key from
    ``$COINGLASS_API_KEY``), merged into the long-format file the loaders read
    (``DERIVATIVE_FILES["liquidations"]``: ``symbol, ts_utc, liq_long_usd, liq_short_usd``):
    the asset's fetched days replace its rows for those days, other rows are kept, and the
    file is replaced atomically. ``open_liquidations`` and the liquidation study then read
    them like the mirror's. Only daily history fits that file (``interval="1d"``)."""
    if interval != "1d":
        msg = (
            f"interval {interval!r}: the liquidation file the loaders read is daily; fetch "
            "interval='1d'."
        )
        raise ValueError(msg)
    root = data_root(root)
    url = base_url("SHOCKLAB_COINGLASS_URL") + coinglass.LIQUIDATION_ENDPOINT
    payload = _get_json(
        url,
        {"symbol": symbol, "interval": interval, "exchange_list": exchanges},
        headers={"CG-API-KEY": coinglass.api_key(), "accept": "application/json"},
    )
    if not isinstance(payload, dict):
        msg = f"{url}: unexpected answer (not a JSON object)."
        raise DataFileError(msg)
    frame = coinglass.frame_from_coinglass(payload, symbol)
    rows = pd.DataFrame(
        {
            "symbol": symbol,
            "ts_utc": pd.DatetimeIndex(frame.index).strftime("%Y-%m-%d %H:%M:%S+00"),
            "liq_long_usd": frame["long_usd"].to_numpy(),
            "liq_short_usd": frame["short_usd"].to_numpy(),
        }
    )
    path = root / DERIVATIVE_FILES["liquidations"]
    if path.exists():
        old = read_csv_checked(path, fix=coinglass.AGG_DAILY_FIX)
        keep = ~(old["symbol"].eq(symbol) & old["ts_utc"].isin(rows["ts_utc"]))
        rows = pd.concat([old[keep][list(rows.columns)], rows], ignore_index=True)
    rows = rows.sort_values(["symbol", "ts_utc"], kind="stable")
    replace_atomically(
        path,
        lambda tmp: rows.to_csv(tmp, index=False, float_format="%.10g", compression="gzip"),
    )
    return path

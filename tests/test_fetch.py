"""Online code paths against a local HTTP server on 127.0.0.1 serving upstream-format files."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import Reply, Upstream

from shocklab.data import ChecksumError, DataQualityWarning, FetchError, open_prices
from shocklab.data import fetch as fetch_mod
from shocklab.data.sources import yahoo

HOUR_MS = 3_600_000
JAN_2024_MS = 1704067200000  # 2024-01-01T00:00Z
JAN_2025_MS = 1735689600000  # 2025-01-01T00:00Z


def kline_rows(start_ms: int, n: int, *, micro: bool, base: float = 100.0) -> str:
    """Binance kline CSV rows (12 columns, no header); µs stamps when ``micro``."""
    scale = 1000 if micro else 1
    lines = []
    for i in range(n):
        t = (start_ms + i * HOUR_MS) * scale
        o, c = base + i, base + i + 0.5
        close_time = t + (HOUR_MS - 1) * scale
        lines.append(f"{t},{o},{c + 1},{o - 1},{c},10.5,{close_time},1050.0,42,5.0,500.0,0")
    return "\n".join(lines) + "\n"


def zipped(name: str, text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, text)
    return buf.getvalue()


def serve_archive(up: Upstream, rel: str, blob: bytes, *, checksum: str | None = None) -> None:
    name = rel.rsplit("/", 1)[-1]
    digest = checksum or hashlib.sha256(blob).hexdigest()
    up.serve(f"/{rel}", Reply(body=blob))
    up.serve(f"/{rel}.CHECKSUM", Reply(body=f"{digest}  {name}\n".encode()))


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch, upstream: Upstream, tmp_path: Path) -> Path:
    """An empty data root with downloads allowed and every upstream pointed at 127.0.0.1."""
    root = tmp_path / "data"
    monkeypatch.setenv("SHOCKLAB_DATA_DIR", str(root))
    monkeypatch.delenv("SHOCKLAB_OFFLINE")
    for env in fetch_mod.DEFAULT_URLS:
        monkeypatch.setenv(env, upstream.url)
    monkeypatch.setattr(fetch_mod, "RETRIES", 2)
    return root


def fetch_spot(start: str, end: str, root: Path) -> Path:
    """Fetch TESTUSDT spot hourly klines for ``[start, end)`` into ``root``."""
    return fetch_mod.fetch_binance_klines(
        "TESTUSDT",
        interval="1h",
        market="spot",
        start=pd.Timestamp(start),
        end=pd.Timestamp(end),
        root=root,
    )


SPOT_2025 = "data/spot/monthly/klines/TESTUSDT/1h/TESTUSDT-1h-2025-01.zip"
SPOT_2024 = "data/spot/monthly/klines/TESTUSDT/1h/TESTUSDT-1h-2024-12.zip"


def test_binance_archives_ms_and_us_into_layout(upstream: Upstream, online: Path) -> None:
    dec_start = JAN_2025_MS - 3 * HOUR_MS  # 2024-12-31T21:00Z, millisecond stamps
    serve_archive(
        upstream,
        SPOT_2024,
        zipped("TESTUSDT-1h-2024-12.csv", kline_rows(dec_start, 3, micro=False)),
    )
    serve_archive(
        upstream,
        SPOT_2025,
        zipped("TESTUSDT-1h-2025-01.csv", kline_rows(JAN_2025_MS, 5, micro=True, base=200)),
    )
    ds = open_prices("TESTUSDT", "2024-12-31T21:00", "2025-01-01T05:00", freq="1h")
    close = ds["close"].sel(asset="TESTUSDT").to_series()
    assert close.index[0] == pd.Timestamp("2024-12-31T21:00")
    assert close.tolist() == [100.5, 101.5, 102.5, 200.5, 201.5, 202.5, 203.5, 204.5]
    assert not ds["missing"].any()
    written = online / "crypto/binance/spot/1h/TESTUSDT.csv"
    assert written.read_text().splitlines()[1].startswith("2024-12-31T21:00:00Z,")
    # cached: a second request downloads nothing again
    hits = dict(upstream.hits)
    fetch_spot("2025-01-01", "2025-01-01T05:00", online)
    assert upstream.hits[f"/{SPOT_2025}"] == hits[f"/{SPOT_2025}"] == 1


def test_checksum_mismatch_is_an_error_and_file_not_kept(upstream: Upstream, online: Path) -> None:
    blob = zipped("TESTUSDT-1h-2025-01.csv", kline_rows(JAN_2025_MS, 5, micro=True))
    serve_archive(upstream, SPOT_2025, blob, checksum="0" * 64)
    with pytest.raises(ChecksumError, match=r"checksum mismatch.*not kept"):
        fetch_spot("2025-01-01", "2025-01-02", online)
    assert not (online / "_downloads/binance" / SPOT_2025).exists()
    assert not (online / "crypto/binance/spot/1h/TESTUSDT.csv").exists()


def test_http_500_then_success_is_retried(upstream: Upstream, online: Path) -> None:
    blob = zipped("TESTUSDT-1h-2025-01.csv", kline_rows(JAN_2025_MS, 5, micro=True))
    serve_archive(upstream, SPOT_2025, blob)
    upstream.serve(f"/{SPOT_2025}", Reply(status=500), Reply(body=blob))
    path = fetch_spot("2025-01-01", "2025-01-01T05:00", online)
    assert upstream.hits[f"/{SPOT_2025}"] == 2
    assert len(pd.read_csv(path)) == 5


def test_timeout_gives_fetch_error(upstream: Upstream, online: Path) -> None:
    upstream.serve("/slow.zip", Reply(body=b"x", delay=1.5))
    with pytest.raises(FetchError, match=r"slow.zip: download failed after 1 retries"):
        fetch_mod.download(f"{upstream.url}/slow.zip", online / "slow.zip", timeout=0.3, retries=1)
    assert upstream.hits["/slow.zip"] == 2
    assert not (online / "slow.zip").exists()


def test_offline_refuses_to_download(monkeypatch: pytest.MonkeyPatch, online: Path) -> None:
    monkeypatch.setenv("SHOCKLAB_OFFLINE", "1")
    with pytest.raises(FetchError, match="SHOCKLAB_OFFLINE"):
        fetch_mod.download("http://127.0.0.1:9/x.zip", online / "x.zip")


def test_corrupt_zip_from_upstream(upstream: Upstream, online: Path) -> None:
    serve_archive(upstream, SPOT_2025, b"PK\x03\x04 definitely not a zip")
    with pytest.raises(Exception, match="corrupt or truncated zip"):
        fetch_spot("2025-01-01", "2025-01-02", online)


def test_futures_archive_with_header(upstream: Upstream, online: Path) -> None:
    rel = "data/futures/um/monthly/klines/TESTUSDT/1h/TESTUSDT-1h-2024-01.zip"
    header = (
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
        "taker_buy_volume,taker_buy_quote_volume,ignore\n"
    )
    serve_archive(upstream, rel, zipped("x.csv", header + kline_rows(JAN_2024_MS, 4, micro=False)))
    ds = open_prices("TESTUSDT", "2024-01-01T00:00", "2024-01-01T04:00", freq="1h", venue="usdm")
    assert ds["close"].values.ravel().tolist() == [100.5, 101.5, 102.5, 103.5]
    assert ds["venue"].values.tolist() == ["binance-usdm-perpetual"]


def test_rest_klines_when_no_archive_yet(upstream: Upstream, online: Path) -> None:
    """A month without an archive (404) comes from /api/v3/klines, paginated by startTime."""
    rows = [
        [
            JAN_2025_MS + i * HOUR_MS,
            "1",
            str(2 + i),
            "0.5",
            str(1 + i),
            "3",
            0,
            "0",
            1,
            "0",
            "0",
            "0",
        ]
        for i in range(1500)
    ]
    first, second = rows[:1000], rows[1000:]
    upstream.serve(
        f"/api/v3/klines?symbol=TESTUSDT&interval=1h&startTime={JAN_2025_MS}"
        f"&endTime={JAN_2025_MS + 31 * 24 * HOUR_MS - 1}&limit=1000",
        Reply(body=json.dumps(first).encode()),
    )
    next_start = JAN_2025_MS + 999 * HOUR_MS + 1
    upstream.serve(
        f"/api/v3/klines?symbol=TESTUSDT&interval=1h&startTime={next_start}"
        f"&endTime={JAN_2025_MS + 31 * 24 * HOUR_MS - 1}&limit=1000",
        Reply(body=json.dumps(second).encode()),
    )
    path = fetch_spot("2025-01-01", "2025-02-01", online)
    frame = pd.read_csv(path)
    assert len(frame) == 744  # 31 days x 24 h kept from the 1500 served (window end)
    assert frame["close"].iloc[-1] == 744


def test_funding_archive(upstream: Upstream, online: Path) -> None:
    rel = "data/futures/um/monthly/fundingRate/TESTUSDT/TESTUSDT-fundingRate-2025-01.zip"
    text = (
        "calc_time,funding_interval_hours,last_funding_rate\n"
        f"{JAN_2025_MS + 3},8,0.0001\n{JAN_2025_MS + 8 * HOUR_MS + 2},8,-0.00005\n"
    )
    serve_archive(upstream, rel, zipped("f.csv", text))
    path = fetch_mod.fetch_funding("TESTUSDT", "2025-01-01", "2025-01-31", root=online)
    frame = pd.read_csv(path)
    assert frame["time"].tolist() == ["2025-01-01T00:00:00Z", "2025-01-01T08:00:00Z"]
    assert frame["funding_rate"].tolist() == [0.0001, -0.00005]


def test_fred_csv(upstream: Upstream, online: Path) -> None:
    upstream.serve(
        "/graph/fredgraph.csv?id=DFF",
        Reply(body=b"observation_date,DFF\n2025-01-24,4.33\n2025-01-25,4.33\n"),
    )
    path = fetch_mod.fetch_fred("DFF", root=online)
    assert path == online / "macro/fred/DFF.csv"
    from shocklab.data.sources.mirror import read_fred_csv

    assert read_fred_csv(path)["value"].tolist() == [4.33, 4.33]


def test_fred_html_error_page_is_rejected(upstream: Upstream, online: Path) -> None:
    upstream.serve("/graph/fredgraph.csv?id=NOPE", Reply(body=b"<html>Series not found</html>"))
    with pytest.raises(Exception, match="FRED fredgraph CSV"):
        fetch_mod.fetch_fred("NOPE", root=online)
    assert not (online / "macro/fred/NOPE.csv").exists()


def test_coinglass_key_from_env_only(
    upstream: Upstream, online: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COINGLASS_API_KEY", raising=False)
    with pytest.raises(FetchError, match="COINGLASS_API_KEY"):
        fetch_mod.fetch_coinglass_liquidations("BTC", root=online)
    monkeypatch.setenv("COINGLASS_API_KEY", "test-key-123")
    payload = {
        "code": "0",
        "data": [
            {
                "time": JAN_2025_MS + 26 * 86_400_000,
                "aggregated_long_liquidation_usd": 8.3e7,
                "aggregated_short_liquidation_usd": 3.2e7,
            },
        ],
    }
    upstream.serve(
        "/api/futures/liquidation/aggregated-history", Reply(body=json.dumps(payload).encode())
    )
    path = fetch_mod.fetch_coinglass_liquidations("BTC", root=online)
    # written where the loaders read: the long-format daily file of the layout
    assert path == online / "derivatives/coinglass_agg_daily/liquidation_agg_1d.csv.gz"
    frame = pd.read_csv(path)
    assert frame["ts_utc"].tolist() == ["2025-01-27 00:00:00+00"]
    assert frame["liq_long_usd"].iloc[0] == 8.3e7
    sent = upstream.requests[-1][1]
    assert sent["CG-API-KEY"] == "test-key-123"
    assert b"test-key-123" not in path.read_bytes()
    # a later fetch merges into the file; another asset's rows are kept
    later = {
        "code": "0",
        "data": [
            {
                "time": JAN_2025_MS + 27 * 86_400_000,
                "aggregated_long_liquidation_usd": 3.7e7,
                "aggregated_short_liquidation_usd": 1.8e7,
            },
        ],
    }
    upstream.serve(
        "/api/futures/liquidation/aggregated-history", Reply(body=json.dumps(later).encode())
    )
    fetch_mod.fetch_coinglass_liquidations("ETH", root=online)
    fetch_mod.fetch_coinglass_liquidations("BTC", root=online)
    from shocklab.data import open_liquidations

    ds = open_liquidations(["BTC", "ETH"], "2025-01-27", "2025-01-28", data_dir=online)
    assert ds["long_usd"].sel(asset="BTC").values.tolist() == [8.3e7, 3.7e7]
    assert ds["short_usd"].sel(asset="ETH").values.tolist()[-1] == 1.8e7


def test_yfinance_frame_multiindex_and_flat() -> None:
    idx = pd.DatetimeIndex(["2025-01-24", "2025-01-27"], name="Date")
    fields = ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
    values = np.array(
        [[145.0, 146.0, 141.0, 142.59, 142.5, 2e8], [124.8, 128.4, 116.7, 118.50, 118.4, 8e8]]
    )
    multi = pd.DataFrame(values, index=idx, columns=pd.MultiIndex.from_product([fields, ["NVDA"]]))
    flat = pd.DataFrame(values, index=idx, columns=fields)
    a = yahoo.frame_from_yfinance(multi, "NVDA", intraday=False)
    b = yahoo.frame_from_yfinance(flat, "NVDA", intraday=False)
    pd.testing.assert_frame_equal(a, b)
    assert a["close"].tolist() == [142.59, 118.50]  # Close, not Adj Close
    hourly = pd.DataFrame(
        values,
        columns=fields,
        index=pd.DatetimeIndex(["2025-01-27 09:30", "2025-01-27 10:30"]).tz_localize(
            "America/New_York"
        ),
    )
    h = yahoo.frame_from_yfinance(hourly, "NVDA", intraday=True)
    assert h.index[0] == pd.Timestamp("2025-01-27T14:30")  # UTC
    with pytest.raises(Exception, match="without a time zone"):
        yahoo.frame_from_yfinance(hourly.tz_localize(None), "NVDA", intraday=True)


def test_yahoo_fetch_writes_layout(monkeypatch: pytest.MonkeyPatch, online: Path) -> None:
    calls: list[dict[str, object]] = []

    def fake_download(ticker: str, **kwargs: object) -> pd.DataFrame:
        calls.append({"ticker": ticker, **kwargs})
        idx = pd.DatetimeIndex(["2025-01-24", "2025-01-27"], name="Date")
        cols = pd.MultiIndex.from_product([["Open", "High", "Low", "Close", "Volume"], [ticker]])
        return pd.DataFrame(
            [[1, 2, 0.5, 1.5, 10], [1.5, 2, 1, 1.2, 11]], index=idx, columns=cols, dtype=float
        )

    import yfinance

    monkeypatch.setattr(yfinance, "download", fake_download)
    ds = open_prices("VIX", "2025-01-24", "2025-01-27", freq="1d")
    assert calls[0]["ticker"] == "^VIX"
    assert calls[0]["auto_adjust"] is False
    assert ds["close"].values.ravel().tolist() == [1.5, 1.2]
    assert (online / "macro/1d/VIX.csv").read_text().startswith("date,open,high,low,close")


def test_online_coverage_downloads_and_leaves_out_what_fails(
    upstream: Upstream, online: Path
) -> None:
    """Online, the coverage authority downloads missing files for the study's span; a symbol
    whose download fails (here: not listed, HTTP 400 as Binance answers) is left out with the
    reason instead of failing the study."""
    from shocklab.data.catalog import Catalog

    serve_archive(
        upstream, SPOT_2025, zipped("t.csv", kline_rows(JAN_2025_MS, 31 * 24, micro=False))
    )
    upstream.serve(
        "/api/v3/klines",  # no archive for NOPEUSDT (404), then REST: not listed
        Reply(status=400, body=b'{"code":-1121,"msg":"Invalid symbol."}'),
    )
    day0 = pd.Timestamp("2025-01-15T14:00")  # UTC, naive as the calendar layer gives it
    span = (pd.Timestamp("2025-01-02"), pd.Timestamp("2025-01-20"))
    cov = Catalog(online).coverage(["TESTUSDT", "NOPEUSDT"], "hourly", day0, download=span)
    assert cov.covered == ["TESTUSDT"]
    assert cov.to_download == []
    assert cov.table.loc["TESTUSDT", "file"] == "crypto/binance/spot/1h/TESTUSDT.csv"
    assert cov.table.loc["TESTUSDT", "first"] == span[0]
    reason = cov.dropped["NOPEUSDT"]
    assert reason.startswith("download failed: ")
    assert "NOPEUSDT" in reason
    # without a span the coverage only says what a download would cover (no request made)
    lazy = Catalog(online).coverage(["OTHERUSDT"], "hourly", day0)
    assert lazy.to_download == ["OTHERUSDT"]


DEC_2024_MS = JAN_2025_MS - 31 * 24 * HOUR_MS


def test_a_fetched_series_extends_when_a_later_month_is_asked(
    upstream: Upstream, online: Path
) -> None:
    """December fetched, January asked: the missing month is downloaded and merged, the ledger
    records the new span and the catalog sees it (it was 72 of 72 closes NaN, no word)."""
    from shocklab.data.catalog import Catalog

    serve_archive(upstream, SPOT_2024, zipped("d.csv", kline_rows(DEC_2024_MS, 744, micro=False)))
    serve_archive(
        upstream, SPOT_2025, zipped("j.csv", kline_rows(JAN_2025_MS, 744, micro=False, base=900))
    )
    dec = open_prices("TESTUSDT", "2024-12-01", "2024-12-31T23:00", freq="1h")
    assert np.isfinite(dec["close"].values).all()
    assert upstream.hits.get(f"/{SPOT_2025}", 0) == 0  # only December so far
    jan = open_prices("TESTUSDT", "2025-01-10", "2025-01-13", freq="1h")
    closes = jan["close"].values.ravel()
    assert closes.size == 96  # 10, 11, 12 and 13 January (a date end is inclusive)
    assert np.isfinite(closes).all()
    assert closes[0] == 900 + 9 * 24 + 0.5  # 2025-01-10T00:00 is the 217th bar of January
    sf = Catalog(online).locate("TESTUSDT", "1h", "spot")
    assert sf is not None
    assert sf.span_from == "fetch"
    assert sf.first == pd.Timestamp("2024-12-01")
    assert sf.last == pd.Timestamp("2025-01-13T23:00")  # what the request needed, no more


def test_an_empty_upstream_answer_is_recorded_not_written(upstream: Upstream, online: Path) -> None:
    """No bars upstream (before a listing): no header-only file that would block later fetches;
    the ledger says 'no data for that span', a repeat is answered without asking, and a later
    span (after the listing) is fetched."""
    upstream.serve("/api/v3/klines", Reply(body=b"[]"))
    with pytest.raises(FetchError, match="Binance has no spot 1h bars of TESTUSDT"):
        fetch_spot("2024-12-01", "2025-01-01", online)
    assert not (online / "crypto/binance/spot/1h/TESTUSDT.csv").exists()
    asked = dict(upstream.hits)
    with pytest.raises(FetchError, match="an earlier fetch found none"):
        fetch_spot("2024-12-05", "2024-12-20", online)
    assert upstream.hits == asked  # not asked again
    serve_archive(upstream, SPOT_2025, zipped("j.csv", kline_rows(JAN_2025_MS, 744, micro=False)))
    path = fetch_spot("2025-01-01", "2025-02-01", online)
    assert len(pd.read_csv(path)) == 744


def test_rate_limits_are_retried_as_retry_after_says(
    upstream: Upstream, online: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr("time.sleep", waits.append)
    upstream.serve(
        "/api/v3/klines",
        Reply(status=429, headers={"Retry-After": "7"}),
        Reply(status=418),  # Binance's ban answer, no header: exponential backoff
        Reply(body=b"[]"),
    )
    got = fetch_mod._get_json(f"{upstream.url}/api/v3/klines", {"symbol": "TESTUSDT"})
    assert got == []
    assert waits == [7.0, 2.0]
    assert upstream.hits["/api/v3/klines"] == 3


def test_a_refused_request_is_a_clear_error_not_retried(upstream: Upstream, online: Path) -> None:
    upstream.serve(
        "/api/v3/klines", Reply(status=400, body=b'{"code":-1121,"msg":"Invalid symbol."}')
    )
    with pytest.raises(FetchError) as info:
        fetch_mod._get_json(f"{upstream.url}/api/v3/klines", {"symbol": "NOPEUSDT"})
    message = str(info.value)
    assert "HTTP 400" in message
    assert "Invalid symbol." in message
    assert "symbol=NOPEUSDT" in message
    assert upstream.hits["/api/v3/klines"] == 1


def test_a_dripping_server_hits_the_total_deadline(upstream: Upstream, online: Path) -> None:
    """One byte every 0.05 s never trips the per-read time-out; the total deadline does."""
    upstream.serve("/slow.zip", Reply(body=b"x" * 400, drip=0.05))
    with pytest.raises(FetchError, match="longer than 1 s in all"):
        fetch_mod.download(f"{upstream.url}/slow.zip", online / "slow.zip", deadline=1.0)
    assert not (online / "slow.zip").exists()


def test_a_damaged_cached_archive_is_fetched_again_once(upstream: Upstream, online: Path) -> None:
    blob = zipped("t.csv", kline_rows(JAN_2025_MS, 24, micro=False))
    serve_archive(upstream, SPOT_2025, blob)
    fetch_spot("2025-01-01", "2025-01-02", online)
    cached = online / "_downloads" / "binance" / SPOT_2025
    assert cached.read_bytes() == blob
    cached.write_bytes(blob[:-10] + b"0123456789")  # damaged on disk
    (online / "crypto/binance/spot/1h/TESTUSDT.csv").unlink()
    with pytest.warns(DataQualityWarning, match="fails its checksum"):
        path = fetch_spot("2025-01-01", "2025-01-02", online)
    assert cached.read_bytes() == blob
    assert len(pd.read_csv(path)) == 24


def test_a_fred_series_is_fetched_from_fred_and_loads_into_a_panel(
    upstream: Upstream, online: Path
) -> None:
    """Online, DFF comes from FRED (it asked Yahoo before) and loads like the mirror's file."""
    body = "observation_date,DFF\n2025-01-24,4.33\n2025-01-25,4.33\n2025-01-26,4.33\n"
    body += "2025-01-27,4.32\n2025-01-28,4.31\n"
    upstream.serve("/graph/fredgraph.csv", Reply(body=body.encode()))
    ds = open_prices(["DFF"], "2025-01-24", "2025-01-28", freq="1d")
    assert ds["close"].values.ravel().tolist() == [4.33, 4.32, 4.31]  # the sessions only
    assert (online / "macro/fred/DFF.csv").is_file()
    assert upstream.hits["/graph/fredgraph.csv"] == 1


def test_an_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    """Every single-file writer (fetched CSVs, the download ledger, the summary's facts) goes
    through replace_atomically: a writer that fails half-way changes nothing."""
    from shocklab.data.atomic import replace_atomically

    target = tmp_path / "data" / "BTCUSDT.csv"
    replace_atomically(target, lambda tmp: tmp.write_text("time,close\n1,2\n"))

    def broken(tmp: Path) -> None:
        tmp.write_text("time,cl")  # half a file, then the disk fills
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left"):
        replace_atomically(target, broken)
    assert target.read_text() == "time,close\n1,2\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["BTCUSDT.csv"]

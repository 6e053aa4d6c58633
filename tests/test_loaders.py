"""Loaders and calendar alignment on the real mirror, checked against direct pandas reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from helpers import symlinked_root

from shocklab.data import (
    CoverageError,
    DataFileError,
    NonTradingDayError,
    UnknownSymbolError,
    hourly_panel,
    nyse_close_panel,
    open_funding,
    open_liquidations,
    open_open_interest,
    open_prices,
    returns,
    sample_at,
)
from shocklab.data.calendar import nyse_session
from shocklab.data.catalog import Catalog


def raw_hourly(mirror: Path, symbol: str) -> pd.Series:
    """Independent read of a mirror file's close column with plain pandas."""
    folder = mirror / "crypto/binance/spot/1h"
    path = next(p for p in (folder / f"{symbol}.csv.gz", folder / f"{symbol}.csv") if p.exists())
    frame = pd.read_csv(path)
    return frame.set_index(pd.to_datetime(frame["time"]).dt.tz_localize(None))["close"]


def test_btc_hourly_low_on_flagship_day() -> None:
    ds = open_prices("BTCUSDT", "2025-01-27", "2025-01-27", freq="1h")
    low = ds["low"].sel(asset="BTCUSDT").to_series()
    assert low.idxmin() == pd.Timestamp("2025-01-27T07:00")
    assert low.min() == pytest.approx(97_777.77)


def test_nvda_flagship_drop() -> None:
    ds = open_prices("NVDA", "2025-01-24", "2025-01-27", freq="1d")
    close = ds["close"].sel(asset="NVDA").to_series()
    assert close["2025-01-24"] == pytest.approx(142.59)
    assert close["2025-01-27"] == pytest.approx(118.50)
    simple = returns(ds, "simple").sel(asset="NVDA", time="2025-01-27").values.item()
    assert simple == pytest.approx(118.50 / 142.59 - 1)
    assert round(simple * 100, 1) == -16.9


def test_nyse_synchronous_monday_spans_friday_close(mirror: Path) -> None:
    panel = nyse_close_panel(["NVDA", "BTCUSDT"], "2025-01-21", "2025-01-31")
    monday = panel.sel(time="2025-01-27")
    assert pd.Timestamp(monday["interval_start"].values) == pd.Timestamp("2025-01-24T21:00")
    assert pd.Timestamp(monday["interval_end"].values) == pd.Timestamp("2025-01-27T21:00")
    assert monday["n_expected"].sel(asset="BTCUSDT").values.item() == 72  # Fri 21:00 -> Mon 21:00
    raw = raw_hourly(mirror, "BTCUSDT")
    # the bar that closes at 21:00 UTC opens at 20:00 UTC
    expected = np.log(raw["2025-01-27T20:00"] / raw["2025-01-24T20:00"])
    got = returns(panel).sel(asset="BTCUSDT", time="2025-01-27").values.item()
    assert got == pytest.approx(expected, rel=1e-12)
    nvda = returns(panel).sel(asset="NVDA", time="2025-01-27").values.item()
    assert nvda == pytest.approx(np.log(118.50 / 142.59))


@pytest.mark.parametrize(
    ("session", "close_utc"),
    [
        ("2024-08-05", "2024-08-05T20:00"),  # summer time: 16:00 EDT
        ("2024-11-29", "2024-11-29T18:00"),  # early close after Thanksgiving: 13:00 EST
        ("2025-01-27", "2025-01-27T21:00"),  # winter: 16:00 EST
    ],
)
def test_crypto_sampled_at_dst_and_early_closes(mirror: Path, session: str, close_utc: str) -> None:
    panel = nyse_close_panel(["ETHUSDT"], session, session)
    got = panel["close"].sel(asset="ETHUSDT", time=session).values.item()
    frame = pd.read_csv(mirror / "crypto/binance/spot/1h/ETHUSDT.csv.gz")
    raw = frame.set_index(pd.to_datetime(frame["time"]).dt.tz_localize(None))["close"]
    assert got == raw[pd.Timestamp(close_utc) - pd.Timedelta(hours=1)]


def test_holiday_is_not_an_expected_equity_bar() -> None:
    # 2025-01-09: NYSE closed (national day of mourning); 2025-01-20: MLK day
    ds = open_prices(["NVDA", "BTCUSDT"], "2025-01-08", "2025-01-21", freq="1d")
    expected = ds["expected"].sel(asset="NVDA").to_series()
    assert not expected["2025-01-09"]
    assert not expected["2025-01-20"]
    assert expected["2025-01-10"]
    assert ds["expected"].sel(asset="BTCUSDT").all()
    assert not ds["missing"].sel(asset="NVDA").any()  # holidays are not gaps


def test_weekend_or_holiday_event_date() -> None:
    with pytest.raises(NonTradingDayError, match=r"2025-01-26 is Sunday.*'next' \(2025-01-27\)"):
        nyse_session("2025-01-26")
    assert nyse_session("2025-01-26", "next") == pd.Timestamp("2025-01-27")
    assert nyse_session("2025-01-20", "previous") == pd.Timestamp("2025-01-17")
    with pytest.raises(CoverageError, match="no bars expected"):
        open_prices("NVDA", "2025-01-25", "2025-01-26", freq="1d")


def test_gap_is_flagged_not_filled(mirror: Path) -> None:
    # RENDER hourly has a hole 2024-09-07 01:00 .. 2024-12-31 (mirror README)
    ds = open_prices("RENDERUSDT", "2024-09-06", "2024-09-08", freq="1h")
    missing = ds["missing"].sel(asset="RENDERUSDT").to_series()
    assert not missing["2024-09-06"].any()
    assert missing["2024-09-07T02:00":].all()
    assert ds["close"].sel(asset="RENDERUSDT", time="2024-09-07T05:00").isnull()
    panel = nyse_close_panel(["RENDERUSDT"], "2024-09-05", "2024-09-10")
    r = returns(panel).sel(asset="RENDERUSDT").to_series()
    assert np.isfinite(r["2024-09-06"])
    assert r["2024-09-09":].isna().all()  # no return across the hole
    # independent count: 72 hourly bars close in (Fri 20:00, Mon 20:00] UTC; which are in the file?
    raw = raw_hourly(mirror, "RENDERUSDT")
    ends = raw.index + pd.Timedelta(hours=1)
    present = ((ends > "2024-09-06T20:00") & (ends <= "2024-09-09T20:00")).sum()
    n_missing = panel["n_missing"].sel(asset="RENDERUSDT", time="2024-09-09").values.item()
    assert n_missing == 72 - present
    assert n_missing > 60


def test_unknown_symbol_offline_names_fix_and_near_match() -> None:
    with pytest.raises(UnknownSymbolError, match=r"'BTCUSD'.*downloads are off.*BTCUSDT"):
        open_prices("BTCUSD", "2025-01-27", "2025-01-27")


def test_unknown_venue_names_the_valid_ones(mirror: Path) -> None:
    """A misspelt venue was a bare KeyError: 'usdm_mark'."""
    with pytest.raises(ValueError, match=r"unknown venue 'usdm_mark'") as caught:
        open_prices("BTCUSDT", "2025-01-27", "2025-01-27", venue="usdm_mark")  # type: ignore[arg-type]
    assert not isinstance(caught.value, KeyError)
    message = str(caught.value)
    assert all(repr(v) in message for v in ("spot", "usdm", "usdm-mark"))
    assert message.endswith("Did you mean 'usdm-mark'?")
    with pytest.raises(ValueError, match=r"unknown venue 'perp'; the valid venues are 'spot'"):
        Catalog(mirror).coverage(["BTCUSDT"], "hourly", pd.Timestamp("2025-01-27"), venue="perp")  # type: ignore[arg-type]
    from shocklab.data.fetch import fetch_binance_klines

    with pytest.raises(ValueError, match=r"unknown venue 'usdm_mark'"):  # before any request
        fetch_binance_klines(
            "BTCUSDT",
            interval="1h",
            market="usdm_mark",  # type: ignore[arg-type]
            start=pd.Timestamp("2025-01-01"),
            end=pd.Timestamp("2025-01-02"),
        )


def _root_with(mirror: Path, tmp_path: Path, relpath: str, content: bytes) -> Path:
    """A data root of symlinks to the mirror, with ``relpath`` replaced by ``content``."""
    root = symlinked_root(mirror, tmp_path, drop=(relpath,))
    (root / relpath).write_bytes(content)
    return root


def test_cut_file_fails_the_panel_naming_file_and_line(mirror: Path, tmp_path: Path) -> None:
    """The daily BTCUSDT file cut inside its last close (107146.5 -> 107): the panel used to
    hold 107.0 for 2025-06-30; now computing it raises, naming the file and the line."""
    rel = "crypto/binance/spot/1d/BTCUSDT.csv"
    text = (mirror / rel).read_bytes()
    assert text.endswith(b",107146.5,9754.12491\n")
    root = _root_with(mirror, tmp_path, rel, text[: text.rindex(b",107146.5") + 4])
    ds = open_prices(["ETHUSDT", "BTCUSDT"], "2025-06-01", "2025-06-30", freq="1d", data_dir=root)
    with pytest.raises(DataFileError, match=r"BTCUSDT\.csv: line 2,005 \(the last\) was cut"):
        ds["close"].compute()


def test_header_only_file_fails_the_panel(mirror: Path, tmp_path: Path) -> None:
    """A header-only file gave a silently all-NaN column; now an error naming the file."""
    rel = "equities/us/1d/NVDA.csv"
    header = (mirror / rel).read_bytes().split(b"\n", 1)[0] + b"\n"
    root = _root_with(mirror, tmp_path, rel, header)
    ds = open_prices(["NVDA", "AMD"], "2025-01-02", "2025-01-31", freq="1d", data_dir=root)
    with pytest.raises(
        DataFileError, match=r"NVDA\.csv: the file has a header .* but no data rows"
    ):
        ds["close"].compute()


def test_dates_outside_coverage() -> None:
    with pytest.raises(CoverageError, match=r"NVDA .*covers 2020-07-27"):
        open_prices("NVDA", "2010-01-04", "2010-02-01", freq="1d")
    with pytest.raises(ValueError, match="empty window"):
        open_prices("NVDA", "2025-02-01", "2025-01-01", freq="1d")


def test_coords_and_provenance() -> None:
    ds = open_prices(["NVDA", "AVGO", "FETUSDT"], "2025-01-21", "2025-01-28", freq="1d")
    assert ds["group"].values.tolist() == ["semis", "semis", "ai_tokens"]
    assert ds["asset_class"].values.tolist() == ["stock", "stock", "crypto"]
    assert all(len(h) == 64 for h in ds["sha256"].values)
    assert ds["source_file"].values.tolist()[0] == "equities/us/1d/NVDA.csv"
    assert '"freq": "1d"' in ds.attrs["request"]


class CountingScheduler:
    """A dask scheduler that counts how often anything is computed."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, dsk: Any, keys: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return dask.get(dsk, keys, **kwargs)


def test_open_and_align_are_lazy() -> None:
    counter = CountingScheduler()
    with dask.config.set(scheduler=counter):
        ds = open_prices(["BTCUSDT", "ETHUSDT", "NVDA"], "2024-01-01", "2025-01-31", freq="1d")
        panel = nyse_close_panel(["NVDA", "QQQ", "BTCUSDT", "SOLUSDT"], "2024-01-02", "2025-01-31")
        hourly = hourly_panel(["BTCUSDT", "QQQ"], "2025-01-20", "2025-01-31")
        r = returns(panel)
        liq = open_liquidations(["BTC", "ETH"], "2025-01-01", "2025-01-31")
        assert counter.calls == 0
        assert isinstance(ds["close"].data, dask.array.Array)
        assert isinstance(r.data, dask.array.Array)
        assert isinstance(hourly["close"].data, dask.array.Array)
        assert isinstance(liq["long_usd"].data, dask.array.Array)
        r.compute()
        assert counter.calls == 1


def test_one_task_per_file() -> None:
    ds = open_prices(["BTCUSDT", "ETHUSDT", "SOLUSDT"], "2024-01-01", "2024-12-31", freq="1h")
    assert ds["close"].data.numblocks == (1, 3)
    reads = [k for k in dict(ds["close"].data.__dask_graph__()) if str(k).startswith("read-")]
    assert len(reads) == 3


def test_same_file_on_two_grids_keeps_distinct_tasks() -> None:
    """A file read onto two different union grids must not share a dask key."""
    alone = open_prices(["BTCUSDT"], "2025-01-27", "2025-01-28", freq="1h")
    mixed = open_prices(["BTCUSDT", "QQQ"], "2025-01-27", "2025-01-28", freq="1h")  # :30 bars
    a, b = dask.compute(alone["close"], mixed["close"])
    assert a.sizes["time"] == 48
    assert b.sizes["time"] > 48
    np.testing.assert_array_equal(
        a.sel(asset="BTCUSDT").values, b.sel(asset="BTCUSDT").dropna("time").values
    )


def test_eager_equals_chunked() -> None:
    symbols = ["NVDA", "QQQ", "BTCUSDT", "ETHUSDT"]
    lazy = nyse_close_panel(symbols, "2024-06-03", "2024-12-31")
    with dask.config.set(scheduler="threads"):
        threaded = lazy.compute()
    # eager path: load the bars into memory first, then run the same alignment on numpy
    closes = pd.DatetimeIndex(lazy["interval_end"].values)
    eager_parts = [
        sample_at(
            open_prices(["NVDA", "QQQ"], "2024-05-31", "2025-01-01", freq="1d").load(),
            closes,
            labels=pd.DatetimeIndex(lazy["time"].values),
        ),
        sample_at(
            open_prices(["BTCUSDT", "ETHUSDT"], "2024-05-30", "2025-01-01", freq="1h").load(),
            closes,
            labels=pd.DatetimeIndex(lazy["time"].values),
        ),
    ]
    eager = xr.concat(eager_parts, dim="asset")
    np.testing.assert_array_equal(eager["close"].values, threaded["close"].values)
    np.testing.assert_array_equal(eager["n_missing"].values, threaded["n_missing"].values)


def test_interleaved_request_keeps_its_order() -> None:
    """Crypto and equities mixed (and repeated) come back in the order asked."""
    mixed = ["BTCUSDT", "NVDA", "ETHUSDT", "QQQ"]
    panel = nyse_close_panel(mixed, "2025-01-21", "2025-01-31").compute()
    assert panel["asset"].values.tolist() == mixed
    assert panel["group"].values.tolist()[:2] == ["majors", "semis"]
    for symbol in mixed:
        alone = nyse_close_panel([symbol], "2025-01-21", "2025-01-31").compute()
        np.testing.assert_array_equal(
            panel["close"].sel(asset=symbol).values, alone["close"].sel(asset=symbol).values
        )
    twice = nyse_close_panel(["NVDA", "BTCUSDT", "NVDA"], "2025-01-21", "2025-01-31")
    assert twice["asset"].values.tolist() == ["NVDA", "BTCUSDT", "NVDA"]


def test_sample_at_accepts_any_time_chunks() -> None:
    """Bars chunked along time (e.g. a user's rechunk or a zarr store) sample the same."""
    bars = open_prices(["BTCUSDT", "SOLUSDT"], "2025-01-20", "2025-02-01", freq="1h")
    instants = pd.DatetimeIndex(["2025-01-24T21:00", "2025-01-27T21:00", "2025-01-28T21:00"])
    eager = sample_at(bars.load(), instants)
    chunked = sample_at(bars.chunk({"time": 50, "asset": 1}), instants)
    assert isinstance(chunked["close"].data, dask.array.Array)
    xr.testing.assert_identical(eager, chunked.compute())
    raw = bars["close"].sel(time=instants - pd.Timedelta(hours=1)).values
    np.testing.assert_array_equal(eager["close"].values, raw)


def test_hourly_panel_session_mask_and_staleness() -> None:
    h = hourly_panel(["BTCUSDT", "QQQ"], "2025-01-27", "2025-01-27").compute()
    mask = h["in_session"].sel(asset="QQQ").to_series()
    # session 14:30-21:00 UTC: hours whose span overlaps it are 14:00 .. 20:00
    assert mask[mask].index.hour.tolist() == list(range(14, 21))
    assert h["in_session"].sel(asset="BTCUSDT").all()
    qqq = h["close"].sel(asset="QQQ").to_series()
    assert np.isnan(qqq["2025-01-27T21:00"])  # after the close nothing is carried forward
    assert qqq["2025-01-27T20:00"] == pytest.approx(514.049988, rel=1e-8)


def test_funding_and_derivatives() -> None:
    funding = open_funding(["BTCUSDT", "SOLUSDT"], "2025-01-27", "2025-01-27")
    assert funding.sizes["time"] >= 3
    assert funding["funding_rate"].notnull().all()
    liq = open_liquidations(["BTC"], "2025-01-27", "2025-01-27")
    assert liq["long_usd"].sel(asset="BTC").values.item() == pytest.approx(83.4e6, rel=1e-3)
    assert liq["short_usd"].sel(asset="BTC").values.item() == pytest.approx(32.1e6, rel=1e-3)
    assert liq.attrs["completeness"] == "lower_bound"
    early = open_liquidations(["BTC"], "2020-12-20", "2020-12-24")
    assert early["long_usd"].sel(time="2020-12-20").isnull().all()  # zeros = no data
    oi = open_open_interest(["BTC", "ETH"], "2025-01-27", "2025-01-27")
    assert (oi["oi_usd"] > 1e9).all()
    assert open_liquidations(None, "2025-01-27", "2025-01-27")["asset"].values.tolist() == [
        "ADA",
        "BNB",
        "BTC",
        "DOGE",
        "ETH",
        "SOL",
        "XRP",
    ]


def test_liquidation_symbol_mismatch_fails_at_open() -> None:
    with pytest.raises(UnknownSymbolError, match=r"no rows for \['BTCUSDT'\].*base assets"):
        open_liquidations(["BTCUSDT"], "2025-01-27", "2025-01-27")


def test_same_panel_on_a_distributed_cluster() -> None:
    from dask.distributed import Client, LocalCluster

    panel = nyse_close_panel(["NVDA", "BTCUSDT", "ETHUSDT"], "2025-01-02", "2025-01-31")
    local = panel.compute(scheduler="threads")
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        remote = client.compute(panel).result()
    xr.testing.assert_identical(remote, local)


def test_fred_series_load_into_panels_on_the_session_calendar(mirror: Path) -> None:
    """DFF (macro/fred/DFF.csv, one value per calendar day) is a panel column like the
    prices: its value on each NYSE session as ``close``; weekend rows are not bars of that
    calendar and raise no stray-row warning. Checked against the raw FRED file."""
    from shocklab.data import nyse_close_panel

    ds = nyse_close_panel(["DFF", "QQQ"], "2024-12-20", "2025-01-31").compute()
    raw = pd.read_csv(mirror / "macro/fred/DFF.csv", index_col="observation_date")
    raw.index = pd.to_datetime(raw.index)
    dff = ds["close"].sel(asset="DFF").to_series()
    assert dff.notna().all()
    np.testing.assert_array_equal(dff.to_numpy(), raw.loc[dff.index, "DFF"].to_numpy())
    assert str(ds["source_file"].sel(asset="DFF").values) == "macro/fred/DFF.csv"
    assert pd.Timestamp("2024-12-25") not in dff.index  # a holiday: no session, no bar
    cov = Catalog(mirror).coverage(["DFF"], "nyse", pd.Timestamp("2025-01-27"))
    assert cov.covered == ["DFF"]
    assert cov.table.loc["DFF", "span_from"] == "manifest"

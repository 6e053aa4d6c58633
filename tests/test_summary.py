"""The executive summary's facts against the raw files (shocklab.studies.summary)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
from helpers import symlinked_root

from shocklab.data import open_prices
from shocklab.studies import event as event_study
from shocklab.studies import summary
from shocklab.studies.run import setup


def _daily(ctx):  # type: ignore[no-untyped-def]
    selection = event_study.select_assets(ctx, "daily")
    return event_study.daily_event_study(ctx, event_study.daily_prices(ctx, selection))


@pytest.fixture
def flagship(mirror: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    ctx = setup("deepseek-2025-01-27", tmp_path / "build" / "runs" / "f", "", "next", mirror)
    return ctx, _daily(ctx)


def test_raw_moves_match_the_five_minute_file(flagship, mirror: Path) -> None:  # type: ignore[no-untyped-def]
    ctx, daily = flagship
    moves = summary.raw_moves(ctx, daily)
    raw = pd.read_csv(mirror / "crypto/binance/spot/5m/BTCUSDT.csv", parse_dates=["time"])
    raw["time"] = raw["time"].dt.tz_localize(None)
    day = raw[(raw["time"] >= "2025-01-27") & (raw["time"] < "2025-01-28")]
    low = day.loc[day["low"].idxmin()]
    before = raw[raw["time"] < "2025-01-27"].iloc[-1]  # the bar ending at the moment
    btc = moves.loc["BTCUSDT"]
    assert btc["bars"] == "5m"
    assert btc["trough"] == pytest.approx(low["low"]) == pytest.approx(97777.77)
    assert btc["trough at (UTC)"] == f"{low['time']:%Y-%m-%d %H:%M}" == "2025-01-27 07:25"
    assert btc["last price before"] == pytest.approx(before["close"])
    # NVDA: daily bars only; day-0 return is the session close to close of the raw file
    nvda_raw = pd.read_csv(mirror / "equities/us/1d/NVDA.csv", index_col=0)
    closes = nvda_raw["close"].astype(float)
    dates = [str(d)[:10] for d in closes.index]
    at = dates.index("2025-01-27")
    assert moves.loc["NVDA", "day-0 return %"] == pytest.approx(
        100 * (closes.iloc[at] / closes.iloc[at - 1] - 1), abs=1e-9
    )
    assert round(moves.loc["NVDA", "day-0 return %"], 1) == -16.9
    assert moves.loc["NVDA", "bars"] == "1d"
    assert moves.loc["NVDA", "trough at (UTC)"] == "2025-01-27 session"


def test_hourly_bars_when_the_root_has_no_five_minute_files(mirror: Path, tmp_path: Path) -> None:
    root = symlinked_root(mirror, tmp_path, drop=("crypto/binance/spot/5m",))
    ctx = setup("deepseek-2025-01-27", tmp_path / "build" / "runs" / "x", "", "next", root)
    moves = summary.raw_moves(ctx, _daily(ctx))
    btc = moves.loc["BTCUSDT"]
    assert btc["bars"] == "1h"
    hourly = open_prices(["BTCUSDT"], "2025-01-27", "2025-01-27", freq="1h", data_dir=root)
    low = hourly["low"].sel(asset="BTCUSDT").to_series()
    assert btc["trough"] == pytest.approx(low.min())
    assert btc["trough at (UTC)"] == f"{low.idxmin():%Y-%m-%d %H:%M}" == "2025-01-27 07:00"


def test_weekend_troughs_run_through_day_zero_session(mirror: Path, tmp_path: Path) -> None:
    ctx = setup("2025-01-26", tmp_path / "build" / "runs" / "x", "", "next", mirror)
    assert summary.trough_end(ctx) == pd.Timestamp("2025-01-27 21:00")  # Monday's NYSE close
    ctx = setup("deepseek-2025-01-27", tmp_path / "build" / "runs" / "y", "", "next", mirror)
    assert summary.trough_end(ctx) == pd.Timestamp("2025-01-28 00:00")  # 24 h after


def test_liquidation_totals_match_the_raw_file(flagship, mirror: Path) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = flagship
    table, facts = summary.liquidation_totals(ctx, "results/liquidation_totals_usd.csv")
    with gzip.open(mirror / "derivatives/coinglass_agg_daily/liquidation_agg_1d.csv.gz") as fh:
        raw = pd.read_csv(fh)
    day = raw[raw["ts_utc"].astype(str).str.startswith("2025-01-27")].set_index("symbol")
    pd.testing.assert_series_equal(
        table["long, M USD"].sort_index(),
        (day["liq_long_usd"] / 1e6).sort_index(),
        check_names=False,
        check_index_type=False,
    )
    assert facts[0]["value"].startswith("307 M USD: 217 M long, 90 M short (71% longs); 7 of 7")
    assert facts[0]["source"] == "results/liquidation_totals_usd.csv"
    assert facts[1]["value"].startswith("n/a at daily resolution")


def test_after_close_moment_counts_two_utc_days(mirror: Path, tmp_path: Path) -> None:
    ctx = setup("2024-08-02T21:00Z", tmp_path / "build" / "runs" / "z", "", "next", mirror)
    table, facts = summary.liquidation_totals(ctx)
    assert "2024-08-02 and 2024-08-03 (UTC days)" in facts[0]["label"]
    with gzip.open(mirror / "derivatives/coinglass_agg_daily/liquidation_agg_1d.csv.gz") as fh:
        raw = pd.read_csv(fh)
    days = raw[raw["ts_utc"].astype(str).str[:10].isin(["2024-08-02", "2024-08-03"])]
    assert table["total, M USD"].sum() == pytest.approx(
        (days["liq_long_usd"].sum() + days["liq_short_usd"].sum()) / 1e6
    )

"""The coupling study on the real mirror: BTC-QQQ correlation by year and the flagship event."""

from __future__ import annotations

from pathlib import Path

import exchange_calendars as xcals
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from shocklab.config import build_root
from shocklab.data import CoverageError, nyse_close_panel, returns
from shocklab.models import correlation as co
from shocklab.studies import regimes as study
from shocklab.studies.run import RunContext, setup


def _ctx(event: str, mirror: Path) -> RunContext:
    return setup(event, build_root() / "runs" / "test", data_dir=mirror)


def _independent_btc_nyse_returns(mirror: Path) -> pd.DataFrame:
    """BTC at each NYSE close straight from the raw files (no shocklab code): the close of the
    hourly bar that ends at the session close, and QQQ/SPY daily closes; log returns."""
    btc = pd.read_csv(mirror / "crypto/binance/spot/1h/BTCUSDT.csv.gz", parse_dates=["time"])
    btc = btc.set_index("time")["close"]
    cal = xcals.get_calendar("XNYS")
    sessions = cal.schedule.loc["2019-12-20":"2024-12-31"]
    closes = pd.DatetimeIndex(sessions["close"])  # UTC session closes (early closes included)
    bar_open = closes - pd.Timedelta(hours=1)
    frame = pd.DataFrame(
        {"BTCUSDT": btc.reindex(bar_open).to_numpy()}, index=sessions.index.tz_localize(None)
    )
    for symbol in ("QQQ", "SPY"):
        eq = pd.read_csv(mirror / f"equities/us/1d/{symbol}.csv", parse_dates=["date"])
        frame[symbol] = eq.set_index("date")["close"].reindex(frame.index)
    return pd.DataFrame(np.log(frame / frame.shift(1))).loc["2020-01-01":]


@pytest.fixture(scope="module")
def daily(mirror: Path) -> xr.DataArray:
    panel = nyse_close_panel(
        ["BTCUSDT", "QQQ", "SPY"], "2020-01-01", "2024-12-31", data_dir=mirror, fetch=False
    )
    return returns(panel.compute())


def test_btc_qqq_correlation_by_year_2020_2024(daily: xr.DataArray, mirror: Path) -> None:
    x, y = co.pair_returns(daily, ["BTCUSDT"], ["QQQ", "SPY"])
    ours = study.correlation_by_year(x, y)
    raw = _independent_btc_nyse_returns(mirror)
    for year in range(2020, 2025):
        sub = raw.loc[str(year)].dropna()
        assert ours.loc[year, "BTCUSDT~QQQ"] == pytest.approx(
            sub["BTCUSDT"].corr(sub["QQQ"]), abs=1e-3
        )
    # coupling peaked in the 2022 bear market and eased in 2023 (0.60 vs 0.21 and 0.22)
    assert ours.loc[2022, "BTCUSDT~QQQ"] > ours.loc[2021, "BTCUSDT~QQQ"] + 0.2
    assert ours.loc[2022, "BTCUSDT~QQQ"] > ours.loc[2023, "BTCUSDT~QQQ"] + 0.2
    # IMF (Adrian, Iyer and Qureshi, Jan 2022): BTC-S&P 500 daily correlation 0.36 in 2020-21;
    # our returns are NYSE-close-synchronous and SPY stands in for the index
    both = raw.loc["2020":"2021"].dropna()
    assert both["BTCUSDT"].corr(both["SPY"]) == pytest.approx(0.36, abs=0.08)


def test_flagship_contagion_table_matches_pandas(mirror: Path) -> None:
    ctx = _ctx("deepseek-2025-01-27", mirror)
    rets = study.coupling_returns(ctx)
    x, y = study.coupling_pairs(rets)
    table = study.contagion_table(ctx, x, y)
    frame = pd.DataFrame(
        {"b": x.sel(pair="BTCUSDT~QQQ").to_series(), "q": y.sel(pair="BTCUSDT~QQQ").to_series()}
    )
    at = frame.index.searchsorted(pd.Timestamp("2025-01-27"))
    event = frame.iloc[at : at + 21].dropna()
    base = frame.iloc[at - 260 : at - 10].dropna()
    row = table.loc["BTCUSDT~QQQ"]
    assert row["rho_event"] == pytest.approx(event["b"].corr(event["q"]), abs=1e-4)
    assert row["rho_base"] == pytest.approx(base["b"].corr(base["q"]), abs=1e-4)
    assert row["delta"] == pytest.approx(event["q"].var() / base["q"].var() - 1, abs=1e-4)
    assert table.attrs["event"].startswith("2025-01-27")
    # NVDA's variance jumped in the event window: the adjustment lowers its correlations
    nv = table.loc["BTCUSDT~NVDA"]
    assert nv["delta"] > 0.5
    assert nv["rho_adj"] < nv["rho_event"]


def test_flagship_markov_regimes_and_restarts(mirror: Path) -> None:
    ctx = _ctx("deepseek-2025-01-27", mirror)
    rets = study.coupling_returns(ctx)
    fit = study.markov_coupling(rets, restarts=4)
    assert fit.llf >= fit.restarts["llf"].max() - 1e-9
    assert fit.params.loc["high", "sigma2"] > fit.params.loc["low", "sigma2"]
    around = study.regime_around_event(ctx, fit)
    np.testing.assert_allclose(around.iloc[:, :3].sum(axis=0), 1.0)
    assert around.loc["low", "expected duration (sessions)"] > 1
    assert not any(c.endswith("(real time)") for c in around.columns)

    # real time: the day-0 forecast comes from a fit on data up to day -1 only, so data after
    # day -1 cannot move it: the same forecast from a sample cut 5 sessions after day 0
    # (whose full-sample fit, and so the warm start, differ)
    live = study.regime_around_event(ctx, fit, rets)
    col = "forecast from 2025-01-24 (real time)"
    np.testing.assert_allclose(live[col].sum(), 1.0)
    cut = rets.sel(time=slice(None, "2025-02-03"))
    short_fit = study.markov_coupling(cut, restarts=4)
    again = study.regime_around_event(ctx, short_fit, cut)
    np.testing.assert_allclose(again[col], live[col], atol=2e-3)
    full_col = "forecast from 2025-01-24 (full-sample fit)"
    assert abs(again[full_col]["high"] - live[full_col]["high"]) > 1e-3  # the full fit moved
    # the NYSE calendar ends before 2031: the daily studies have no day 0
    with pytest.raises(CoverageError, match="outside the NYSE calendar"):
        study.coupling_returns(_ctx("2031-01-06", mirror))
    # equities end 2025-02-28 in the mirror: the regime pair is not covered on 2025-04-07
    with pytest.raises(CoverageError, match=r"QQQ: data end 2025-02-28, before the event"):
        study.coupling_returns(_ctx("2025-04-07", mirror))

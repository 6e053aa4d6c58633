"""The flagship event (DeepSeek R1, 2025-01-27) on the real mirror data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import xarray as xr

from shocklab.data import hourly_panel, nyse_close_panel, returns
from shocklab.models import event_study
from shocklab.universe import load_universe


@pytest.fixture(scope="module")
def daily_returns(mirror: Path) -> xr.DataArray:
    # module scope: the autouse env fixture is not active yet, so name the mirror and forbid fetch
    u = load_universe()
    symbols = [
        *u.members("semis"),
        *u.members("ai_power"),
        "QQQ",
        "SPY",
        *u.members("majors"),
        *u.members("ai_tokens"),
        "TRUMPUSDT",
    ]
    panel = nyse_close_panel(symbols, "2023-10-02", "2025-02-28", data_dir=mirror, fetch=False)
    return returns(panel).compute()


def test_ai_hardware_and_power_fall_hard_against_qqq(daily_returns: xr.DataArray) -> None:
    res = event_study(daily_returns, {"deepseek": "2025-01-27"}, market="QQQ", window=(-5, 5))
    ds = res.dataset.sel(event="deepseek", horizon="AR(+0)")
    for asset in ("NVDA", "AVGO", "MRVL", "CEG", "VST"):
        assert ds["car"].sel(asset=asset) < -0.10, asset
        assert ds["asset_p"].sel(asset=asset) < 0.001, asset
    # NVDA: raw -16.9 % close to close (log -0.185); beta > 1 to QQQ leaves AR about -12 %
    assert float(ds["car"].sel(asset="NVDA")) == pytest.approx(-0.124, abs=0.01)
    # independently: statsmodels OLS on the same 250-bar estimation window (gap 10, w1 = -5)
    nvda = daily_returns.sel(asset="NVDA").to_series()
    qqq = daily_returns.sel(asset="QQQ").to_series()
    at = nvda.index.get_loc(pd.Timestamp("2025-01-27"))
    est = slice(at - 5 - 10 - 250, at - 5 - 10)
    fit = sm.OLS(nvda.iloc[est], sm.add_constant(qqq.iloc[est]), missing="drop").fit()
    expected = nvda.iloc[at] - fit.params.iloc[0] - fit.params.iloc[1] * qqq.iloc[at]
    assert float(ds["car"].sel(asset="NVDA")) == pytest.approx(expected, rel=1e-9)
    semis = res.dataset.sel(event="deepseek", group="semis", horizon="CAR(-1,+1)")
    assert semis["caar"] < -0.05
    assert semis["test_p_value"].sel(test="kp_bmp") < 0.05
    # the KP adjustment shrinks BMP because semis' residuals are positively correlated
    assert semis["r_bar"] > 0.2
    assert abs(semis["test_statistic"].sel(test="kp_bmp")) < abs(
        semis["test_statistic"].sel(test="bmp")
    )


def test_ai_tokens_caar_negative_and_short_histories_flagged(daily_returns: xr.DataArray) -> None:
    res = event_study(daily_returns, {"deepseek": "2025-01-27"}, market="QQQ", window=(-5, 5))
    ai = res.dataset.sel(event="deepseek", group="ai_tokens")
    assert ai["caar"].sel(horizon="CAR(+0,+5)") < -0.10
    assert ai["caar"].sel(horizon="CAR(-1,+1)") < 0
    status = res.dataset["status"].sel(event="deepseek")
    # TRUMP listed 2025-01-17: no estimation window at all
    assert "estimation window too short: 0 of 250" in status.sel(asset="TRUMPUSDT").item()
    assert np.isnan(res.dataset["car"].sel(event="deepseek", asset="TRUMPUSDT")).all()
    assert status.sel(asset="QQQ").item().startswith("asset is its own market")


def test_non_trading_event_date_on_nyse_calendar(daily_returns: xr.DataArray) -> None:
    with pytest.raises(ValueError, match=r"Sunday.*next.*2025-01-27.*previous.*2025-01-24"):
        event_study(daily_returns, "2025-01-26", market="QQQ")
    res = event_study(daily_returns, "2025-01-26", market="QQQ", non_trading="next")
    assert str(res.dataset["event_date"].values[0])[:10] == "2025-01-27"


def test_hourly_study_shows_btc_drop_and_rebound() -> None:
    r = returns(hourly_panel(["BTCUSDT", "ETHUSDT", "SOLUSDT"], "2024-12-20", "2025-01-29"))
    res = event_study(
        r,
        {"deepseek-hourly": "2025-01-27T00:00Z"},
        model="constant_mean",
        estimation=500,
        gap=24,
        window=(-6, 23),
    )
    btc = res.dataset.sel(event="deepseek-hourly", asset="BTCUSDT")
    ar = btc["abnormal_return"]
    drop = float(ar.sel(rel=slice(0, 6)).sum())  # 00:00 -> 07:00 UTC
    assert drop < -0.025
    path = btc["car_path"]
    trough = int(path.sel(rel=slice(0, 12)).idxmin())
    assert 4 <= trough <= 11
    assert float(path.sel(rel=23)) > float(path.min()) + 0.02  # the rebound by the UTC close


def test_crypto_is_never_regressed_on_an_index_containing_itself(mirror: Path) -> None:
    """2025-04-07 (a common crypto sell-off): each major is measured against the mean of the
    *other* majors. Market-adjusted ARs equal r - mean(others) computed by hand; the market
    model's AR equals a statsmodels OLS on the leave-one-out index; ``market_return`` holds
    the benchmark's return. With the self-inclusive index, ETH's AR would shrink by a sixth of
    its own return."""
    majors = list(load_universe().members("majors"))
    panel = nyse_close_panel(majors, "2024-01-02", "2025-04-30", data_dir=mirror)
    r = returns(panel.compute(), "log")
    day = pd.Timestamp("2025-04-07")
    res = event_study(r, {"e": "2025-04-07"}, model="market_adjusted", estimation=120, gap=5)
    ds = res.dataset.isel(event=0)
    frame = r.to_pandas()
    for asset in majors:
        others = frame.drop(columns=asset).loc[day].mean()
        assert str(ds["market"].sel(asset=asset).values) == "majors (ex-self)"
        ar0 = float(ds["abnormal_return"].sel(asset=asset, rel=0))
        assert ar0 == pytest.approx(frame.loc[day, asset] - others, abs=1e-12)
        assert float(ds["market_return"].sel(asset=asset, rel=0)) == pytest.approx(others)
    eth, whole = frame.loc[day, "ETHUSDT"], frame.loc[day].mean()
    assert eth < -0.1  # a large common loss ...
    assert float(ds["abnormal_return"].sel(asset="ETHUSDT", rel=0)) < eth - whole  # ... kept

    mm = event_study(r, {"e": "2025-04-07"}, model="market", estimation=120, gap=5)
    est = mm.dataset.isel(event=0)
    loo = frame.drop(columns="ETHUSDT").mean(axis=1)
    at = frame.index.get_loc(day)
    window = slice(at - 5 - 5 - 120, at - 5 - 5)  # estimation window: ends gap bars before w1
    y, x = frame["ETHUSDT"].iloc[window], loo.iloc[window]
    fit = sm.OLS(y, sm.add_constant(x), missing="drop").fit()
    want = frame.loc[day, "ETHUSDT"] - fit.params.iloc[0] - fit.params.iloc[1] * loo.loc[day]
    got = float(est["abnormal_return"].sel(asset="ETHUSDT", rel=0))
    assert got == pytest.approx(want, abs=1e-10)

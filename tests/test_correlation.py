"""Rolling/EWMA/realized correlations, Forbes-Rigobon and co-exceedance against independent code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from shocklab.models import correlation as co


def _panel(n: int = 400, seed: int = 0, freq: str = "D") -> xr.DataArray:
    rng = np.random.default_rng(seed)
    common = rng.standard_normal(n)
    data = np.column_stack(
        [
            0.6 * common + rng.standard_normal(n),
            0.3 * common + rng.standard_normal(n),
            common + 0.5 * rng.standard_normal(n),
            rng.standard_normal(n),
        ]
    )
    data[[5, 50, 51, n - 20], 0] = np.nan
    data[[120, n - 5], 2] = np.nan
    time = pd.date_range("2021-01-01", periods=n, freq=freq)
    return xr.DataArray(
        data * 0.01,
        dims=("time", "asset"),
        coords={"time": time, "asset": ["BTCUSDT", "ETHUSDT", "QQQ", "NVDA"]},
    )


def test_pairs_cover_every_combination_and_groups() -> None:
    r = _panel()
    x, y = co.pair_returns(r, ["BTCUSDT", "majors"], ["QQQ", "NVDA"])
    assert list(x["pair"].values) == ["BTCUSDT~QQQ", "BTCUSDT~NVDA", "majors~QQQ", "majors~NVDA"]
    # majors present in the panel: BTC and ETH -> NaN-skipping equal-weight mean
    expected = r.sel(asset=["BTCUSDT", "ETHUSDT"]).mean("asset", skipna=True)
    np.testing.assert_allclose(x.sel(pair="majors~QQQ").values, expected.values)
    np.testing.assert_array_equal(y.sel(pair="majors~NVDA").values, r.sel(asset="NVDA").values)
    with pytest.raises(ValueError, match=r"not in research/universe\.yaml"):
        co.pair_returns(r, ["NOPE"], ["QQQ"])


def test_rolling_matches_pandas_pairwise_rolling() -> None:
    r = _panel()
    x, y = co.pair_returns(r, ["BTCUSDT", "ETHUSDT"], ["QQQ", "NVDA"])
    out = co.rolling_correlation(x, y, window=60, min_periods=50)
    for pair in out["pair"].values:
        a = pd.Series(x.sel(pair=pair).values)
        b = pd.Series(y.sel(pair=pair).values)
        joint = a.notna() & b.notna()
        a, b = a.where(joint), b.where(joint)
        want = a.rolling(60, min_periods=50).corr(b)
        got = out["corr"].sel(pair=pair).values
        np.testing.assert_allclose(got, want.to_numpy(), rtol=1e-9, atol=1e-12, equal_nan=True)
        beta = a.rolling(60, min_periods=50).cov(b) / b.rolling(60, min_periods=50).var()
        np.testing.assert_allclose(
            out["beta"].sel(pair=pair).values, beta.to_numpy(), rtol=1e-8, equal_nan=True
        )
    # bands contain the estimate and shrink with n
    ok = np.isfinite(out["corr"].values)
    assert (out["lo"].values[ok] <= out["corr"].values[ok]).all()
    assert (out["hi"].values[ok] >= out["corr"].values[ok]).all()


def test_fisher_band_by_hand() -> None:
    lo, hi = co.fisher_band(np.array(0.5), 103, level=0.95)
    z = np.arctanh(0.5)
    assert lo == pytest.approx(np.tanh(z - 1.959963984540054 / 10))
    assert hi == pytest.approx(np.tanh(z + 1.959963984540054 / 10))


def test_ewma_matches_hand_recursion() -> None:
    r = _panel(n=150)
    x, y = co.pair_returns(r, ["BTCUSDT"], ["QQQ"])
    lam = 0.94
    out = co.ewma_correlation(x, y, lam=lam, min_periods=20)
    a, b = x.values[:, 0], y.values[:, 0]
    sxy = sxx = syy = w = 0.0
    want, count = [], 0
    for t in range(len(a)):
        ok = np.isfinite(a[t]) and np.isfinite(b[t])
        at, bt = (a[t], b[t]) if ok else (0.0, 0.0)
        sxy = lam * sxy + (1 - lam) * at * bt
        sxx = lam * sxx + (1 - lam) * at * at
        syy = lam * syy + (1 - lam) * bt * bt
        w = lam * w + (1 - lam) * ok
        count += ok
        want.append(sxy / np.sqrt(sxx * syy) if count >= 20 else np.nan)
    np.testing.assert_allclose(out["corr"].values[:, 0], want, rtol=1e-10, equal_nan=True)
    assert float(out["n"].values[-1, 0]) == pytest.approx((1 + lam) / (1 - lam))
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        co.ewma_correlation(x, y, lam=1.0)


def test_realized_correlation_uses_only_overlapping_bars() -> None:
    rng = np.random.default_rng(3)
    time = pd.date_range("2024-03-04", periods=24 * 5, freq="h")
    a = rng.standard_normal(len(time))
    b = 0.5 * a + rng.standard_normal(len(time))
    hours = time.hour
    b[(hours < 15) | (hours > 20)] = np.nan  # equity closed outside 15-20 UTC
    panel = xr.DataArray(
        np.column_stack([a, b]),
        dims=("time", "asset"),
        coords={"time": time, "asset": ["BTCUSDT", "QQQ"]},
    )
    x, y = co.pair_returns(panel, ["BTCUSDT"], ["QQQ"])
    out = co.realized_correlation(x, y, min_bars=4)
    assert len(out["time"]) == 5
    for d, day in enumerate(pd.DatetimeIndex(out["time"].values)):
        sel = (time.floor("D") == day) & np.isfinite(b)
        want = (a[sel] * b[sel]).sum() / np.sqrt((a[sel] ** 2).sum() * (b[sel] ** 2).sum())
        assert out["corr"].values[d, 0] == pytest.approx(want)
        assert out["n"].values[d, 0] == 6
    pooled = co.realized_correlation(x, y, days=5, min_bars=4)
    sel = np.isfinite(b)
    want = (a[sel] * b[sel]).sum() / np.sqrt((a[sel] ** 2).sum() * (b[sel] ** 2).sum())
    assert pooled["corr"].values[-1, 0] == pytest.approx(want)


def test_forbes_rigobon_formula_by_hand() -> None:
    assert co.forbes_rigobon_adjust(0.6, 3.0) == pytest.approx(0.6 / np.sqrt(1 + 3 * 0.64))
    time = pd.date_range("2020-01-01", periods=300, freq="D")
    rng = np.random.default_rng(9)
    src = rng.standard_normal(300)
    src[250:] *= 3
    aff = 0.4 * src + rng.standard_normal(300)
    panel = xr.DataArray(
        np.column_stack([aff, src]),
        dims=("time", "asset"),
        coords={"time": time, "asset": ["A", "S"]},
    )
    x, y = co.pair_returns(panel, ["A"], ["S"])
    table = co.forbes_rigobon(x, y, base=slice(time[0], time[249]), event=slice(time[250], None))
    row = table.loc["A~S"]
    rb = np.corrcoef(aff[:250], src[:250])[0, 1]
    re = np.corrcoef(aff[250:], src[250:])[0, 1]
    delta = src[250:].var(ddof=1) / src[:250].var(ddof=1) - 1
    adj = re / np.sqrt(1 + delta * (1 - re**2))
    assert row["rho_base"] == pytest.approx(rb)
    assert row["rho_event"] == pytest.approx(re)
    assert row["delta"] == pytest.approx(delta)
    assert row["rho_adj"] == pytest.approx(adj)
    z = (np.arctanh(adj) - np.arctanh(rb)) / np.sqrt(1 / 47 + 1 / 247)
    assert row["z_adj"] == pytest.approx(z)
    assert row["p_adj"] == pytest.approx(stats.norm.sf(z))


def test_forbes_rigobon_pure_variance_shift_is_not_contagion() -> None:
    """Constant beta, source variance x9 in the event window: the raw correlation rises
    mechanically and is flagged; the adjusted change is insignificant at about the nominal rate."""
    rng = np.random.default_rng(2024)
    reps, nb, ne = 400, 250, 40
    raw_rej = adj_rej = 0
    for _ in range(reps):
        src = rng.standard_normal(nb + ne)
        src[nb:] *= 3
        aff = 0.3 * src + rng.standard_normal(nb + ne)
        panel = xr.DataArray(
            np.column_stack([aff, src]),
            dims=("time", "asset"),
            coords={"time": np.arange(nb + ne), "asset": ["A", "S"]},
        )
        x, y = co.pair_returns(panel, ["A"], ["S"])
        row = co.forbes_rigobon(x, y, base=slice(0, nb - 1), event=slice(nb, None)).iloc[0]
        raw_rej += row["p_raw"] < 0.05
        adj_rej += row["p_adj"] < 0.05
    assert raw_rej / reps > 0.5  # mechanical rise detected
    assert adj_rej / reps < 0.09  # adjusted: near the 5 % size


def test_tail_coexceedance_counts_by_hand() -> None:
    rng = np.random.default_rng(5)
    idx = pd.date_range("2020-01-01", periods=1000, freq="D")
    y = pd.Series(rng.standard_normal(1000), idx)
    x = pd.Series(0.7 * y.to_numpy() + rng.standard_normal(1000), idx)
    regimes = pd.Series(np.where(np.arange(1000) < 500, "calm", "coupled"), idx)
    table = co.tail_coexceedance(x, y, quantiles=[0.05], regimes=regimes)
    joint = ((x <= x.quantile(0.05)) & (y <= y.quantile(0.05))).to_numpy()
    assert table.loc[(0.05, "all"), "joint"] == joint.sum()
    assert table.loc[(0.05, "calm"), "joint"] == joint[:500].sum()
    assert table.loc[(0.05, "all"), "expected_indep"] == pytest.approx(1000 * 0.0025)
    assert table.loc[(0.05, "all"), "ratio"] > 3  # correlated tails
    with pytest.raises(ValueError, match="at least 20"):
        co.tail_coexceedance(x.iloc[:10], y.iloc[:10])


# --- nothing past the data: paths end at a pair's last joint bar, long gaps are not bridged ---


def _ragged(n: int = 300, seed: int = 11) -> xr.DataArray:
    """BTC throughout; QQQ ends at bar 199; NVDA starts at bar 10, misses bar 60, bars
    150-152 (short gaps) and bars 100-114 (a 15-bar gap)."""
    rng = np.random.default_rng(seed)
    common = rng.standard_normal(n)
    data = np.column_stack(
        [
            common + rng.standard_normal(n),
            0.8 * common + rng.standard_normal(n),
            0.5 * common + rng.standard_normal(n),
        ]
    )
    data[200:, 1] = np.nan
    data[:10, 2] = np.nan
    data[[60, 150, 151, 152], 2] = np.nan
    data[100:115, 2] = np.nan
    return xr.DataArray(
        0.01 * data,
        dims=("time", "asset"),
        coords={
            "time": pd.date_range("2022-01-03", periods=n, freq="B"),
            "asset": ["BTCUSDT", "QQQ", "NVDA"],
        },
    )


def _stretches_by_hand(ok: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """(report, stretch) walking the joint bars: joint bars and the bars of interior gaps of at
    most ``max_gap`` are reported; a longer gap starts a new stretch (-1: not in any)."""
    joint = np.flatnonzero(ok)
    report = np.zeros(len(ok), bool)
    stretch = np.full(len(ok), -1)
    sid = 0
    for k, t in enumerate(joint):
        if k and t - joint[k - 1] - 1 > max_gap:
            sid += 1
        report[t], stretch[t] = True, sid
        if k + 1 < len(joint) and joint[k + 1] - t - 1 <= max_gap:
            report[t + 1 : joint[k + 1]] = True
            stretch[t + 1 : joint[k + 1]] = sid
    return report, stretch


def test_stretch_rule_by_hand() -> None:
    ok = np.zeros((40, 2), bool)
    ok[[3, 4, 6, 7, 11, 16, 17, 18, 34, 35], 0] = True  # gaps of 1, 3, 4, 15 bars; ends at 35
    report, start = co._stretches(ok, 3)  # column 1: no joint bar at all
    want_report, stretch = _stretches_by_hand(ok[:, 0], 3)
    np.testing.assert_array_equal(report[:, 0], want_report)
    assert list(np.flatnonzero(report[:, 0])) == [*range(3, 12), 16, 17, 18, 34, 35]
    assert list(start[[3, 11, 15, 16, 25, 33, 34, 39], 0]) == [0, 0, 0, 16, 16, 16, 34, 34]
    assert list(stretch[[3, 11, 16, 35]]) == [0, 0, 1, 2]
    assert not report[:, 1].any()
    with pytest.raises(ValueError, match="max_gap=-1"):
        co.ewma_correlation(*co.pair_returns(_ragged(), ["BTCUSDT"], ["QQQ"]), max_gap=-1)


def _joint_pair(
    x: xr.DataArray, y: xr.DataArray, pair: str
) -> tuple[pd.Series, pd.Series, np.ndarray]:
    """One pair's two series, each blanked where the other is missing, and the joint mask."""
    a = pd.Series(x.sel(pair=pair).values)
    b = pd.Series(y.sel(pair=pair).values)
    joint = (a.notna() & b.notna()).to_numpy()
    return a.where(joint), b.where(joint), joint


def test_rolling_ends_at_last_joint_bar_and_skips_long_gaps() -> None:
    r = _ragged()
    x, y = co.pair_returns(r, ["BTCUSDT"], ["QQQ", "NVDA"])
    window, min_periods = 30, 20
    out = co.rolling_correlation(x, y, window, min_periods=min_periods)
    for pair in out["pair"].values:
        a, b, joint = _joint_pair(x, y, pair)
        report, _ = _stretches_by_hand(joint, co.MAX_GAP)
        roll_a, roll_b = a.rolling(window, min_periods=min_periods), b.rolling(window, min_periods)
        want = roll_a.corr(b).where(report)
        beta = (roll_a.cov(b) / roll_b.var()).where(report)
        got = out.sel(pair=pair)
        np.testing.assert_allclose(got["corr"].values, want, rtol=1e-9, atol=1e-12, equal_nan=True)
        np.testing.assert_allclose(got["beta"].values, beta, rtol=1e-8, atol=1e-12, equal_nan=True)
        last = np.flatnonzero(joint)[-1]
        for var in ("corr", "lo", "hi", "beta", "n"):
            assert np.isnan(got[var].values[last + 1 :]).all()
    qqq = out["corr"].sel(pair="BTCUSDT~QQQ").values
    assert np.isfinite(qqq[199])
    assert np.isnan(qqq[200:]).all()  # pandas would go on to bar 209
    nvda = out["corr"].sel(pair="BTCUSDT~NVDA").values
    assert np.isnan(nvda[100:115]).all()  # inside the 15-bar gap (20+ joint bars in window)
    assert np.isfinite(nvda[[60, 150, 151, 152]]).all()  # short gaps bridged


def test_ewma_ends_at_last_joint_bar_and_restarts_after_long_gaps() -> None:
    r = _ragged()
    x, y = co.pair_returns(r, ["BTCUSDT"], ["QQQ", "NVDA"])
    lam, min_periods = 0.94, 20
    out = co.ewma_correlation(x, y, lam=lam, min_periods=min_periods)
    for pair in out["pair"].values:
        a, b, joint = _joint_pair(x, y, pair)
        report, stretch = _stretches_by_hand(joint, co.MAX_GAP)
        want = np.full(len(a), np.nan)
        beta = np.full(len(a), np.nan)
        count = np.full(len(a), np.nan)
        for sid in np.unique(stretch[stretch >= 0]):  # each stretch: pandas ewm from scratch
            rows = np.flatnonzero(stretch == sid)
            sl = slice(rows[0], rows[-1] + 1)
            mxy, mxx, myy = (
                v.iloc[sl].ewm(alpha=1 - lam, adjust=True, min_periods=min_periods).mean()
                for v in (a * b, a * a, b * b)
            )
            want[sl] = (mxy / np.sqrt(mxx * myy)).to_numpy()
            beta[sl] = (mxy / myy).to_numpy()
            count[sl] = np.cumsum(joint[sl])
        want[~report], beta[~report] = np.nan, np.nan
        got = out.sel(pair=pair)
        np.testing.assert_allclose(got["corr"].values, want, rtol=1e-9, atol=1e-12, equal_nan=True)
        np.testing.assert_allclose(got["beta"].values, beta, rtol=1e-9, atol=1e-12, equal_nan=True)
        fine = np.isfinite(want)
        n_eff = np.minimum(count, (1 + lam) / (1 - lam))
        np.testing.assert_allclose(got["n"].values[fine], n_eff[fine])
        last = np.flatnonzero(joint)[-1]
        for var in ("corr", "lo", "hi", "beta", "n"):
            assert np.isnan(got[var].values[last + 1 :]).all()
    qqq = out["corr"].sel(pair="BTCUSDT~QQQ").values
    assert np.isfinite(qqq[199])
    assert np.isnan(qqq[200:]).all()  # not the last value carried flat
    nvda = out["corr"].sel(pair="BTCUSDT~NVDA").values
    assert nvda[60] == pytest.approx(nvda[59])  # short gaps: bridged, estimate unchanged
    assert nvda[152] == pytest.approx(nvda[149])
    assert np.isnan(nvda[100:115]).all()  # the 15-bar gap is not reported ...
    assert np.isnan(nvda[115:134]).all()  # ... and the EWMA restarts: 20 new joint bars
    assert np.isfinite(nvda[134])
    # max_gap=0: only bars with joint data; a gap of 20 bridges everything inside NVDA's span
    strict = co.ewma_correlation(x, y, max_gap=0)["corr"].sel(pair="BTCUSDT~NVDA").values
    assert np.isnan(strict[[60, 150, 151, 152]]).all()
    loose = co.ewma_correlation(x, y, max_gap=20)["corr"].sel(pair="BTCUSDT~NVDA").values
    assert np.isfinite(loose[100:115]).all()
    assert np.isnan(loose[:29]).all()


def test_realized_pooled_ends_at_last_joint_day() -> None:
    rng = np.random.default_rng(8)
    time = pd.date_range("2024-03-04", periods=24 * 10, freq="h")
    a = rng.standard_normal(len(time))
    b1 = 0.5 * a + rng.standard_normal(len(time))
    b2 = 0.3 * a + rng.standard_normal(len(time))
    day = time.floor("D")
    days = day.unique()
    closed = (time.hour < 15) | (time.hour > 20)
    b1[closed] = np.nan
    b2[closed | (day == days[2]) | (day > days[5])] = np.nan  # misses day 2, ends on day 5
    panel = xr.DataArray(
        np.column_stack([a, b1, b2]),
        dims=("time", "asset"),
        coords={"time": time, "asset": ["BTCUSDT", "QQQ", "NVDA"]},
    )
    x, y = co.pair_returns(panel, ["BTCUSDT"], ["QQQ", "NVDA"])
    out = co.realized_correlation(x, y, days=3, min_bars=4)
    assert len(out["time"]) == 10

    def pooled(b: np.ndarray, d: int) -> float:
        sel = np.isin(day, days[max(d - 2, 0) : d + 1]) & np.isfinite(b)
        return float((a[sel] * b[sel]).sum() / np.sqrt((a[sel] ** 2).sum() * (b[sel] ** 2).sum()))

    qqq = out["corr"].sel(pair="BTCUSDT~QQQ").values
    nvda = out["corr"].sel(pair="BTCUSDT~NVDA").values
    np.testing.assert_allclose(qqq, [pooled(b1, d) for d in range(10)], rtol=1e-12)
    np.testing.assert_allclose(nvda[:6], [pooled(b2, d) for d in range(6)], rtol=1e-12)
    assert np.isnan(nvda[6:]).all()  # days 6-8 would pool days 4-5 under a carried window
    assert np.isnan(out["n"].sel(pair="BTCUSDT~NVDA").values[6:]).all()
    strict = co.realized_correlation(x, y, days=3, min_bars=4, max_gap=0)
    assert np.isnan(strict["corr"].sel(pair="BTCUSDT~NVDA").values[2])  # no bars on day 2

"""Event-study engine: every number against an independent computation.

Independent references: per-asset statsmodels OLS (alpha, beta, sigma, forecast-error variance),
scipy (t-tests, ranks, binomial and Wilcoxon tests) and the papers' formulas written out as
plain loops here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import xarray as xr
from scipy import stats

from shocklab.models import (
    ConfoundingEventWarning,
    EventStudyResult,
    car_regression,
    event_study,
)
from shocklab.models import _kernels as k

N_ASSETS, N_BARS, EVENT_AT = 12, 320, 290
EST, GAP, WIN = 200, 5, (-3, 3)


def _panel(seed: int = 7, n_assets: int = N_ASSETS, missing: bool = True) -> xr.DataArray:
    """Market-model returns with a known event effect at bar EVENT_AT (-2 % on day 0)."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0003, 0.01, N_BARS)
    beta = rng.uniform(0.5, 1.5, n_assets)
    sigma = rng.uniform(0.01, 0.03, n_assets)
    common = rng.normal(0, 0.006, N_BARS)  # induces cross-correlation of residuals
    r = (
        0.0002
        + market[:, None] * beta
        + common[:, None]
        + rng.normal(0, 1, (N_BARS, n_assets)) * sigma
    )
    r[EVENT_AT] -= 0.02
    if missing:
        r[100:104, 0] = np.nan  # a hole inside the estimation window
    assets = [f"A{i:02d}" for i in range(n_assets)]
    data = np.column_stack([r, market])
    return xr.DataArray(
        data,
        dims=("time", "asset"),
        coords={
            "time": pd.bdate_range("2021-01-04", periods=N_BARS),
            "asset": [*assets, "MKT"],
            "group": ("asset", ["g1" if i % 2 else "g2" for i in range(n_assets)] + ["index"]),
        },
        attrs={"kind": "log"},
    )


@pytest.fixture(scope="module", params=["eager", "dask"])
def study(request: pytest.FixtureRequest) -> tuple[xr.DataArray, EventStudyResult]:
    panel = _panel()
    if request.param == "dask":
        panel = panel.chunk({"asset": 5})
    day0 = panel["time"].values[EVENT_AT]
    res = event_study(
        panel,
        {"shock": day0},
        market="MKT",
        estimation=EST,
        gap=GAP,
        window=WIN,
        car_windows=[(-1, 1), (0, 3)],
    )
    return panel.compute(), res


def _ols_reference(panel: xr.DataArray, asset: str) -> dict[str, object]:
    """statsmodels OLS on the estimation window, predictions over the event window."""
    y = panel.sel(asset=asset).values
    m = panel.sel(asset="MKT").values
    est = slice(EVENT_AT + WIN[0] - GAP - EST, EVENT_AT + WIN[0] - GAP)
    evt = slice(EVENT_AT + WIN[0], EVENT_AT + WIN[1] + 1)
    fit = sm.OLS(y[est], sm.add_constant(m[est]), missing="drop").fit()
    x_evt = sm.add_constant(m[evt])
    pred = fit.get_prediction(x_evt)
    return {
        "fit": fit,
        "ar": y[evt] - pred.predicted_mean,
        "se_obs": pred.se_obs,
        "x_evt": x_evt,
        "resid_full": y[est] - fit.predict(sm.add_constant(m[est])),
    }


def test_market_model_matches_statsmodels(study: tuple[xr.DataArray, EventStudyResult]) -> None:
    panel, res = study
    ds = res.dataset.sel(event="shock")
    for asset in ("A00", "A05"):  # A00 has a 4-bar hole in its estimation window
        ref = _ols_reference(panel, asset)
        fit = ref["fit"]
        got = ds.sel(asset=asset)
        np.testing.assert_allclose(got["params"].values, fit.params, rtol=1e-9)
        np.testing.assert_allclose(got["sigma"].values, np.sqrt(fit.scale), rtol=1e-9)
        assert got["n_estimation"].item() == fit.nobs
        np.testing.assert_allclose(got["abnormal_return"].values, ref["ar"], rtol=1e-9)
        np.testing.assert_allclose(got["ar_se"].values, ref["se_obs"], rtol=1e-9)
        # CAR variance: L sigma^2 + s' Cov(b) s, with Cov(b) from statsmodels
        s = ref["x_evt"][2:5].sum(axis=0)  # rel -1..+1
        var = 3 * fit.scale + s @ fit.cov_params() @ s
        np.testing.assert_allclose(got["car_se"].sel(horizon="CAR(-1,+1)"), np.sqrt(var), rtol=1e-9)
        np.testing.assert_allclose(
            got["car"].sel(horizon="CAR(-1,+1)"), ref["ar"][2:5].sum(), rtol=1e-9
        )
    assert ds["n_estimation"].sel(asset="A00").item() == EST - 4
    assert ds["status"].sel(asset="MKT").item().startswith("asset is its own market")


def _cross_section(panel: xr.DataArray, assets: list[str]) -> dict[str, np.ndarray]:
    ar, se, resid, dof = [], [], [], []
    for a in assets:
        ref = _ols_reference(panel, a)
        ar.append(ref["ar"])
        se.append(ref["se_obs"])
        resid.append(ref["resid_full"])
        dof.append(ref["fit"].df_resid)
    return {"ar": np.array(ar), "se": np.array(se), "resid": np.array(resid), "dof": np.array(dof)}


def test_parametric_tests_by_hand(study: tuple[xr.DataArray, EventStudyResult]) -> None:
    panel, res = study
    assets = [f"A{i:02d}" for i in range(N_ASSETS)]
    ref = _cross_section(panel, assets)
    tests = res.dataset["test_statistic"].sel(event="shock", group="all")
    pvals = res.dataset["test_p_value"].sel(event="shock", group="all")
    day0 = 3  # index of rel 0 in the event window
    ar0, sar0 = ref["ar"][:, day0], ref["ar"][:, day0] / ref["se"][:, day0]

    t = stats.ttest_1samp(ar0, 0.0)
    assert tests.sel(horizon="AR(+0)", test="t_cross") == pytest.approx(t.statistic, rel=1e-9)
    assert pvals.sel(horizon="AR(+0)", test="t_cross") == pytest.approx(t.pvalue, rel=1e-9)

    # BMP is the one-sample t-test of the standardised ARs
    t = stats.ttest_1samp(sar0, 0.0)
    assert tests.sel(horizon="AR(+0)", test="bmp") == pytest.approx(t.statistic, rel=1e-9)
    assert pvals.sel(horizon="AR(+0)", test="bmp") == pytest.approx(t.pvalue, rel=1e-9)

    # Patell: sum SAR / sqrt(sum (T-2)/(T-4))
    dof = ref["dof"]
    z = sar0.sum() / np.sqrt(np.sum(dof / (dof - 2)))
    assert tests.sel(horizon="AR(+0)", test="patell") == pytest.approx(z, rel=1e-9)

    # Kolari-Pynnonen: r-bar from pairwise-complete residual correlations (pandas)
    corr = pd.DataFrame(ref["resid"].T).corr().to_numpy()
    r_bar = corr[~np.eye(len(assets), dtype=bool)].mean()
    n = len(assets)
    factor = np.sqrt((1 - r_bar) / (1 + (n - 1) * r_bar))
    assert res.dataset["r_bar"].sel(event="shock", group="all") == pytest.approx(r_bar, abs=2e-3)
    assert tests.sel(horizon="AR(+0)", test="kp_bmp") / tests.sel(
        horizon="AR(+0)", test="bmp"
    ) == pytest.approx(factor, rel=5e-3)

    # Brown-Warner crude dependence adjustment over CAR(-1,+1)
    aar_est = np.nanmean(ref["resid"], axis=0)
    s_aar = aar_est.std(ddof=1)
    caar = ref["ar"][:, 2:5].sum(axis=1).mean()
    expected = caar / (np.sqrt(3) * s_aar)
    assert tests.sel(horizon="CAR(-1,+1)", test="brown_warner") == pytest.approx(expected, rel=1e-9)
    p = 2 * stats.t.sf(abs(expected), EST - 1)
    assert pvals.sel(horizon="CAR(-1,+1)", test="brown_warner") == pytest.approx(p, rel=1e-9)


def test_nonparametric_tests_by_hand(study: tuple[xr.DataArray, EventStudyResult]) -> None:
    panel, res = study
    assets = [f"A{i:02d}" for i in range(N_ASSETS)]
    ref = _cross_section(panel, assets)
    ds = res.dataset.sel(event="shock", group="all")
    tests, pvals = ds["test_statistic"], ds["test_p_value"]
    car = ref["ar"][:, 3:7].sum(axis=1)  # CAR(0,+3)

    w = (car > 0).sum()
    assert pvals.sel(horizon="CAR(+0,+3)", test="sign") == pytest.approx(
        stats.binomtest(int(w), len(car), 0.5).pvalue, rel=1e-9
    )
    wil = stats.wilcoxon(car, method="approx", correction=False)
    assert abs(tests.sel(horizon="CAR(+0,+3)", test="wilcoxon")) == pytest.approx(
        abs(wil.zstatistic), rel=1e-9
    )
    assert pvals.sel(horizon="CAR(+0,+3)", test="wilcoxon") == pytest.approx(wil.pvalue, rel=1e-9)

    # Generalised sign (Cowan 1992)
    resid = ref["resid"]
    p_hat = np.mean([np.mean(r[np.isfinite(r)] > 0) for r in resid])
    n = len(assets)
    z = (w - n * p_hat) / np.sqrt(n * p_hat * (1 - p_hat))
    assert tests.sel(horizon="CAR(+0,+3)", test="generalized_sign") == pytest.approx(z, rel=1e-9)

    # Corrado-Zivney rank test on standardised ARs, Cowan's multi-day form
    sigma = np.array([np.sqrt(_ols_reference(panel, a)["fit"].scale) for a in assets])
    u_rows = []
    for i in range(n):
        values = np.concatenate([resid[i] / sigma[i], ref["ar"][i] / ref["se"][i]])
        ranks = stats.rankdata(values, nan_policy="omit")
        u_rows.append(ranks / (np.isfinite(values).sum() + 1) - 0.5)
    u_bar = np.nanmean(np.array(u_rows), axis=0)
    s_u = np.sqrt(np.mean(u_bar**2))
    expected = u_bar[EST + 3 : EST + 7].sum() / (2 * s_u)
    assert tests.sel(horizon="CAR(+0,+3)", test="corrado") == pytest.approx(expected, rel=1e-9)

    # GRANK (Kolari & Pynnonen 2011), written out
    car_var = np.array(
        [
            4 * fit.scale + s @ fit.cov_params() @ s
            for a in assets
            for r in [_ols_reference(panel, a)]
            for fit, s in [(r["fit"], r["x_evt"][3:7].sum(axis=0))]
        ]
    )
    scar = car / np.sqrt(car_var)
    # KP's cross-sectional re-standardisation, with the residual cross-correlation put back
    r_bar = max(k.mean_pairwise_correlation(resid), 0.0)
    scar_star = scar / (scar.std(ddof=1) / np.sqrt(1 - r_bar))
    u = []
    for i in range(n):
        g = np.append(resid[i] / sigma[i], scar_star[i])
        ranks = stats.rankdata(g, nan_policy="omit")
        u.append(ranks / (np.isfinite(g).sum() + 1) - 0.5)
    u = np.array(u)
    big_t = EST + 1
    n_t = np.isfinite(u).sum(axis=0)
    u_bar = np.nanmean(u, axis=0)
    s_u = np.sqrt(np.sum(n_t / n * u_bar**2) / big_t)
    z = u_bar[-1] / s_u
    t = z * np.sqrt((big_t - 2) / (big_t - 1 - z**2))
    assert tests.sel(horizon="CAR(+0,+3)", test="grank") == pytest.approx(t, rel=1e-9)
    assert pvals.sel(horizon="CAR(+0,+3)", test="grank") == pytest.approx(
        2 * stats.t.sf(abs(t), big_t - 2), rel=1e-9
    )


def test_event_effect_detected_and_groups(study: tuple[xr.DataArray, EventStudyResult]) -> None:
    _, res = study
    ds = res.dataset.sel(event="shock")
    assert ds["caar"].sel(group="all", horizon="AR(+0)") == pytest.approx(-0.02, abs=0.01)
    assert (ds["test_p_value"].sel(group="all", horizon="AR(+0)") < 0.05).all()
    g1 = [f"A{i:02d}" for i in range(N_ASSETS) if i % 2]
    expected = ds["car"].sel(asset=g1, horizon="CAR(-1,+1)").mean()
    assert ds["caar"].sel(group="g1", horizon="CAR(-1,+1)") == pytest.approx(float(expected))
    # CAAR path is the running sum of AARs (not their average)
    np.testing.assert_allclose(
        ds["caar_path"].sel(group="g2"), ds["aar"].sel(group="g2").cumsum("rel"), rtol=1e-12
    )


def test_bhar_by_hand() -> None:
    panel = _panel(missing=False)
    res = event_study(
        panel,
        {"e": panel["time"].values[EVENT_AT]},
        market="MKT",
        estimation=EST,
        gap=GAP,
        window=WIN,
    )
    ref = _ols_reference(panel, "A03")
    y = panel.sel(asset="A03").values[EVENT_AT - 1 : EVENT_AT + 2]
    normal = y - ref["ar"][2:5]
    expected = np.prod(np.exp(y)) - np.prod(np.exp(normal))
    got = res.dataset["bhar"].sel(event="e", asset="A03", horizon="CAR(-1,+1)")
    assert got == pytest.approx(expected, rel=1e-9)


def test_other_models_match_references() -> None:
    panel = _panel(missing=False)
    day0 = panel["time"].values[EVENT_AT]
    y = panel.sel(asset="A02").values
    m = panel.sel(asset="MKT").values
    est = slice(EVENT_AT - 3 - GAP - EST, EVENT_AT - 3 - GAP)
    kw = {"estimation": EST, "gap": GAP, "window": WIN}

    res = event_study(panel, day0, model="constant_mean", **kw)
    got = res.dataset["abnormal_return"].sel(asset="A02").squeeze()
    np.testing.assert_allclose(got, y[EVENT_AT - 3 : EVENT_AT + 4] - y[est].mean(), rtol=1e-9)

    res = event_study(panel, day0, model="market_adjusted", market="MKT", **kw)
    ds = res.dataset.sel(asset="A02").squeeze()
    np.testing.assert_allclose(ds["abnormal_return"], (y - m)[EVENT_AT - 3 : EVENT_AT + 4])
    assert ds["sigma"] == pytest.approx((y - m)[est].std(ddof=1), rel=1e-9)

    factors = panel.sel(asset=["MKT", "A11"]).rename(asset="factor")
    res = event_study(panel.sel(asset=["A02", "A03"]), day0, model="factor", factors=factors, **kw)
    fit = sm.OLS(y[est], sm.add_constant(factors.values[est])).fit()
    np.testing.assert_allclose(res.dataset["params"].sel(asset="A02").squeeze(), fit.params)
    assert list(res.dataset["param"].values) == ["alpha", "beta_MKT", "beta_A11"]


def test_garch_model_standardises_by_conditional_volatility() -> None:
    from arch import arch_model

    rng = np.random.default_rng(3)
    n = 700
    m = rng.normal(0, 0.01, n)
    h, e = np.empty(n), np.empty(n)
    h[0] = 1e-4
    for t in range(n):  # GARCH(1,1) residuals: omega 5e-6, alpha 0.1, beta 0.85
        if t:
            h[t] = 5e-6 + 0.1 * e[t - 1] ** 2 + 0.85 * h[t - 1]
        e[t] = np.sqrt(h[t]) * rng.standard_normal()
    y = 0.8 * m + e
    panel = xr.DataArray(
        np.column_stack([y, m]),
        dims=("time", "asset"),
        coords={"time": pd.date_range("2022-01-01", periods=n), "asset": ["Y", "MKT"]},
        attrs={"kind": "log"},
    )
    res = event_study(
        panel, "2023-10-01", model="garch", market="MKT", estimation=600, gap=0, window=(0, 5)
    )
    ds = res.dataset.sel(asset="Y").squeeze()
    at = int(np.flatnonzero(panel["time"].values == np.datetime64("2023-10-01"))[0])
    fit = arch_model(
        100 * y[at - 600 : at], x=100 * m[at - 600 : at, None], mean="LS", p=1, q=1
    ).fit(disp="off")
    np.testing.assert_allclose(
        ds["params"].values[:2], [fit.params.iloc[0] / 100, fit.params.iloc[1]], rtol=1e-6
    )
    assert ds["params"].sel(param="beta") == pytest.approx(0.8, abs=0.1)
    ar0 = y[at] - fit.params.iloc[0] / 100 - fit.params.iloc[1] * m[at]
    assert ds["abnormal_return"].sel(rel=0) == pytest.approx(ar0, rel=1e-6)
    # day-0 conditional variance: omega + alpha e_{-1}^2 + beta h_{-1} from the fitted recursion
    om, al, be = fit.params.iloc[2:5]
    h_prev = (fit.conditional_volatility[-1]) ** 2
    e_prev = fit.resid[-1]
    h0 = (om + al * e_prev**2 + be * h_prev) / 1e4
    assert ds["ar_se"].sel(rel=0) == pytest.approx(np.sqrt(h0), rel=1e-6)


def test_many_events_keyed_by_id_not_ticker() -> None:
    """One asset in two events: each event's numbers equal a separate single-event run."""
    panel = _panel(missing=False)
    t = panel["time"].values
    kw = {"market": "MKT", "estimation": 100, "gap": 5, "window": WIN}
    both = event_study(panel, {"first": t[150], "second": t[290]}, **kw)
    for name, at in (("first", 150), ("second", 290)):
        alone = event_study(panel, {name: t[at]}, **kw)
        xr.testing.assert_allclose(
            both.dataset["test_statistic"].sel(event=name),
            alone.dataset["test_statistic"].sel(event=name),
        )


def test_per_asset_event_dates() -> None:
    panel = _panel(missing=False)
    t = panel["time"].values
    table = pd.DataFrame(
        {"event_id": ["earn", "earn"], "asset": ["A01", "A02"], "date": [t[250], t[280]]}
    )
    kw = {"market": "MKT", "estimation": EST, "gap": GAP, "window": WIN}
    res = event_study(panel, table, **kw)
    ds = res.dataset.sel(event="earn")
    assert ds["status"].sel(asset="A03").item() == "not in event"
    for asset, at in (("A01", 250), ("A02", 280)):
        alone = event_study(panel.sel(asset=[asset, "MKT"]), {"x": t[at]}, **kw)
        np.testing.assert_allclose(
            ds["abnormal_return"].sel(asset=asset),
            alone.dataset["abnormal_return"].sel(event="x", asset=asset),
        )
        assert ds["event_time"].sel(asset=asset).values == t[at]
    assert ds["n_assets"].sel(group="all", horizon="AR(+0)") == 2


def test_mean_pairwise_correlation_with_missing_bars() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 300)) + rng.normal(size=300)
    full = k.mean_pairwise_correlation(x)
    c = np.corrcoef(x)
    assert full == pytest.approx(c[~np.eye(6, dtype=bool)].mean(), rel=1e-12)
    x[0, :20] = np.nan
    ref = pd.DataFrame(x.T).corr().to_numpy()
    assert k.mean_pairwise_correlation(x) == pytest.approx(
        ref[~np.eye(6, dtype=bool)].mean(), abs=1e-3
    )


def test_netcdf_round_trip_and_summary(
    study: tuple[xr.DataArray, EventStudyResult], tmp_path: pytest.TempPathFactory
) -> None:
    _, res = study
    path = tmp_path / "es.nc"  # type: ignore[operator]
    res.to_dataset().to_netcdf(path)
    with xr.open_dataset(path) as back:
        again = EventStudyResult.from_dataset(back.load())
    pd.testing.assert_frame_equal(again.summary(), res.summary())
    assert again.parameters == res.parameters
    table = res.summary(group="g1")
    assert {"caar", "n", "kp_bmp", "kp_bmp_p", "grank"} <= set(table.columns)
    assert "<table" in res._repr_html_()


def test_car_regression_matches_statsmodels(study: tuple[xr.DataArray, EventStudyResult]) -> None:
    _, res = study
    assets = [f"A{i:02d}" for i in range(N_ASSETS)]
    chars = pd.DataFrame(
        {"size": np.arange(N_ASSETS, dtype=float) ** 0.5}, index=pd.Index(assets, name="asset")
    )
    fit = car_regression(res, chars, horizon="CAR(-1,+1)", cov_type="HC3")
    car = res.dataset["car"].sel(event="shock", horizon="CAR(-1,+1)", asset=assets).values
    ref = sm.OLS(car, sm.add_constant(chars["size"].to_numpy())).fit(cov_type="HC3")
    np.testing.assert_allclose(fit.params, ref.params, rtol=1e-9)
    np.testing.assert_allclose(fit.bse, ref.bse, rtol=1e-9)


def test_bad_inputs_give_clear_errors() -> None:
    panel = _panel(missing=False)
    t = pd.DatetimeIndex(panel["time"].values)
    kw = {"market": "MKT", "estimation": EST, "gap": GAP, "window": WIN}
    saturday = t[EVENT_AT] + pd.Timedelta(days=(5 - t[EVENT_AT].day_of_week) % 7)
    with pytest.raises(ValueError, match=r"Saturday.*non_trading='next'.*'previous'"):
        event_study(panel, saturday, **kw)
    nxt = event_study(panel, saturday, non_trading="next", **kw)
    prv = event_study(panel, saturday, non_trading="previous", **kw)
    assert nxt.dataset["event_date"].item() == saturday + pd.Timedelta(days=2)
    assert prv.dataset["event_date"].item() == saturday - pd.Timedelta(days=1)
    with pytest.raises(ValueError, match="outside the time axis"):
        event_study(panel, "2030-01-02", **kw)
    # a malformed date names the event it belongs to (was a bare pandas DateParseError)
    with pytest.raises(ValueError, match=r"event 'shock': date '2025-13-45' is not a date"):
        event_study(panel, {"shock": "2025-13-45"}, **kw)
    with pytest.raises(ValueError, match="estimation window needs"):
        event_study(panel, t[50], **kw)
    shifted = panel.sel(asset="MKT").assign_coords(time=t + pd.Timedelta(hours=1))
    with pytest.raises(ValueError, match="time axis does not match"):
        event_study(panel, t[EVENT_AT], market=shifted, estimation=EST)
    with pytest.raises(ValueError, match="neither an asset"):
        event_study(panel, t[EVENT_AT], market="SPY", estimation=EST)
    with pytest.raises(ValueError, match="model must be one of"):
        event_study(panel, t[EVENT_AT], model="capm", **kw)  # type: ignore[arg-type]
    dup = pd.DataFrame({"event_id": ["a", "a"], "asset": ["A01", "A01"], "date": [t[250], t[260]]})
    with pytest.raises(ValueError, match="same asset twice"):
        event_study(panel, dup, **kw)
    with pytest.raises(ValueError, match="no 'kind' attribute"):
        event_study(panel.assign_attrs(kind=None), t[EVENT_AT], **kw)


def test_short_estimation_window_is_flagged_per_asset() -> None:
    panel = _panel(missing=False).copy()
    panel.loc[{"asset": "A04"}] = np.where(
        np.arange(N_BARS) < EVENT_AT - 10, np.nan, panel.sel(asset="A04")
    )
    res = event_study(
        panel, panel["time"].values[EVENT_AT], market="MKT", estimation=EST, gap=GAP, window=WIN
    )
    ds = res.dataset.squeeze("event")
    assert "too short: 2 of 200 bars" in ds["status"].sel(asset="A04").item()
    assert np.isnan(ds["car"].sel(asset="A04")).all()
    assert ds["n_assets"].sel(group="all", horizon="AR(+0)") == N_ASSETS - 1


def test_overlapping_events_warn() -> None:
    panel = _panel(missing=False)
    t = panel["time"].values
    with pytest.warns(ConfoundingEventWarning, match="a's event window lies in b's"):
        res = event_study(
            panel, {"a": t[250], "b": t[290]}, market="MKT", estimation=EST, gap=GAP, window=WIN
        )
    assert "for 13 asset(s)" in res.dataset.attrs["confounding_events"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        event_study(panel, {"a": t[250]}, market="MKT", estimation=EST, gap=GAP, window=WIN)


def test_plots_draw_bands_and_table(study: tuple[xr.DataArray, EventStudyResult]) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    from shocklab.plots import plot_car_paths, plot_test_table

    _, res = study
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 8))
    ax = plot_car_paths(res, assets=["A01"], groups=["all", "g1"], ax=top)
    assert ax is top
    assert len(ax.lines) == 3 + 2  # three paths plus the two reference lines
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    path = res.dataset["car_path"].sel(event="shock", asset="A01").values * 100
    se = res.dataset["car_path_se"].sel(event="shock", asset="A01").values * 100
    assert band.max() == pytest.approx((path + 1.959964 * se).max(), rel=1e-5)
    plot_test_table(res, group="g1", horizons=["AR(+0)", "CAR(-1,+1)"], ax=bottom)
    texts = [c.get_text().get_text() for c in bottom.tables[0].get_celld().values()]
    assert "kp_bmp" in texts
    assert "AR(+0)" in texts
    plt.close(fig)


@pytest.mark.slow
def test_monte_carlo_size_under_cross_correlation() -> None:
    """Under H0 with a shared event date and r = 0.3, BMP over-rejects and KP/BW do not."""
    from shocklab.models.simulate import simulate_market_model_panel

    sizes = {}
    for rho in (0.0, 0.3):
        panel = simulate_market_model_panel(200, 30, 280, rho=rho, seed=11)
        res = event_study(
            panel,
            {"h0": panel["time"].values[-6]},
            market="MKT",
            estimation=250,
            gap=0,
            window=(-5, 5),
        )
        p = res.dataset["test_p_value"].sel(event="h0", horizon="AR(+0)").drop_sel(group="all")
        sizes[rho] = (p < 0.05).mean("group").to_series()
    iid, corr = sizes[0.0], sizes[0.3]
    assert ((iid > 0.015) & (iid < 0.095)).all(), iid.to_dict()
    for test in ("kp_bmp", "kp_patell", "brown_warner", "grank", "corrado"):
        assert corr[test] < 0.10, (test, corr[test])
    for test in ("bmp", "patell", "t_cross"):
        assert corr[test] > 0.25, (test, corr[test])


def test_fast_ranks_equal_scipy_with_and_without_ties() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 30))
    x[3, 5] = np.nan
    np.testing.assert_array_equal(k.ranks(x), stats.rankdata(x, axis=1, nan_policy="omit"))
    x[7, :4] = 0.0  # stale prices: tied returns
    np.testing.assert_array_equal(k.ranks(x), stats.rankdata(x, axis=1, nan_policy="omit"))


def test_groups_below_min_group_get_no_cross_sectional_test() -> None:
    """A group of 3 gets its CAAR but no test (default min_group = 5); min_group=3 allows it."""
    panel = _panel(missing=False)
    day = pd.DatetimeIndex(panel["time"].values)[EVENT_AT]
    groups = {"small": ["A00", "A01", "A02"], "big": [f"A{i:02d}" for i in range(N_ASSETS)]}
    kw = {"market": "MKT", "estimation": EST, "gap": GAP, "window": WIN, "groups": groups}
    res = event_study(panel, {"e": day}, **kw)  # type: ignore[arg-type]
    small = res.dataset.sel(event="e", group="small")
    assert np.isnan(small["test_p_value"].values).all()
    assert np.isnan(small["test_statistic"].values).all()
    assert "N = 3 usable assets, below min_group = 5" in str(small["group_note"].values)
    car0 = res.dataset["car"].sel(event="e", horizon="AR(+0)", asset=["A00", "A01", "A02"])
    assert float(small["caar"].sel(horizon="AR(+0)")) == pytest.approx(float(car0.mean()))
    big = res.dataset.sel(event="e", group="big")
    assert np.isfinite(big["test_p_value"].sel(horizon="AR(+0)").values).all()
    assert str(big["group_note"].values) == ""
    allowed = event_study(panel, {"e": day}, min_group=3, **kw)  # type: ignore[arg-type]
    p3 = allowed.dataset["test_p_value"].sel(event="e", group="small", horizon="AR(+0)")
    assert np.isfinite(p3.values).all()
    with pytest.raises(ValueError, match="min_group must be at least 2"):
        event_study(panel, {"e": day}, min_group=1, **kw)  # type: ignore[arg-type]


def test_estimation_window_never_contains_day_0() -> None:
    """``window=(1, 3), gap=0`` used to estimate over bars -200..0 (day 0 inside); now it is an
    error naming the fix, and the fixed call estimates strictly before day 0."""
    panel = _panel(missing=False)
    day = pd.DatetimeIndex(panel["time"].values)[EVENT_AT]
    with pytest.raises(ValueError, match=r"bars -199\.\.\+0, which contains day 0.*gap >= 1"):
        event_study(panel, {"e": day}, market="MKT", estimation=EST, gap=0, window=(1, 3))
    res = event_study(panel, {"e": day}, market="MKT", estimation=EST, gap=1, window=(1, 3))
    assert int(res.dataset["est"].values[-1]) == -1
    # the normal-return fit equals an OLS on the 200 bars before day 0, by hand
    t0 = EVENT_AT
    y = panel.sel(asset="A03").values[t0 - EST : t0]
    x = panel.sel(asset="MKT").values[t0 - EST : t0]
    beta = np.polyfit(x, y, 1)[0]
    fitted = res.dataset["params"].sel(event="e", asset="A03", param="beta_market")
    assert float(fitted) == pytest.approx(beta, rel=1e-9)


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm (1979) step-down adjustment, by hand."""
    order = np.argsort(p)
    m = p.size
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg (1995) step-up adjustment, by hand."""
    order = np.argsort(p)
    m = p.size
    scaled = p[order] * m / np.arange(1, m + 1)
    out = np.empty(m)
    out[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return out


def test_adjusted_p_values_match_holm_and_bh_by_hand() -> None:
    panel = _panel(missing=True)
    day = pd.DatetimeIndex(panel["time"].values)[EVENT_AT]
    res = event_study(panel, {"e": day}, market="MKT", estimation=EST, gap=GAP, window=WIN)
    ds = res.dataset.sel(event="e", horizon="AR(+0)")
    raw = ds["asset_p"].values
    finite = np.isfinite(raw)
    assert finite.sum() >= 10
    np.testing.assert_allclose(ds["asset_p_holm"].values[finite], _holm(raw[finite]), rtol=1e-12)
    np.testing.assert_allclose(ds["asset_p_bh"].values[finite], _bh(raw[finite]), rtol=1e-12)
    assert np.isnan(ds["asset_p_holm"].values[~finite]).all()  # not members of the family
    groups = ds["test_p_value"].sel(test="kp_bmp").values
    tested = np.isfinite(groups)
    holm = ds["test_p_holm"].sel(test="kp_bmp").values
    np.testing.assert_allclose(holm[tested], _holm(groups[tested]), rtol=1e-12)
    assert (ds["asset_p_holm"].values[finite] >= raw[finite]).all()


def test_adjust_p_matches_statsmodels_multipletests_family_by_family() -> None:
    """The vectorised Holm and Benjamini-Hochberg adjustments give statsmodels' numbers for
    each family (rows along axis 1 here), with NaN members left out and ties kept."""
    from statsmodels.stats.multitest import multipletests

    from shocklab.models.event_study import adjust_p

    rng = np.random.default_rng(7)
    p = rng.uniform(0, 1, size=(3, 9, 4)) ** 3
    p[0, 2, 1] = p[0, 5, 1]  # a tie
    p[rng.uniform(size=p.shape) < 0.2] = np.nan
    p[1, :, 2] = np.nan  # an empty family
    for method in ("holm", "fdr_bh"):
        got = adjust_p(p, axis=1, method=method)  # type: ignore[arg-type]
        for a in range(3):
            for c in range(4):
                family = p[a, :, c]
                finite = np.isfinite(family)
                assert np.isnan(got[a, ~finite, c]).all()
                if finite.any():
                    want = multipletests(family[finite], method=method)[1]
                    np.testing.assert_allclose(got[a, finite, c], want, rtol=1e-12)


def test_a_malformed_single_event_date_names_itself() -> None:
    panel = _panel()
    with pytest.raises(ValueError, match=r"date '2025-13-45' is not a date or UTC moment"):
        event_study(panel, "2025-13-45", market="MKT", estimation=EST, gap=GAP, window=WIN)


def test_kolari_pynnonen_factors_for_bmp_and_patell() -> None:
    """KP (2010) for a shared event date: BMP (which divides by the cross-sectional sd of the
    SARs, biased down by 1 - r) is multiplied by sqrt((1 - r) / (1 + (N - 1) r)); Patell (which
    divides by the SARs' known variance) by 1 / sqrt(1 + (N - 1) r) only. r = the mean pairwise
    correlation of the estimation-window residuals, recomputed here with pandas."""
    from shocklab.models.simulate import simulate_market_model_panel

    panel = simulate_market_model_panel(1, 30, 280, rho=0.3, seed=2)
    res = event_study(panel, {"e": panel["time"].values[-6]}, market="MKT", estimation=250, gap=0)
    ds = res.dataset.sel(event="e", group="g0", horizon="AR(+0)")
    resid = res.dataset["estimation_residual"].sel(event="e").to_pandas().T  # (est, asset)
    resid = resid.drop(columns="MKT", errors="ignore")
    corr = resid.corr().to_numpy()
    r_bar = corr[~np.eye(len(corr), dtype=bool)].mean()
    n = 30
    stat = ds["test_statistic"]
    assert float(stat.sel(test="kp_patell") / stat.sel(test="patell")) == pytest.approx(
        1 / np.sqrt(1 + (n - 1) * r_bar), rel=1e-6
    )
    assert float(stat.sel(test="kp_bmp") / stat.sel(test="bmp")) == pytest.approx(
        np.sqrt((1 - r_bar) / (1 + (n - 1) * r_bar)), rel=1e-6
    )

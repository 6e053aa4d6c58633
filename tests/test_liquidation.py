"""Liquidation elasticity: simulated feedback processes with known answers, and the real panel."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import xarray as xr

from shocklab.data.derivatives import liquidation_panel
from shocklab.models import liquidation as liq

G_TRUE, B_TRUE = 1.0, 0.3  # return per unit share liquidated; share per unit of return


def _simulate(n_assets: int = 7, n_days: int = 3000, seed: int = 0) -> xr.Dataset:
    """r = -g l + u and l = a + v - b r, solved jointly; v persistent with a common factor."""
    rng = np.random.default_rng(seed)
    v = np.zeros((n_days, n_assets))
    common = rng.normal(0, 0.002, n_days)
    for t in range(1, n_days):
        v[t] = 0.7 * v[t - 1] + common[t] + rng.normal(0, 0.002, n_assets)
    u = rng.normal(0, 0.02, (n_days, n_assets))
    a = 0.004
    r = (u - G_TRUE * (a + v)) / (1 - G_TRUE * B_TRUE)
    share = a + v - B_TRUE * r
    oi = 1e9
    time = pd.date_range("2020-01-01", periods=n_days)
    assets = [f"C{i}" for i in range(n_assets)]
    dims = ("time", "asset")
    return xr.Dataset(
        {
            "ret": (dims, r),
            "long_share": (dims, share),
            "short_share": (dims, np.abs(rng.normal(0, 0.001, (n_days, n_assets)))),
            "long_usd": (dims, share * oi),
            "short_usd": (dims, np.zeros((n_days, n_assets))),
        },
        coords={"time": time, "asset": assets},
    )


def test_iv_is_consistent_where_ols_is_biased() -> None:
    ds = _simulate()
    truth = -G_TRUE * 1e4 / 100  # bp per 1 % of OI
    iv = liq.iv_elasticity(ds).table.loc["long"]
    assert iv["estimate"] == pytest.approx(truth, rel=0.15)
    assert abs(iv["ols_estimate"] - truth) > 3 * abs(iv["estimate"] - truth)
    assert iv["first_stage_partial_f"] > 10
    panel = liq.panel_elasticity(ds).table.loc["long"]
    # FE-OLS = within OLS (the IV sample drops each asset's first day for the lag)
    assert panel["estimate"] == pytest.approx(iv["ols_estimate"], rel=1e-3)


def test_exogenous_liquidations_recovered_per_asset_and_match_statsmodels() -> None:
    rng = np.random.default_rng(1)
    ds = _simulate(n_assets=3, n_days=1500, seed=2)
    share = np.abs(rng.normal(0.004, 0.002, ds["ret"].shape))
    ret = -G_TRUE * share + rng.normal(0, 0.02, share.shape)
    ds = ds.assign(ret=(("time", "asset"), ret), long_share=(("time", "asset"), share))
    table = liq.elasticity(ds, maxlags=3).table
    assert table.loc[("C0", "long"), "estimate"] == pytest.approx(
        -100, abs=4 * table.loc[("C0", "long"), "std_error"]
    )
    frame = ds.sel(asset="C1").to_dataframe()
    x = sm.add_constant(
        pd.DataFrame({"long": frame["long_share"] * 100, "short": frame["short_share"] * 100})
    )
    ref = sm.OLS(frame["ret"] * 1e4, x).fit(cov_type="HAC", cov_kwds={"maxlags": 3})
    assert table.loc[("C1", "long"), "estimate"] == pytest.approx(ref.params["long"], rel=1e-9)
    assert table.loc[("C1", "short"), "std_error"] == pytest.approx(ref.bse["short"], rel=1e-9)


def test_local_projections_equal_direct_ols_at_each_horizon() -> None:
    rng = np.random.default_rng(4)
    n = 800
    shock = rng.normal(size=n)
    resp = np.zeros(n)
    for t in range(1, n):
        resp[t] = 0.3 * resp[t - 1] - 0.5 * shock[t] + 0.2 * shock[t - 1] + rng.normal()
    frame = pd.DataFrame({"s": shock, "y": resp}, index=pd.RangeIndex(n))
    lp = liq.local_projections(frame, shock="s", response="y", horizons=3, lags=2).table
    for h in range(4):
        target = frame["y"].rolling(h + 1).sum().shift(-h)  # y_t + ... + y_{t+h}
        x = pd.DataFrame(
            {
                "s": frame["s"],
                "y1": frame["y"].shift(1),
                "s1": frame["s"].shift(1),
                "y2": frame["y"].shift(2),
                "s2": frame["s"].shift(2),
            }
        )
        data = pd.concat([target.rename("t"), x], axis=1).dropna()
        ref = sm.OLS(data["t"], sm.add_constant(data.drop(columns="t"))).fit(
            cov_type="HAC", cov_kwds={"maxlags": h + 1}
        )
        assert lp.loc[("all", h), "estimate"] == pytest.approx(ref.params["s"], rel=1e-10)
        assert lp.loc[("all", h), "std_error"] == pytest.approx(ref.bse["s"], rel=1e-10)
    assert lp.loc[("all", 0), "estimate"] == pytest.approx(-0.5, abs=0.1)
    state = pd.Series(np.arange(n) % 2 == 0, index=frame.index)
    dep = liq.local_projections(frame, shock="s", response="y", horizons=1, state=state).table
    assert set(dep.index.get_level_values("state")) == {"high", "low"}


def test_var_multiplier_recovered_from_a_known_var() -> None:
    rng = np.random.default_rng(7)
    a = np.array([[0.4, -0.3], [0.1, 0.2]])  # order (liq, ret): liq_{t-1} lowers ret_t
    chol = np.array([[1.0, 0.0], [-0.5, 1.0]])
    n = 20000
    x = np.zeros((n, 2))
    for t in range(1, n):
        x[t] = a @ x[t - 1] + chol @ rng.standard_normal(2)
    frame = pd.DataFrame(x, columns=["long_share", "ret"])
    est = liq.var_feedback(frame, maxlags=1, horizon=10, draws=300)
    cum = sum(np.linalg.matrix_power(a, h) for h in range(11)) @ chol
    cut = a.copy()
    cut[1, 0] = 0.0
    cum_cut = sum(np.linalg.matrix_power(cut, h) for h in range(11)) @ chol
    truth, truth_cut = cum[1, 1] / chol[1, 1], cum_cut[1, 1] / chol[1, 1]
    table = est.table
    assert table.loc["multiplier", "estimate"] == pytest.approx(truth, abs=0.05)
    assert table.loc["multiplier_no_feedback", "estimate"] == pytest.approx(truth_cut, abs=0.05)
    band = est.conf_int(0.90).loc["multiplier"]
    draws = est.extra["draws"]["multiplier"]
    assert band["lower"] == pytest.approx(np.percentile(draws, 5))
    assert band["lower"] < truth < band["upper"]
    assert est.extra["granger_p_liq_to_ret"] < 1e-6


def test_bad_inputs() -> None:
    ds = _simulate(n_assets=2, n_days=100)
    with pytest.raises(ValueError, match="cannot be split into long"):
        liq.elasticity(ds.drop_vars("short_share"))
    with pytest.raises(ValueError, match="scale must be"):
        liq.elasticity(ds, scale="pct")  # type: ignore[arg-type]
    short = liq.elasticity(ds.isel(time=slice(0, 30))).table
    assert short["status"].str.contains("only 30 complete days").all()
    with pytest.raises(ValueError, match="not a bar of the panel"):
        liq.attribute_event(ds, "2031-01-01")
    with pytest.raises(ValueError, match="at least 50 complete bars"):
        liq.var_feedback(ds.sel(asset="C0").to_dataframe().iloc[:20])


@pytest.fixture(scope="module")
def real_panel(mirror) -> xr.Dataset:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # yfinance/pandas chatter is not ours
        return liquidation_panel(data_dir=mirror)


def test_real_panel_and_flagship_attribution(real_panel: xr.Dataset) -> None:
    ds = real_panel
    assert list(ds["asset"].values) == ["ADA", "BNB", "BTC", "DOGE", "ETH", "SOL", "XRP"]
    day = ds.sel(time="2025-01-27")
    btc = day.sel(asset="BTC")
    assert float(btc["long_usd"]) == pytest.approx(83.4e6, rel=0.01)
    assert float(btc["long_share"]) == pytest.approx(
        float(btc["long_usd"]) / float(ds["oi_usd"].sel(asset="BTC", time="2025-01-26")), rel=1e-12
    )
    # three 8-hourly settlements per day, summed (BTC funding is a few bp per settlement)
    assert 0 < abs(float(btc["funding"])) < 0.003
    lp = liq.local_projections(
        ds.sel(asset="BTC").to_dataframe(), shock="long_share", response="funding", horizons=3
    ).table
    assert np.isfinite(lp["estimate"]).all()
    panel = liq.panel_elasticity(real_panel).table
    assert panel.loc["long", "estimate"] < 0
    assert panel.loc["long", "pvalue"] < 0.01
    att = liq.attribute_event(real_panel, "2025-01-27")
    assert len(att) == 7
    assert (att["observed"] > 0).all()
    assert np.isfinite(att["predicted"]).all()


def test_mismatched_symbols_are_named(mirror) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="FOO"):
        liquidation_panel(["BTC", "FOO"], data_dir=mirror)


def test_zero_open_interest_gives_nan_shares_and_a_warning(mirror, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A copy of the real OI file with one BTC day zeroed: that day's next shares are NaN."""
    import gzip
    import shutil

    from shocklab.data import DataQualityWarning

    root = tmp_path / "mirror"
    for rel in (
        "derivatives/coinglass_agg_daily",
        "crypto/binance/spot/1d",
        "crypto/binance/usdm-funding",
    ):
        (root / rel).mkdir(parents=True)
    for name in ("liquidation_agg_1d.csv.gz",):
        shutil.copy(
            mirror / "derivatives/coinglass_agg_daily" / name,
            root / "derivatives/coinglass_agg_daily",
        )
    with gzip.open(mirror / "derivatives/coinglass_agg_daily/futures_oi_agg_1d.csv.gz", "rt") as f:
        oi = pd.read_csv(f)
    day = oi["ts_utc"].astype(str).str.startswith("2025-01-26") & (oi["symbol"] == "BTC")
    oi.loc[day, [c for c in oi.columns if c.startswith("oi_")]] = 0.0
    with gzip.open(root / "derivatives/coinglass_agg_daily/futures_oi_agg_1d.csv.gz", "wt") as f:
        oi.to_csv(f, index=False)
    shutil.copy(mirror / "crypto/binance/spot/1d/BTCUSDT.csv", root / "crypto/binance/spot/1d")
    with pytest.warns(DataQualityWarning) as rec:
        ds = liquidation_panel(["BTC"], "2025-01-01", "2025-02-01", data_dir=root)
    messages = [str(w.message) for w in rec]
    assert any("1 asset-days have liquidations but no usable" in m for m in messages)
    assert any("no funding for BTCUSDT" in m for m in messages)  # flagged, not silent
    assert np.isnan(float(ds["long_share"].sel(asset="BTC", time="2025-01-27")))
    assert np.isfinite(float(ds["long_share"].sel(asset="BTC", time="2025-01-28")))
    assert np.isnan(ds["funding"]).all()  # no funding file in this root: NaN, not an error


def test_hourly_coinglass_btc_export_parses(mirror) -> None:  # type: ignore[no-untyped-def]
    """The hourly path: CoinGlass' BTC export (no symbol column, epoch-ms and ISO stamps)."""
    from shocklab.data.sources.coinglass import read_liquidation_csv

    path = mirror / "derivatives/coinglass_btc_1h/coinglass_BTC_liquidation_1h.csv.gz"
    frames = read_liquidation_csv(
        path,
        columns={"time": "datetime_utc", "long_usd": "longUsd", "short_usd": "shortUsd"},
        source_name="CoinGlass hourly BTC",
        completeness="complete",
        symbol="BTC",
    )
    btc = frames["BTC"]
    assert str(btc.index[0]) == "2025-12-01 00:00:00"  # naive UTC, the package's convention
    assert btc["long_usd"].iloc[0] == pytest.approx(53326819.56242)
    assert (btc.index.to_series().diff().dropna() >= pd.Timedelta(hours=1)).all()
    assert btc.attrs["completeness"] == "complete"
    with pytest.raises(ValueError, match="without a side cannot be split"):
        read_liquidation_csv(
            path,
            columns={"time": "datetime_utc", "long_usd": "totalUsd"},
            source_name="x",
            completeness="complete",
            symbol="BTC",
        )


def test_liquidation_plots_show_the_estimates() -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    from shocklab.plots import plot_elasticities, plot_irf, plot_liquidations

    ds = _simulate(n_assets=3, n_days=400)
    fig, (a, b, c) = plt.subplots(3, 1, figsize=(8, 10))
    plot_liquidations(ds, "C0", "2020-01-01", "2020-01-31", ax=a)
    assert len(a.patches) == 2 * 31  # long and short bars per day
    assert a.patches[0].get_height() == pytest.approx(-ds["long_usd"].values[0, 0] / 1e6)
    est = liq.elasticity(ds)
    plot_elasticities(est, ax=b)
    points = np.asarray(b.lines[0].get_ydata(), dtype=float)
    np.testing.assert_allclose(points, est.table.xs("long", level="side")["estimate"].to_numpy())
    var = liq.var_feedback(ds.sel(asset="C0").to_dataframe(), draws=50, horizon=5)
    plot_irf(var, ax=c)
    assert len(c.lines) == 4 + 2  # four shock -> response pairs, the zero line, the shock marker
    plt.close(fig)


def test_missing_days_are_dropped_not_bridged() -> None:
    ds = _simulate(n_assets=2, n_days=600)
    holed = ds.copy(deep=True)
    holed["ret"][100:110, 0] = np.nan  # ten missing days for C0
    full = liq.elasticity(ds).table
    gap = liq.elasticity(holed).table
    assert gap.loc[("C0", "long"), "nobs"] == full.loc[("C0", "long"), "nobs"] - 10
    assert gap.loc[("C1", "long"), "estimate"] == pytest.approx(
        full.loc[("C1", "long"), "estimate"]
    )
    frame = holed.sel(asset="C0").to_dataframe()
    with pytest.warns(UserWarning, match="longest gap-free stretch"):
        est = liq.var_feedback(frame, maxlags=2, draws=50)
    assert est.extra["nobs"] == 490 - est.extra["lags"]  # days 110..599 less the initial lags


def test_truncated_coinglass_gzip_names_the_file_and_the_fix(mirror, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The CoinGlass daily file copied and cut: a DataFileError naming the file and how to get
    it back, from every reader of it (the catalog's span read, the loader's own symbol read),
    never a raw EOFError."""
    from helpers import symlinked_root

    from shocklab.data import DataFileError, open_liquidations
    from shocklab.data.catalog import DERIVATIVE_FILES, Catalog
    from shocklab.data.loaders import _open_coinglass

    rel = DERIVATIVE_FILES["liquidations"]
    root = symlinked_root(mirror, tmp_path, drop=(rel,))
    blob = (mirror / rel).read_bytes()
    (root / rel).write_bytes(blob[: len(blob) * 2 // 3])
    fix = r"Delete it and fetch it again: copy it from the market-data mirror"
    named = rf"{re.escape(str(root / rel))}: the file is corrupt or truncated \(.*\)\. {fix}"
    with pytest.raises(DataFileError, match=named):
        Catalog(root).derivative_spans("liquidations")
    with pytest.raises(DataFileError, match=named):
        open_liquidations(["BTC"], "2025-01-01", "2025-01-31", data_dir=root)
    values = {"long_usd": "liq_long_usd", "short_usd": "liq_short_usd"}
    with pytest.raises(DataFileError, match=named):  # the loader's own read of the file
        _open_coinglass(rel, values, ["BTC"], "2025-01-01", "2025-01-31", root, "test")


def test_reverse_elasticity_is_ppml_and_predicts_only_positive_levels() -> None:
    """Simulated liquidations with E[liq | r] = exp(a_i + f(r)): the PPML fit recovers f; the
    table's levels are the mean over assets of exp(a_i + f(move)) from the fitted parameters
    (recomputed here from a statsmodels GLM of the same design), inside their positive 95 %
    intervals, and ``extra = level - flat``."""
    rng = np.random.default_rng(3)
    n_assets, n_days = 5, 1500
    times = pd.date_range("2021-01-01", periods=n_days, freq="D")
    a = np.log(np.linspace(0.1, 0.4, n_assets))
    r = np.clip(rng.normal(0, 0.03, size=(n_days, n_assets)), -0.12, 0.12)

    def spline(x: np.ndarray | float) -> np.ndarray:  # steeper in the downside tail
        return -8.0 * np.minimum(x, 0) + 5.0 * np.maximum(x, 0) - 15.0 * np.minimum(x + 0.03, 0)

    f = spline(r)
    mu = np.exp(a[None, :] + f)
    long = rng.gamma(2.0, mu / 2.0)  # positive, mean mu, overdispersed
    ds = xr.Dataset(
        {
            "ret": (("time", "asset"), r),
            "long_share": (("time", "asset"), long / 100),
            "short_share": (("time", "asset"), rng.gamma(2.0, mu[::-1] / 2.0) / 100),
        },
        coords={"time": times, "asset": [f"A{i}" for i in range(n_assets)]},
    )
    est = liq.reverse_elasticity(ds, moves=(-0.05, 0.05))
    table = est.table.join(est.conf_int())
    assert (table[["estimate", "lower", "upper", "flat"]] > 0).all().all()
    assert (table["lower"] < table["estimate"]).all()
    assert (table["estimate"] < table["upper"]).all()
    np.testing.assert_allclose(table["extra"], table["estimate"] - table["flat"], rtol=1e-12)
    truth = {m: np.exp(a).mean() * np.exp(float(spline(m))) for m in (-0.05, 0.05)}
    for m, want in truth.items():
        row = table.loc[("long", m)]
        assert row["lower"] < want < row["upper"]
    # the same numbers from a GLM of the same design, by hand
    frame = ds.to_dataframe().reorder_levels(["asset", "time"]).sort_index()
    y = frame["long_share"].to_numpy() * 100
    rr = frame["ret"].to_numpy()
    knots = (0, 0.01, 0.02, 0.04, 0.07, 0.10)
    terms = np.column_stack(  # the spline's hinges, by hand
        [h for k in knots for h in (np.minimum(rr + k, 0), np.maximum(rr - k, 0))]
    )
    dummies = pd.get_dummies(frame.index.get_level_values("asset"), dtype=float).to_numpy()
    fit = sm.GLM(y, np.column_stack([dummies, terms]), family=sm.families.Poisson()).fit()
    fe, beta = fit.params[:n_assets], fit.params[n_assets:]
    g = np.array([h for k in knots for h in (min(-0.05 + k, 0), max(-0.05 - k, 0))])
    assert table.loc[("long", -0.05), "estimate"] == pytest.approx(
        float(np.exp(fe + g @ beta).mean()), rel=1e-6
    )


def test_reverse_levels_follow_binned_means_on_the_real_panel(real_panel: xr.Dataset) -> None:
    """On the real panel the linear fit predicted negative liquidations (-1.3 % of OI of short
    liquidations for +5 %); PPML levels are positive, and the convex form agrees with binned
    means of the same data: in every return bin with 300+ asset-days the mean fitted value is
    within 10 % of the mean observed one (recomputed here from the panel; measured: 7 %)."""
    est = liq.reverse_elasticity(real_panel)
    table = est.table.join(est.conf_int())
    assert (table[["estimate", "lower", "flat"]] > 0).all().all()
    binned = est.extra["binned"]
    frame = liq._frame(real_panel, "oi").dropna()
    bins = pd.cut(frame["ret"], liq.BINS)
    for side in ("long", "short"):
        observed = frame.groupby(bins, observed=True)[side].mean()
        np.testing.assert_allclose(binned.loc[side, "observed"], observed.to_numpy(), rtol=1e-12)
        big = binned.loc[side][binned.loc[side, "n"] >= 300]
        assert len(big) == 7
        np.testing.assert_allclose(big["fitted"], big["observed"], rtol=0.10)
        # larger moves, more liquidations, on both sides of a flat day, as the bins say
        assert table.loc[(side, -0.05), "estimate"] > table.loc[(side, -0.05), "flat"]
        assert table.loc[(side, 0.05), "estimate"] > table.loc[(side, 0.05), "flat"]


def test_attribution_prediction_intervals_cover_noise_and_stay_positive(
    real_panel: xr.Dataset,
) -> None:
    """The attribution's interval is for one day's liquidations (quasi-Poisson noise plus the
    fitted mean's uncertainty), truncated at zero, and 'within_noise' says whether it covers
    the observation."""
    att = liq.attribute_event(real_panel, "2025-01-27")
    assert (att["pred_lo"] >= 0).all()
    assert (att["pred_lo"] <= att["predicted"]).all()
    assert (att["predicted"] < att["pred_hi"]).all()
    assert (att["pred_hi"] - att["predicted"] > 1.96 * att["se"]).all()  # wider than the mean's
    covered = (att["pred_lo"] <= att["observed"]) & (att["observed"] <= att["pred_hi"])
    assert (att["within_noise"] == covered).all()

"""Every results class follows one contract (shocklab.models.results).

One small fit of each class (event study, DCC, Markov switching, Bai-Perron breaks and the
three kinds of liquidation estimates: symmetric, log-scale and simulated intervals), then the
same checks: the vocabulary (params, std_errors, pvalues, nobs), conf_int against scipy's
quantiles, summary-driven str/HTML, and a netCDF round trip that rebuilds an equal result.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from shocklab.formatting import format_table, format_value
from shocklab.models import event_study
from shocklab.models import liquidation as liq
from shocklab.models.breaks import structural_breaks
from shocklab.models.dcc import fit_dcc
from shocklab.models.markov import fit_markov
from shocklab.models.results import Results
from shocklab.models.simulate import (
    simulate_dcc,
    simulate_market_model_panel,
    simulate_switching_regression,
)

OLD_WORDS = ("bse", "se", "se_robust", "coef", "loglik", "tvalues")


def _event() -> Results:
    panel = simulate_market_model_panel(2, 8, 300, rho=0.2, effect=-0.02, event_at=280, seed=1)
    day0 = panel["time"].values[280]
    return event_study(panel, day0, market="MKT", estimation=200, gap=5, window=(-2, 3))


def _dcc() -> Results:
    corr = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.4], [0.3, 0.4, 1.0]])
    return fit_dcc(simulate_dcc(600, corr, seed=2))


def _markov() -> Results:
    data, _ = simulate_switching_regression(600, seed=3)
    return fit_markov(data["y"], data["x"], restarts=1)


def _breaks() -> Results:
    rng = np.random.default_rng(4)
    x = pd.Series(rng.normal(size=400), index=pd.bdate_range("2022-01-03", periods=400))
    y = np.where(np.arange(400) < 200, 0.2, 1.2) * x + rng.normal(0, 0.5, 400)
    return structural_breaks(pd.Series(y, index=x.index), x, max_breaks=2)


def _liq_panel() -> xr.Dataset:
    rng = np.random.default_rng(5)
    days, assets = pd.date_range("2023-01-01", periods=400, freq="D"), ["A", "B", "C"]
    ret = 0.03 * rng.standard_t(3, (400, 3))  # fat tails: moves beyond every spline knot
    mu = 0.2 * np.exp(8 * np.abs(ret))
    long = rng.gamma(2.0, mu / 2.0) / 100
    short = rng.gamma(2.0, mu / 2.0) / 100
    return xr.Dataset(
        {
            "ret": (("time", "asset"), ret - 0.5 * long),
            "long_share": (("time", "asset"), long),
            "short_share": (("time", "asset"), short),
        },
        coords={"time": days, "asset": assets},
    )


def _elasticity() -> Results:
    return liq.panel_elasticity(_liq_panel())


def _reverse() -> Results:
    return liq.reverse_elasticity(_liq_panel())


def _var() -> Results:
    frame = _liq_panel().sel(asset="A").to_dataframe()[["long_share", "ret"]]
    return liq.var_feedback(frame, maxlags=2, draws=200)


FITS: dict[str, Callable[[], Results]] = {
    "event_study": _event,
    "dcc": _dcc,
    "markov": _markov,
    "breaks": _breaks,
    "liquidation_symmetric": _elasticity,
    "liquidation_log_scale": _reverse,
    "liquidation_simulated": _var,
}


@pytest.fixture(scope="module", params=list(FITS))
def fitted(request: pytest.FixtureRequest) -> tuple[str, Any]:
    return request.param, FITS[request.param]()


def test_vocabulary(fitted: tuple[str, Any]) -> None:
    _, res = fitted
    assert isinstance(res, Results)
    params, se, p = res.params, res.std_errors, res.pvalues
    for series in (params, se, p):
        assert isinstance(series, pd.Series)
        assert series.index.equals(params.index)
    assert np.isfinite(params).any()
    assert isinstance(res.nobs, int)
    assert res.nobs > 0
    finite = p.dropna()
    assert ((finite >= 0) & (finite <= 1)).all()
    for word in OLD_WORDS:
        assert not hasattr(res, word), f"{type(res).__name__}.{word}: use the contract's names"


def test_conf_int_against_scipy_quantiles(fitted: tuple[str, Any]) -> None:
    name, res = fitted
    ci95, ci90 = res.conf_int(), res.conf_int(0.90)
    assert list(ci95.columns) == ["lower", "upper"]
    assert ci95.index.equals(res.params.index)
    ok = ci95.notna().all(axis=1) & ci90.notna().all(axis=1)
    assert ok.any()
    est = res.params[ok]
    assert (ci95.loc[ok, "lower"] <= ci90.loc[ok, "lower"]).all()
    assert (ci90.loc[ok, "lower"] <= est).all()
    assert (est <= ci90.loc[ok, "upper"]).all()
    assert (ci90.loc[ok, "upper"] <= ci95.loc[ok, "upper"]).all()
    if name == "liquidation_log_scale":  # symmetric on the log scale
        lse = res.table.loc[ok, "log_std_error"]
        z = stats.norm.ppf(0.975)
        np.testing.assert_allclose(ci95.loc[ok, "lower"], est * np.exp(-z * lse), rtol=1e-12)
        np.testing.assert_allclose(ci95.loc[ok, "lower"] * ci95.loc[ok, "upper"], est**2, rtol=1e-9)
    elif name == "liquidation_simulated":  # percentiles of the parameter draws
        draws = res.extra["draws"]
        np.testing.assert_allclose(ci95["lower"], np.percentile(draws, 2.5, axis=0), rtol=1e-12)
    elif name == "event_study":  # t with each instance's residual degrees of freedom
        dof = res.dataset["dof"].broadcast_like(res.dataset["car"]).to_series()[ok[ok].index]
        half = stats.t.ppf(0.975, dof.to_numpy()) * res.std_errors[ok].to_numpy()
        np.testing.assert_allclose(ci95.loc[ok, "upper"] - est, half, rtol=1e-12)
        p = 2 * stats.t.sf(np.abs(est / res.std_errors[ok]), dof.to_numpy())
        np.testing.assert_allclose(res.pvalues[ok], p, rtol=1e-10)
    else:  # normal
        half = stats.norm.ppf(0.975) * res.std_errors[ok]
        np.testing.assert_allclose(ci95.loc[ok, "upper"] - est, half, rtol=1e-12)
        if name != "liquidation_symmetric":  # linearmodels' own p-values are used there
            p = 2 * stats.norm.sf(np.abs(est / res.std_errors[ok]))
            np.testing.assert_allclose(res.pvalues[ok], p, rtol=1e-10)
    with pytest.raises(ValueError, match="level"):
        res.conf_int(95)


def test_str_and_html_come_from_summary(fitted: tuple[str, Any]) -> None:
    _, res = fitted
    table = res.summary()
    assert isinstance(table, pd.DataFrame)
    assert len(table) > 0
    text, html = str(res), res._repr_html_()
    assert text.startswith(res.title)
    shown = format_table(table)
    assert shown.to_string() in text
    assert shown.to_html(classes="shocklab-table") in html
    for col in table.columns:  # p-values are never printed as 0
        if str(col).startswith("pvalue"):
            assert not (shown[col] == "0").any()
    for col in ("lower (95 %)", "upper (95 %)"):  # interval bounds print as numbers, not as %
        if col in table:
            finite = table[col].dropna()
            assert [format_value(v, "") for v in finite] == list(shown.loc[finite.index, col])


def test_netcdf_round_trip_rebuilds_an_equal_result(
    fitted: tuple[str, Any], tmp_path: Path
) -> None:
    _, res = fitted
    path = tmp_path / "result.nc"
    data = res.to_dataset()
    assert isinstance(data, xr.Dataset)
    data.to_netcdf(path, engine="scipy")
    with xr.open_dataset(path, engine="scipy") as stored:
        back = type(res).from_dataset(stored.load())
    pd.testing.assert_series_equal(
        back.params, res.params, check_names=False, check_index_type=False
    )
    pd.testing.assert_series_equal(
        back.std_errors, res.std_errors, check_names=False, check_index_type=False
    )
    pd.testing.assert_series_equal(
        back.pvalues, res.pvalues, check_names=False, check_index_type=False
    )
    pd.testing.assert_frame_equal(back.conf_int(0.9), res.conf_int(0.9), check_index_type=False)
    assert back.nobs == res.nobs
    np.testing.assert_allclose(
        back.summary().select_dtypes("number").to_numpy(dtype=float),
        res.summary().select_dtypes("number").to_numpy(dtype=float),
        rtol=1e-12,
        equal_nan=True,
    )
    assert str(back) == str(res)

"""Markov-switching coupling regimes and Bai-Perron breaks: published values and simulations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from shocklab.models.breaks import (
    argmax_cdf,
    argmax_quantile,
    global_breaks,
    segment_ssr,
    structural_breaks,
)
from shocklab.models.markov import fit_markov
from shocklab.models.simulate import simulate_switching_regression


def _fedfunds() -> list[float]:
    """The quarterly federal funds rate shipped with statsmodels' Markov-switching tests (read
    as a literal: importing that test module would register its pytest marks here)."""
    import ast
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("statsmodels.tsa.regime_switching.tests")
    assert spec is not None
    assert spec.origin is not None
    source = (Path(spec.origin).parent / "test_markov_regression.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "fedfunds":
            return list(ast.literal_eval(node.value))
    raise AssertionError("fedfunds data not found in statsmodels' tests")


def test_markov_reproduces_stata_fedfunds_example() -> None:
    """Stata 14 manual, ``mswitch dr fedfunds`` (1954Q3-2010Q4): published estimates."""
    fedfunds = _fedfunds()
    ff = pd.Series(
        fedfunds, index=pd.period_range("1954Q3", periods=len(fedfunds), freq="Q").to_timestamp()
    )
    fit = fit_markov(ff, None, switching_variance=False, restarts=4)
    assert fit.llf == pytest.approx(-508.63592, abs=1e-4)
    assert fit.params.loc["low", "const"] == pytest.approx(3.70877, abs=1e-3)
    assert fit.params.loc["high", "const"] == pytest.approx(9.556793, abs=1e-3)
    assert fit.params.loc["low", "sigma2"] == pytest.approx(2.107562**2, rel=1e-4)
    assert fit.transition.loc["low", "low"] == pytest.approx(0.9820939, abs=1e-5)
    assert fit.transition.loc["high", "low"] == pytest.approx(0.0503587, abs=1e-5)
    assert fit.durations["low"] == pytest.approx(1 / (1 - 0.9820939), rel=1e-3)
    assert fit.std_errors.loc["low", "const"] == pytest.approx(0.1767083, rel=0.05)  # Stata OIM se
    assert (fit.restarts["gap_to_best"] < 1e-3).all()


def test_markov_recovers_simulated_regimes_and_forecasts() -> None:
    data, truth = simulate_switching_regression(1500, seed=1)
    fit = fit_markov(data["y"], data["x"], restarts=4)
    assert fit.params.loc["low", "beta"] == pytest.approx(0.2, abs=0.1)
    assert fit.params.loc["high", "beta"] == pytest.approx(1.0, abs=0.15)
    assert fit.params.loc["high", "sigma2"] == pytest.approx(4.0, rel=0.2)
    accuracy = ((fit.most_likely() == "high").to_numpy() == (truth == 1)).mean()
    assert accuracy > 0.88
    assert fit.transition.loc["low", "low"] == pytest.approx(0.98, abs=0.015)
    # forecast: p' P^h from the last filtered probabilities, by hand
    p = fit.filtered.iloc[-1].to_numpy()
    P = fit.transition.to_numpy()
    np.testing.assert_allclose(fit.forecast(3).to_numpy()[2], p @ P @ P @ P)
    np.testing.assert_allclose(fit.forecast(1).sum(axis=1), 1.0)
    origin = data.index[700]
    expected = fit.filtered.loc[origin].to_numpy() @ P
    assert fit.forecast(1, origin=origin).to_numpy()[0] == pytest.approx(expected)
    at = fit.regime_at(data.index[10])
    assert at["smoothed"].sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="outside the time axis"):
        fit.regime_at("1990-01-01")
    # a date without a bar of its own: the last sample before it (or an error on request)
    saturday = data.index[10] + pd.Timedelta(days=(5 - data.index[10].day_of_week) % 7)
    assert saturday not in data.index  # business-day sample
    before = data.index[data.index < saturday][-1]
    assert fit.regime_at(saturday).index.name == f"regime at {before.date()}"
    with pytest.raises(ValueError, match="Saturday"):
        fit.regime_at(saturday, non_trading="error")
    with pytest.raises(ValueError, match="at least"):
        fit_markov(data["y"].iloc[:30], data["x"].iloc[:30])


def test_markov_forecast_matches_statsmodels_predicted_probabilities() -> None:
    """statsmodels' predicted P(s_t | F_{t-1}) is exactly our one-step forecast from t-1."""
    data, _ = simulate_switching_regression(600, seed=2)
    fit = fit_markov(data["y"], data["x"], restarts=2)
    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

    model = MarkovRegression(
        data["y"].to_numpy(), 2, exog=data[["x"]].to_numpy(), switching_variance=True
    )
    res = model.fit(disp=False)
    pred = np.asarray(res.predicted_marginal_probabilities)
    filt = np.asarray(res.filtered_marginal_probabilities)
    P = np.asarray(res.regime_transition)[:, :, 0].T
    np.testing.assert_allclose(filt[299] @ P, pred[300], rtol=1e-10)
    # and our result (sorted regimes) agrees with the same fit up to the label order
    lows = fit.filtered["low"].to_numpy()
    matches = [np.abs(lows - filt[:, j]).max() for j in range(2)]
    assert min(matches) < 1e-4


def test_argmax_distribution_matches_bai_1997() -> None:
    assert argmax_cdf(0.0) == 0.5
    assert argmax_quantile(0.975) == pytest.approx(11.03, abs=0.01)  # Bai (1997), 95 % interval
    assert argmax_quantile(0.95) == pytest.approx(7.69, abs=0.01)  # 90 % interval
    assert argmax_cdf(-3.0) == pytest.approx(1 - argmax_cdf(3.0))


def test_dynamic_programme_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    T, h = 120, 15
    x = rng.standard_normal(T)
    y = np.where(np.arange(T) < 50, 0.0, 1.0) * x + rng.standard_normal(T)
    X = np.column_stack([np.ones(T), x])
    ssr = segment_ssr(y, X, h)
    assert ssr[3, 40] == pytest.approx(sm.OLS(y[3:41], X[3:41]).fit().ssr)
    total, pts = global_breaks(ssr, 2, h)
    best = min(
        (
            sm.OLS(y[: a + 1], X[: a + 1]).fit().ssr
            + sm.OLS(y[a + 1 : b + 1], X[a + 1 : b + 1]).fit().ssr
            + sm.OLS(y[b + 1 :], X[b + 1 :]).fit().ssr,
            a,
            b,
        )
        for a in range(h - 1, T - 2 * h)
        for b in range(a + h, T - h)
    )
    assert total == pytest.approx(best[0])
    assert pts == [best[1], best[2]]


def test_breaks_recovered_with_covering_intervals() -> None:
    rng = np.random.default_rng(0)
    T = 1000
    t = np.arange(T)
    x = rng.standard_normal(T)
    beta = np.where(t < 300, 0.1, np.where(t < 700, 0.8, 0.3))
    y = beta * x + 0.8 * rng.standard_normal(T)
    idx = pd.bdate_range("2020-01-01", periods=T)
    fit = structural_breaks(pd.Series(y, idx), pd.Series(x, idx))
    assert fit.n_breaks == 2
    assert abs(fit.breaks["index"].iloc[0] - 299) <= 10
    assert abs(fit.breaks["index"].iloc[1] - 699) <= 10
    for j, true in enumerate([299, 699]):
        assert fit.breaks["lo"].iloc[j] <= idx[true] <= fit.breaks["hi"].iloc[j]
    err = np.abs(fit.segments["beta"].to_numpy() - [0.1, 0.8, 0.3])
    assert (err < 4 * fit.segments["beta_se"].to_numpy()).all()
    none = structural_breaks(pd.Series(0.5 * x + rng.standard_normal(T), idx), pd.Series(x, idx))
    assert none.n_breaks == 0
    with pytest.raises(ValueError, match="trim"):
        structural_breaks(pd.Series(y[:20], idx[:20]), trim=0.1)


def test_break_interval_coverage() -> None:
    """One mean break of 1 sd at T/2 in T = 200: the 95 % interval covers it ~95 % of the time."""
    rng = np.random.default_rng(11)
    T, reps, hits = 200, 150, 0
    idx = pd.RangeIndex(T)
    for _ in range(reps):
        y = (np.arange(T) >= 100) * 1.0 + rng.standard_normal(T)
        fit = structural_breaks(pd.Series(y, idx), n_breaks=1, max_breaks=1)
        hits += fit.breaks["lo"].iloc[0] <= 99 <= fit.breaks["hi"].iloc[0]
    assert 0.88 <= hits / reps <= 1.0


def test_contagion_window_is_validated() -> None:
    from pydantic import ValidationError

    from shocklab.events import Windows

    assert Windows().contagion == (0, 20)
    with pytest.raises(ValidationError, match="at least 10"):
        Windows(contagion=(0, 5))

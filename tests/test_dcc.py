"""DCC / cDCC-GARCH: recursions, likelihood, and recovery of simulated parameters."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from scipy import stats

from shocklab.data import DataQualityWarning
from shocklab.models import dcc
from shocklab.models.simulate import simulate_dcc

CORR = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.4], [0.3, 0.4, 1.0]])


def _loop(a: float, b: float, z: np.ndarray, S: np.ndarray, corrected: bool) -> np.ndarray:
    T, N = z.shape
    Q = S.copy()
    out = np.empty((T, N, N))
    for t in range(T):
        if t > 0:
            prev = z[t - 1] * np.sqrt(np.diag(Q)) if corrected else z[t - 1]
            Q = (1 - a - b) * S + a * np.outer(prev, prev) + b * Q
        d = np.sqrt(np.diag(Q))
        out[t] = Q / np.outer(d, d)
    return out


@pytest.mark.parametrize("method", ["dcc", "cdcc"])
def test_recursion_and_likelihood_by_hand(method: str) -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((300, 3)) @ np.linalg.cholesky(CORR).T
    a, b = 0.04, 0.93
    S = dcc.dcc_target(a, b, z, method)
    _, R = dcc.dcc_correlations(a, b, z, method, S)
    np.testing.assert_allclose(R, _loop(a, b, z, S, method == "cdcc"), rtol=1e-10)
    # correlation log-likelihood = log N(z; 0, R_t) - log N(z; 0, I), summed
    want = sum(
        stats.multivariate_normal(cov=R[t]).logpdf(z[t])
        - stats.multivariate_normal(cov=np.eye(3)).logpdf(z[t])
        for t in range(len(z))
    )
    assert dcc.dcc_loglik(a, b, z, method) == pytest.approx(want, rel=1e-10)
    if method == "cdcc":  # Aielli: S is the correlation of z* = diag(Q)^{1/2} z
        q = np.array([np.diag(_loop_q(a, b, z, S)[t]) for t in range(len(z))])
        zs = z * np.sqrt(q)
        m = zs.T @ zs / len(z)
        d = np.sqrt(np.diag(m))
        np.testing.assert_allclose(S, m / np.outer(d, d), rtol=1e-10)


def _loop_q(a: float, b: float, z: np.ndarray, S: np.ndarray) -> np.ndarray:
    T, N = z.shape
    Q = S.copy()
    out = np.empty((T, N, N))
    for t in range(T):
        if t > 0:
            prev = z[t - 1] * np.sqrt(np.diag(Q))
            Q = (1 - a - b) * S + a * np.outer(prev, prev) + b * Q
        out[t] = Q
    return out


@pytest.mark.parametrize("method", ["dcc", "cdcc"])
def test_recovers_simulated_parameters(method: str) -> None:
    """T = 3000, truth a = 0.05, b = 0.90: estimates within 0.015 / 0.03 and 3 robust se;
    the likelihood at the truth (and at nearby points) is not above the fitted maximum."""
    returns = simulate_dcc(3000, CORR, a=0.05, b=0.9, method=method, seed=3)
    fit = dcc.fit_dcc(returns, method)
    est, se = fit.params, fit.std_errors
    assert fit.converged
    assert abs(est["a"] - 0.05) < 0.015
    assert abs(est["b"] - 0.90) < 0.03
    assert abs(est["a"] - 0.05) < 3 * se["a"]
    assert abs(est["b"] - 0.90) < 3 * se["b"]
    _, zf, _ = dcc.garch_step(returns)
    z = zf.to_numpy()
    assert dcc.dcc_loglik(0.05, 0.9, z, method) <= fit.llf + 1e-8
    a, b = est["a"], est["b"]
    for da, db in [(0.005, 0), (-0.005, 0), (0, 0.01), (0, -0.01)]:
        assert dcc.dcc_loglik(a + da, b + db, z, method) <= fit.llf + 1e-8
    np.testing.assert_allclose(fit.target.to_numpy(), CORR, atol=0.1)  # persistent R_t: noisy
    # path object: symmetric, unit diagonal, the pair accessor agrees
    R = fit.correlation.values
    np.testing.assert_allclose(R, R.transpose(0, 2, 1))
    np.testing.assert_allclose(np.einsum("tii->ti", R), 1.0)
    assert fit.pair("A0", "A1").iloc[-1] == pytest.approx(R[-1, 0, 1])
    assert list(fit.pairs(["A0"], ["A1", "A2"])["pair"].values) == ["A0~A1", "A0~A2"]


def test_univariate_step_is_arch() -> None:
    returns = simulate_dcc(800, CORR[:2, :2], seed=4)
    table, z, vol = dcc.garch_step(returns)
    res = arch_model(100 * returns["A1"], mean="Constant", vol="GARCH", p=1, q=1).fit(disp="off")
    np.testing.assert_allclose(vol["A1"], res.conditional_volatility / 100, rtol=1e-10)
    np.testing.assert_allclose(z["A1"], res.std_resid, rtol=1e-10)
    assert table.loc["A1", "beta"] == pytest.approx(res.params["beta[1]"])


def test_bad_inputs_are_named() -> None:
    returns = simulate_dcc(400, CORR[:2, :2], seed=5)
    with pytest.raises(ValueError, match="fewer than 500 returns"):
        dcc.fit_dcc(returns, min_obs=500)
    holes = returns.copy()
    holes.iloc[[10, 20, 30], 0] = np.nan
    with pytest.warns(DataQualityWarning, match="3 of 400 dates dropped"):
        fit = dcc.fit_dcc(holes)
    assert fit.nobs == 397
    flat = returns.assign(A1=0.0)
    with pytest.raises(ValueError, match="constant returns"):
        dcc.fit_dcc(flat)
    with pytest.raises(ValueError, match="'dcc' or 'cdcc'"):
        dcc.fit_dcc(returns, "adcc")
    short = pd.DataFrame(
        {"A0": returns["A0"], "A1": returns["A1"].where(returns.index.year > 3000)}
    )
    with warnings.catch_warnings(), pytest.raises(ValueError, match="fewer than 250 returns"):
        dcc.fit_dcc(short)


def test_paths_hold_only_dates_with_every_return() -> None:
    """A2 ends 100 dates early, A1 starts late, A0 has a 15-date gap: the correlation and
    volatility paths (and pair/pairs) hold exactly the complete dates -- none past A2's last
    return, none before A1's first, none in A0's gap -- and equal an independent two-step
    computation (arch per asset on the complete dates, then the explicit DCC loop)."""
    returns = simulate_dcc(700, CORR, seed=6)
    returns.iloc[600:, 2] = np.nan
    returns.iloc[:20, 1] = np.nan
    returns.iloc[300:315, 0] = np.nan
    with pytest.warns(DataQualityWarning, match="135 of 700 dates dropped"):
        fit = dcc.fit_dcc(returns)
    complete = returns.dropna().index
    time = pd.DatetimeIndex(fit.correlation["time"].values)
    assert time.equals(complete)
    assert time[-1] == returns["A2"].last_valid_index()
    assert time[0] == returns["A1"].first_valid_index()
    assert not time.isin(returns.index[300:315]).any()
    assert pd.DatetimeIndex(fit.volatility["time"].values).equals(complete)
    path = fit.pair("A0", "A2")
    assert path.index.equals(complete)
    assert np.isfinite(path.to_numpy()).all()
    both = fit.pairs(["A0", "A1"], ["A2"])
    assert pd.DatetimeIndex(both["time"].values).equals(complete)
    assert np.isfinite(both.values).all()
    z = np.column_stack(
        [
            arch_model(100 * returns.loc[complete, c], mean="Constant", vol="GARCH", p=1, q=1)
            .fit(disp="off")
            .std_resid.to_numpy()
            for c in returns.columns
        ]
    )
    m = z.T @ z / len(z)
    S = m / np.sqrt(np.outer(np.diag(m), np.diag(m)))
    a, b = fit.params["a"], fit.params["b"]
    want = _loop(a, b, z, S, corrected=False)
    np.testing.assert_allclose(fit.correlation.values, want, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(both.sel(pair="A1~A2").values, want[:, 1, 2], rtol=1e-8)

"""Simulated data with a known truth: market-model panels for the event-study tests (size and
power) and DCC-GARCH returns and
switching regressions for the correlation and regime models.

Used by the benchmark ``benchmarks/bench_event_study.py`` and the slow tests; handy for users who
want the size or power of a test for their own N, window and correlation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr


def simulate_market_model_panel(
    n_groups: int,
    n_assets: int,
    n_bars: int,
    *,
    rho: float = 0.0,
    effect: float = 0.0,
    event_at: int | None = None,
    seed: int = 0,
) -> xr.DataArray:
    """Log returns ``(time, asset)`` of ``n_groups`` independent cross-sections plus ``MKT``.

    Each asset follows ``r = 0.0002 + beta * m + e`` with ``beta ~ U(0.5, 1.5)``,
    ``sd(e) ~ U(1 %, 3 %)``. Within a group the residuals share a group factor so that their
    pairwise correlation is ``rho`` (``e = s (sqrt(rho) c_g + sqrt(1 - rho) u)``); groups are
    independent, so one event-study call with ``groups=`` gives ``n_groups`` Monte Carlo
    replications. ``effect`` is added to every asset's return at ``event_at`` (default: the
    bar 6 before the end). Assets are named ``g{group}_{i}``; the group coordinate says which.
    """
    if not 0.0 <= rho < 1.0:
        msg = f"rho must be in [0, 1), not {rho}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    n_total = n_groups * n_assets
    market = rng.normal(0.0003, 0.01, n_bars)
    beta = rng.uniform(0.5, 1.5, n_total)
    scale = rng.uniform(0.01, 0.03, n_total)
    common = np.repeat(rng.standard_normal((n_bars, n_groups)), n_assets, axis=1)
    own = rng.standard_normal((n_bars, n_total))
    resid = scale * (np.sqrt(rho) * common + np.sqrt(1.0 - rho) * own)
    r = 0.0002 + market[:, None] * beta + resid
    r[n_bars - 6 if event_at is None else event_at] += effect
    names = [f"g{g}_{i}" for g in range(n_groups) for i in range(n_assets)]
    groups = [f"g{g}" for g in range(n_groups) for _ in range(n_assets)]
    return xr.DataArray(
        np.column_stack([r, market]),
        dims=("time", "asset"),
        coords={
            "time": pd.bdate_range("2000-01-03", periods=n_bars),
            "asset": [*names, "MKT"],
            "group": ("asset", [*groups, ""]),
        },
        attrs={"kind": "log"},
    )


def simulate_dcc(
    n_obs: int,
    corr: np.ndarray[Any, Any],
    *,
    a: float = 0.05,
    b: float = 0.9,
    garch: tuple[float, float, float] = (0.05, 0.08, 0.9),
    method: str = "dcc",
    burn: int = 500,
    seed: int = 0,
) -> pd.DataFrame:
    """Returns from a DCC (or cDCC) GARCH(1,1) with Gaussian shocks and a known truth.

    Each asset has ``sigma2_t = omega + alpha e_{t-1}^2 + beta sigma2_{t-1}`` in percent units
    (``garch = (omega, alpha, beta)``); ``z_t ~ N(0, R_t)`` with ``R_t`` from ``Q_t`` (DCC or
    cDCC recursion with target ``corr``); returns are ``sigma_t z_t / 100``. ``burn`` start-up
    draws are discarded.
    """
    corr = np.asarray(corr, dtype=float)
    n = corr.shape[0]
    rng = np.random.default_rng(seed)
    omega, alpha, beta = garch
    total = n_obs + burn
    sigma2 = np.full(n, omega / (1 - alpha - beta))
    Q = corr.copy()
    z_prev = np.zeros(n)
    q_prev_diag = np.ones(n)
    out = np.empty((total, n))
    for t in range(total):
        if t > 0:
            zs = z_prev * np.sqrt(q_prev_diag) if method == "cdcc" else z_prev
            Q = (1 - a - b) * corr + a * np.outer(zs, zs) + b * Q
        d = np.sqrt(np.diag(Q))
        R = Q / np.outer(d, d)
        z = np.linalg.cholesky(R) @ rng.standard_normal(n)
        e = np.sqrt(sigma2) * z
        out[t] = e
        sigma2 = omega + alpha * e * e + beta * sigma2
        z_prev, q_prev_diag = z, np.diag(Q).copy()
    index = pd.bdate_range("2000-01-03", periods=n_obs, name="time")
    return pd.DataFrame(out[burn:] / 100, index=index, columns=[f"A{i}" for i in range(n)])


def simulate_switching_regression(
    n_obs: int,
    *,
    const: tuple[float, ...] = (0.0, 0.0),
    beta: tuple[float, ...] = (0.2, 1.0),
    sigma: tuple[float, ...] = (1.0, 2.0),
    stay: tuple[float, ...] = (0.98, 0.95),
    seed: int = 0,
) -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    """``(frame with y, x; true regime path)`` from a switching regression with known truth.

    The chain stays in regime ``i`` with probability ``stay[i]`` and otherwise moves to the next
    regime (cyclically); ``x ~ N(0, 1)``.
    """
    rng = np.random.default_rng(seed)
    k = len(beta)
    s = np.empty(n_obs, dtype=int)
    s[0] = 0
    for t in range(1, n_obs):
        s[t] = s[t - 1] if rng.random() < stay[s[t - 1]] else (s[t - 1] + 1) % k
    x = rng.standard_normal(n_obs)
    e = rng.standard_normal(n_obs) * np.asarray(sigma)[s]
    y = np.asarray(const)[s] + np.asarray(beta)[s] * x + e
    index = pd.bdate_range("2010-01-04", periods=n_obs, name="time")
    return pd.DataFrame({"y": y, "x": x}, index=index), s

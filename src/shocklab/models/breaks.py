"""Structural breaks in a coupling regression, Bai--Perron style.

``y_t = c_j + beta_j x_t + e_t`` for ``t`` in segment ``j`` (a pure structural-change model: all
coefficients break). Steps (Bai and Perron 1998, 2003):

1. the sum of squared residuals of every admissible segment (length >= ``h = trim * T``) from
   cumulative cross-products, one batched solve per segment start;
2. the global minimisers of the total SSR for ``m = 0 .. max_breaks`` breaks by dynamic
   programming (exact, not greedy);
3. the number of breaks by BIC (``ln(SSR_m / T) + p* ln T / T``) or LWZ
   (``ln(SSR_m / (T - p*)) + p* 0.299 (ln T)^2.1 / T``), ``p* = (m + 1) q + m``; the F statistic
   of ``m`` breaks against none is reported for reference (no critical-value table is shipped);
4. confidence intervals for each break date from Bai (1997): with ``delta`` the coefficient
   change, ``Q = X'X / T`` and ``sigma^2`` the pooled residual variance,
   ``(delta' Q delta / sigma^2) (T_hat - T_0)`` converges to ``argmax_s W(s) - |s| / 2``, whose
   CDF is closed-form (:func:`argmax_cdf`); the 95 % interval is
   ``T_hat +- 11.03 sigma^2 / (delta' Q delta)``, rounded outwards. This assumes the regressor
   moments and error variance do not change across the break (the homogeneous case); with large
   variance shifts the intervals are approximate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

Array = np.ndarray[Any, Any]


def argmax_cdf(x: float) -> float:
    """``P(argmax_s W(s) - |s|/2 <= x)`` (Bai 1997; Yao 1987), two-sided Brownian motion."""
    if x <= 0:
        return 1.0 - argmax_cdf(-x) if x < 0 else 0.5
    r = np.sqrt(x)
    term = np.exp(x + stats.norm.logcdf(-1.5 * r))
    g = (
        1
        + np.sqrt(x / (2 * np.pi)) * np.exp(-x / 8)
        + 1.5 * term
        - (x + 5) / 2 * stats.norm.cdf(-r / 2)
    )
    return float(g)


def argmax_quantile(p: float) -> float:
    """Quantile of the argmax distribution (``p = 0.975`` gives Bai's 11.03)."""
    if not 0.5 < p < 1:
        msg = f"p={p} must lie in (0.5, 1)"
        raise ValueError(msg)
    return float(optimize.brentq(lambda v: argmax_cdf(v) - p, 1e-9, 500.0))


def segment_ssr(y: Array, X: Array, h: int) -> Array:
    """``ssr[i, j]``: SSR of OLS on rows ``i..j`` (inclusive); ``inf`` for segments shorter than h."""
    T, q = X.shape
    cxx = np.concatenate([np.zeros((1, q, q)), np.cumsum(np.einsum("ti,tj->tij", X, X), axis=0)])
    cxy = np.concatenate([np.zeros((1, q)), np.cumsum(X * y[:, None], axis=0)])
    cyy = np.concatenate([[0.0], np.cumsum(y * y)])
    ssr = np.full((T, T), np.inf)
    for i in range(T - h + 1):
        ends = np.arange(i + h - 1, T)
        xx = cxx[ends + 1] - cxx[i]
        xy = cxy[ends + 1] - cxy[i]
        yy = cyy[ends + 1] - cyy[i]
        try:
            coef = np.linalg.solve(xx, xy[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            coef = np.einsum("tij,tj->ti", np.linalg.pinv(xx), xy)
        ssr[i, ends] = np.maximum(yy - np.einsum("ti,ti->t", coef, xy), 0.0)
    return ssr


def global_breaks(ssr: Array, m: int, h: int) -> tuple[float, list[int]]:
    """Break points (last row of each segment but the last) minimising the total SSR."""
    T = ssr.shape[0]
    if (m + 1) * h > T:
        return np.inf, []
    best = ssr[0].copy()  # best[j]: one segment 0..j
    back: list[Array] = []
    for _ in range(m):
        # new[j] = min_b best[b] + ssr[b + 1, j]
        shifted = np.full((T, T), np.inf)
        shifted[:-1] = ssr[1:]
        total = best[:, None] + shifted
        arg = np.argmin(total, axis=0)
        best = total[arg, np.arange(T)]
        back.append(arg)
    points, j = [], T - 1
    for arg in reversed(back):
        j = int(arg[j])
        points.append(j)
    return float(best[T - 1]), sorted(points)


@dataclass(frozen=True)
class BreaksResult:
    """Estimated breaks, segment coefficients and the model-selection table."""

    breaks: pd.DataFrame
    segments: pd.DataFrame
    selection: pd.DataFrame
    n_breaks: int
    criterion: str
    trim: float
    level: float


def structural_breaks(
    y: pd.Series,
    x: pd.Series | None = None,
    *,
    max_breaks: int = 5,
    trim: float = 0.15,
    criterion: Literal["bic", "lwz"] = "bic",
    level: float = 0.95,
    n_breaks: int | None = None,
) -> BreaksResult:
    """Bai--Perron breaks in ``y = c + beta x + e`` (constant only when ``x`` is None).

    ``trim`` is the minimum segment length as a share of the sample; ``n_breaks`` fixes the
    number of breaks instead of choosing it by ``criterion``. Break dates are the last date of
    the segment before the break.
    """
    import statsmodels.api as sm

    frame = pd.concat({"y": y, **({"x": x} if x is not None else {})}, axis=1).dropna()
    T = len(frame)
    h = int(np.floor(trim * T))
    if not 0 < trim < 0.5 or h < 5:
        msg = f"trim={trim} with {T} observations gives segments of {h} bars; need >= 5 and trim < 0.5"
        raise ValueError(msg)
    yv = frame["y"].to_numpy(float)
    X = (
        np.column_stack([np.ones(T), frame["x"].to_numpy(float)])
        if x is not None
        else np.ones((T, 1))
    )
    q = X.shape[1]
    ssr = segment_ssr(yv, X, h)
    max_breaks = min(max_breaks, T // h - 1)
    rows, points = [], {}
    ssr0 = float(ssr[0, T - 1])
    for m in range(max_breaks + 1):
        total, pts = global_breaks(ssr, m, h)
        points[m] = pts
        p = (m + 1) * q + m
        f = ((ssr0 - total) / (m * q)) / (total / (T - (m + 1) * q)) if m else np.nan
        rows.append(
            {
                "breaks": m,
                "ssr": total,
                "bic": np.log(total / T) + p * np.log(T) / T,
                "lwz": np.log(total / (T - p)) + p * 0.299 * np.log(T) ** 2.1 / T,
                "F_vs_0": f,
            }
        )
    selection = pd.DataFrame(rows).set_index("breaks")
    chosen = int(np.argmin(selection[criterion].to_numpy())) if n_breaks is None else n_breaks
    if chosen not in points:
        msg = f"n_breaks={chosen} is not feasible with trim={trim}; at most {max_breaks}"
        raise ValueError(msg)
    pts = points[chosen]
    bounds = [-1, *pts, T - 1]
    segs, coefs = [], []
    for j in range(len(bounds) - 1):
        lo, hi = bounds[j] + 1, bounds[j + 1]
        res = sm.OLS(yv[lo : hi + 1], X[lo : hi + 1]).fit(cov_type="HC1")
        coefs.append(np.asarray(res.params))
        row = {
            "start": frame.index[lo],
            "end": frame.index[hi],
            "nobs": hi - lo + 1,
            "const": res.params[0],
            "const_se": res.bse[0],
        }
        if q == 2:
            row.update(beta=res.params[1], beta_se=res.bse[1])
        row["sigma2"] = float(res.ssr / (hi - lo + 1))
        segs.append(row)
    segments = pd.DataFrame(segs).rename_axis("segment")
    total_ssr = float(selection["ssr"].to_numpy()[chosen])
    sigma2 = total_ssr / (T - (chosen + 1) * q)
    Q = X.T @ X / T
    c = argmax_quantile(0.5 + level / 2)
    brk = []
    for j, tb in enumerate(pts):
        delta = coefs[j + 1] - coefs[j]
        scale = float(delta @ Q @ delta) / sigma2
        half = int(np.ceil(c / scale)) if scale > 0 else T
        lo_i, hi_i = max(tb - half - 1, 0), min(tb + half + 1, T - 1)
        brk.append(
            {
                "index": tb,
                "date": frame.index[tb],
                "lo": frame.index[lo_i],
                "hi": frame.index[hi_i],
                "half_width_bars": half,
            }
        )
    breaks = pd.DataFrame(
        brk, columns=["index", "date", "lo", "hi", "half_width_bars"]
    ).rename_axis("break")
    return BreaksResult(breaks, segments, selection, chosen, criterion, trim, level)

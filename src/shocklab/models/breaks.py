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
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import xarray as xr
from scipy import optimize, stats

from shocklab.models.results import Results, pack_tables, unpack_table

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
class BreaksResult(Results):
    """Estimated breaks, segment coefficients and the model-selection table.

    ``breaks``: one row per break (the last date of the segment before it, with its ``level``
    confidence interval ``lo`` .. ``hi``); ``segments``: per segment, dates, N and the OLS
    coefficients with HC1 standard errors; ``selection``: the criterion for 0 .. max breaks.

    Results contract (:mod:`shocklab.models.results`): ``params`` and ``std_errors`` are the
    segments' coefficients, a Series on ``(segment, parameter)``; p-values and intervals use the
    normal distribution (HC1 errors); ``nobs`` is the sample length.
    """

    title: ClassVar[str] = "Bai-Perron structural breaks"

    breaks: pd.DataFrame
    segments: pd.DataFrame
    selection: pd.DataFrame
    n_breaks: int
    criterion: str
    trim: float
    level: float

    def _coefficients(self, suffix: str) -> pd.Series:
        names = [c for c in ("const", "beta") if c in self.segments]
        values = {
            (seg, name): float(row[f"{name}{suffix}"])
            for seg, row in self.segments.iterrows()
            for name in names
        }
        index = pd.MultiIndex.from_tuples(list(values), names=["segment", "parameter"])
        return pd.Series(list(values.values()), index=index, dtype=float)

    @property
    def params(self) -> pd.Series:
        """Each segment's coefficients, ``(segment, parameter)``."""
        return self._coefficients("").rename("estimate")

    @property
    def std_errors(self) -> pd.Series:
        """HC1 standard errors of :attr:`params`."""
        return self._coefficients("_se").rename("std_error")

    @property
    def nobs(self) -> int:
        """Observations in the sample (the segments' sum)."""
        return int(self.segments["nobs"].sum())

    def summary(self) -> pd.DataFrame:
        """Per segment and coefficient: the segment's dates and N, estimate, std_error, z,
        p-value and 95 % interval."""
        table = self.inference_table()
        seg = table.index.get_level_values("segment")
        dates = self.segments.loc[seg, ["start", "end", "nobs"]].set_axis(table.index)
        return pd.concat([dates, table], axis=1)

    def _caption(self) -> str:
        if self.n_breaks == 0:
            found = f"no break (the {self.criterion.upper()} prefers zero breaks)"
        else:
            dates = "; ".join(
                f"{pd.Timestamp(r['date']).date()} ({self.level:.0%} interval "
                f"{pd.Timestamp(r['lo']).date()} .. {pd.Timestamp(r['hi']).date()})"
                for _, r in self.breaks.iterrows()
            )
            found = f"{self.n_breaks} break(s) chosen by the {self.criterion.upper()}: {dates}"
        return f"{found}; {self.nobs} observations, trimming {self.trim:.0%}"

    def to_dataset(self) -> xr.Dataset:
        """Breaks, segments and the selection table in one Dataset (netCDF-ready)."""
        ds = pack_tables(
            {"breaks": self.breaks, "segments": self.segments, "selection": self.selection}
        )
        ds.attrs.update(
            title="shocklab structural breaks",
            n_breaks=self.n_breaks,
            criterion=self.criterion,
            trim=self.trim,
            level=self.level,
        )
        return ds

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> BreaksResult:
        """Rebuild a result from :meth:`to_dataset` output."""
        return cls(
            breaks=unpack_table(ds, "breaks"),
            segments=unpack_table(ds, "segments"),
            selection=unpack_table(ds, "selection"),
            n_breaks=int(ds.attrs["n_breaks"]),
            criterion=str(ds.attrs["criterion"]),
            trim=float(ds.attrs["trim"]),
            level=float(ds.attrs["level"]),
        )


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

"""DCC-GARCH (Engle 2002) and corrected DCC (Aielli 2013), estimated in two steps.

Step 1 fits a GARCH(1,1) with constant mean and normal errors to every asset with ``arch``
(returns in percent) and standardises the residuals, ``z_t = e_t / sigma_t``.
Step 2 maximises the correlation part of the Gaussian log-likelihood over ``(a, b)``,
``a, b >= 0, a + b < 1``, with correlation targeting:

- DCC: ``Q_t = (1 - a - b) S + a z_{t-1} z_{t-1}' + b Q_{t-1}``, ``S`` the sample
  correlation of ``z``;
- cDCC: ``Q_t = (1 - a - b) S + a z*_{t-1} z*_{t-1}' + b Q_{t-1}`` with
  ``z*_t = diag(Q_t)^{1/2} z_t``; the diagonal of ``Q`` has its own recursion
  ``q_ii,t = (1 - a - b) + (a z_{i,t-1}^2 + b) q_ii,t-1``, so ``S`` (the sample correlation of
  ``z*``) can be estimated consistently -- the point of Aielli's correction;
- ``R_t = diag(Q_t)^{-1/2} Q_t diag(Q_t)^{-1/2}``, ``Q_0 = S``;
- ``L_C = -1/2 sum_t (log|R_t| + z_t' R_t^{-1} z_t - z_t' z_t)``.

Standard errors of ``(a, b)`` are conditional on step 1 (Engle and Sheppard's correction for
the first step is not applied): the inverse Hessian and a sandwich (inverse Hessian, outer
product of per-observation scores) are both reported.

Nothing past the data: the model runs on the dates on which every asset has a return, and the
paths (``correlation``, ``volatility``, :meth:`DCCResult.pair`, :meth:`DCCResult.pairs`) hold
exactly those dates. They start at the latest first observation among the assets, end at the
earliest last observation (no date after any series' last return, nothing carried forward),
and have no date inside any asset's gap. The recursions treat the complete dates as
consecutive steps: a dropped date is not a step.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import xarray as xr
from scipy import optimize, signal

from shocklab.data import DataQualityWarning
from shocklab.models.results import Results, pack_tables, unpack_table

Method = Literal["dcc", "cdcc"]
Array = np.ndarray[Any, Any]


def _unit_corr(m: Array) -> Array:
    d = np.sqrt(np.diag(m))
    return np.asarray(m / np.outer(d, d))


def _diag_cdcc(a: float, b: float, z: Array) -> Array:
    """``q_ii,t`` of the cDCC: ``(1 - a - b) + (a z_{i,t-1}^2 + b) q_ii,t-1``, ``q_ii,0 = 1``."""
    T, N = z.shape
    q = np.empty((T, N))
    q[0] = 1.0
    coef = a * z * z + b
    c = 1.0 - a - b
    for t in range(1, T):
        q[t] = c + coef[t - 1] * q[t - 1]
    return q


def dcc_target(a: float, b: float, z: Array, method: Method) -> Array:
    """The intercept matrix ``S``: sample correlation of ``z`` (DCC) or of ``z*`` (cDCC)."""
    if method == "dcc":
        return _unit_corr(z.T @ z / len(z))
    zs = z * np.sqrt(_diag_cdcc(a, b, z))
    return _unit_corr(zs.T @ zs / len(z))


def dcc_correlations(
    a: float, b: float, z: Array, method: Method = "dcc", S: Array | None = None
) -> tuple[Array, Array]:
    """``(Q, R)``, each ``(T, N, N)``, for standardised residuals ``z`` of shape ``(T, N)``."""
    T, N = z.shape
    S = dcc_target(a, b, z, method) if S is None else S
    zs = z * np.sqrt(_diag_cdcc(a, b, z)) if method == "cdcc" else z
    outer = np.einsum("ti,tj->tij", zs, zs).reshape(T, N * N)
    # Q_t = b Q_{t-1} + u_t with u_t = (1-a-b) S + a zs_{t-1} zs_{t-1}' (linear: one lfilter)
    u = np.empty_like(outer)
    u[1:] = (1 - a - b) * S.reshape(1, -1) + a * outer[:-1]
    u[0] = S.reshape(-1)
    Q = signal.lfilter([1.0], [1.0, -b], u, axis=0).reshape(T, N, N)
    d = np.sqrt(np.einsum("tii->ti", Q))
    R = Q / (d[:, :, None] * d[:, None, :])
    return Q, R


def dcc_loglik_obs(a: float, b: float, z: Array, method: Method = "dcc") -> Array:
    """Per-observation correlation log-likelihood ``-1/2 (log|R_t| + z'R^-1 z - z'z)``."""
    _, R = dcc_correlations(a, b, z, method)
    sign, logdet = np.linalg.slogdet(R)
    quad = np.einsum("ti,ti->t", z, np.linalg.solve(R, z[:, :, None])[:, :, 0])
    ll = -0.5 * (logdet + quad - np.einsum("ti,ti->t", z, z))
    return np.where(sign > 0, ll, -np.inf)


def dcc_loglik(a: float, b: float, z: Array, method: Method = "dcc") -> float:
    """Correlation log-likelihood of the DCC/cDCC at ``(a, b)``."""
    return float(dcc_loglik_obs(a, b, z, method).sum())


@dataclass(frozen=True)
class DCCResult(Results):
    """A fitted DCC/cDCC-GARCH(1,1): parameters, paths and the univariate fits.

    ``correlation`` ``(time, asset, asset_b)`` and ``volatility`` ``(time, asset)`` are indexed
    by the complete dates the model was fitted on (every asset has a return), so no path
    extends past the last return of any asset in the system or covers a date one of them is
    missing.

    Results contract (:mod:`shocklab.models.results`): ``params`` ``(a, b)``; ``std_errors``
    the sandwich (QML-robust) standard errors, ``std_errors_nonrobust`` the inverse-Hessian
    ones, both conditional on the first step; ``llf`` the correlation log-likelihood,
    ``llf_total`` adds the univariate GARCH log-likelihoods.
    """

    title: ClassVar[str] = "DCC-GARCH(1,1), two-step"

    method: str
    params: pd.Series
    std_errors: pd.Series
    std_errors_nonrobust: pd.Series
    llf: float
    llf_total: float
    univariate: pd.DataFrame
    correlation: xr.DataArray
    volatility: xr.DataArray
    target: pd.DataFrame
    nobs: int
    converged: bool

    def summary(self) -> pd.DataFrame:
        """``a``, ``b`` and persistence ``a + b``: estimate, the robust standard error (and the
        inverse-Hessian one), z, p-value and the 95 % interval (robust)."""
        table = self.inference_table()
        table.insert(2, "std_error_nonrobust", self.std_errors_nonrobust)
        table.loc["a+b", "estimate"] = float(self.params.sum())
        return table.rename_axis("parameter")

    def _caption(self) -> str:
        return (
            f"{self.method}, {len(self.univariate)} assets, {self.nobs} complete dates; "
            f"correlation log-likelihood {self.llf:.1f} (total {self.llf_total:.1f}); robust "
            f"standard errors conditional on the GARCH step{'' if self.converged else '; NOT converged'}"
        )

    def to_dataset(self) -> xr.Dataset:
        """Parameters, tables and paths in one Dataset (netCDF-ready)."""
        ds = pack_tables(
            {
                "params": pd.DataFrame(
                    {
                        "estimate": self.params,
                        "std_error": self.std_errors,
                        "std_error_nonrobust": self.std_errors_nonrobust,
                    }
                ),
                "univariate": self.univariate,
                "target": self.target,
            }
        )
        ds["correlation"] = self.correlation.rename(None).assign_attrs({})
        ds["volatility"] = self.volatility.rename(None).assign_attrs({})
        ds.attrs.update(
            title="shocklab DCC-GARCH",
            method=self.method,
            llf=self.llf,
            llf_total=self.llf_total,
            nobs=self.nobs,
            converged=int(self.converged),
        )
        return ds

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> DCCResult:
        """Rebuild a result from :meth:`to_dataset` output."""
        params = unpack_table(ds, "params")
        params.index.name = None
        uni = unpack_table(ds, "univariate")
        uni["converged"] = uni["converged"].astype(bool)
        target = unpack_table(ds, "target")
        target.index.name = None
        corr = ds["correlation"].rename("dcc_corr")
        corr.attrs = {
            "method": ds.attrs["method"],
            "a": params.loc["a", "estimate"],
            "b": params.loc["b", "estimate"],
        }
        return cls(
            method=str(ds.attrs["method"]),
            params=params["estimate"].rename("estimate"),
            std_errors=params["std_error"].rename("std_error"),
            std_errors_nonrobust=params["std_error_nonrobust"].rename("std_error_nonrobust"),
            llf=float(ds.attrs["llf"]),
            llf_total=float(ds.attrs["llf_total"]),
            univariate=uni,
            correlation=corr,
            volatility=ds["volatility"].rename("volatility"),
            target=target,
            nobs=int(ds.attrs["nobs"]),
            converged=bool(int(ds.attrs["converged"])),
        )

    def pair(self, left: str, right: str) -> pd.Series:
        """Conditional correlation path of ``left`` and ``right`` (on the fitted dates only)."""
        series = self.correlation.sel(asset=left, asset_b=right).to_series()
        series.name = f"{left}~{right}"
        return series

    def pairs(self, left: Sequence[str], right: Sequence[str]) -> xr.DataArray:
        """Conditional correlations ``(time, pair)`` for every (left, right) combination, on
        the fitted dates only (see :class:`DCCResult`)."""
        combos = [(a, b) for a in left for b in right if a != b]
        data = np.column_stack([self.pair(a, b).to_numpy() for a, b in combos])
        return xr.DataArray(
            data,
            dims=("time", "pair"),
            coords={
                "time": self.correlation["time"].values,
                "pair": [f"{a}~{b}" for a, b in combos],
                "left": ("pair", [a for a, _ in combos]),
                "right": ("pair", [b for _, b in combos]),
            },
            name="dcc_corr",
        )


def garch_step(returns: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Step 1: GARCH(1,1) per column with arch on percent returns.

    Returns the parameter table (mu, omega, alpha, beta, loglik, converged), the standardised
    residuals and the conditional volatilities (in return units, not percent).
    """
    from arch import arch_model

    rows, z, vol = {}, {}, {}
    for name in returns.columns:
        series = 100.0 * returns[name]
        res = arch_model(
            series, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False
        ).fit(disp="off")
        p = res.params
        rows[name] = {
            "mu": p["mu"] / 100,
            "omega": p["omega"],
            "alpha": p["alpha[1]"],
            "beta": p["beta[1]"],
            "loglik": res.loglikelihood - len(series) * np.log(100.0),
            "converged": res.convergence_flag == 0,
        }
        z[name] = res.std_resid
        vol[name] = res.conditional_volatility / 100
    table = pd.DataFrame(rows).T
    table.index.name = "asset"
    return table, pd.DataFrame(z), pd.DataFrame(vol)


def _clean(returns: xr.DataArray | pd.DataFrame, min_obs: int) -> pd.DataFrame:
    frame = returns.to_pandas() if isinstance(returns, xr.DataArray) else returns.copy()
    if not isinstance(frame, pd.DataFrame):
        msg = "returns must be a (time, asset) DataArray or a DataFrame with one column per asset"
        raise TypeError(msg)
    frame = frame.astype(float)
    frame.columns = [str(c) for c in frame.columns]
    dead = [c for c in frame.columns if frame[c].count() < min_obs]
    if dead:
        msg = (
            f"{dead} have fewer than {min_obs} returns; drop them or widen the sample "
            "(DCC needs every asset on every date)"
        )
        raise ValueError(msg)
    complete = frame.dropna()
    dropped = len(frame) - len(complete)
    if dropped:
        warnings.warn(
            f"DCC uses dates on which every asset has a return: {dropped} of {len(frame)} "
            "dates dropped",
            DataQualityWarning,
            stacklevel=3,
        )
    if len(complete) < min_obs:
        msg = f"only {len(complete)} complete dates; DCC needs at least {min_obs}"
        raise ValueError(msg)
    flat = [c for c in complete.columns if complete[c].std() == 0]
    if flat:
        msg = f"{flat} have constant returns; a GARCH model cannot be fitted to them"
        raise ValueError(msg)
    return complete


def fit_dcc(
    returns: xr.DataArray | pd.DataFrame,
    method: Method = "dcc",
    *,
    min_obs: int = 250,
) -> DCCResult:
    """Fit a DCC (Engle 2002) or corrected DCC (Aielli 2013) GARCH(1,1) by two-step ML.

    ``returns`` are simple or log returns ``(time, asset)``; only dates on which every asset has
    a return are used (dropped dates are counted in a :class:`DataQualityWarning`). The
    returned paths hold exactly those dates: none after the earliest last observation of any
    asset (e.g. a stock series that ends while crypto goes on), none before the latest first
    one, none inside a gap; callers that need a calendar axis should reindex without filling.
    """
    if method not in ("dcc", "cdcc"):
        msg = f"method must be 'dcc' or 'cdcc', not {method!r}"
        raise ValueError(msg)
    frame = _clean(returns, min_obs)
    uni, zf, volf = garch_step(frame)
    z = zf.to_numpy()

    def nll(theta: Array) -> float:
        a, b = float(theta[0]), float(theta[1])
        if a < 0 or b < 0 or a + b >= 0.9999:
            return 1e12
        value = -dcc_loglik(a, b, z, method)
        return value if np.isfinite(value) else 1e12

    grid = [(a, b) for a in (0.01, 0.03, 0.06, 0.1) for b in (0.8, 0.9, 0.95) if a + b < 0.999]
    start = min(grid, key=lambda ab: nll(np.asarray(ab)))
    res = optimize.minimize(
        nll,
        np.asarray(start),
        method="SLSQP",
        bounds=[(0.0, 0.999), (0.0, 0.999)],
        constraints=[{"type": "ineq", "fun": lambda th: 0.9999 - 1e-6 - th[0] - th[1]}],
        options={"ftol": 1e-10, "maxiter": 500},
    )
    a, b = float(res.x[0]), float(res.x[1])
    estimate, se_robust, se = _standard_errors(a, b, z, method)
    S = dcc_target(a, b, z, method)
    _, R = dcc_correlations(a, b, z, method, S)
    names = list(frame.columns)
    time = frame.index.to_numpy()
    corr = xr.DataArray(
        R,
        dims=("time", "asset", "asset_b"),
        coords={"time": time, "asset": names, "asset_b": names},
        name="dcc_corr",
        attrs={"method": method, "a": a, "b": b},
    )
    vol = xr.DataArray(
        volf.to_numpy(),
        dims=("time", "asset"),
        coords={"time": time, "asset": names},
        name="volatility",
        attrs={"description": "GARCH(1,1) conditional standard deviation (return units)"},
    )
    ll_c = dcc_loglik(a, b, z, method)
    return DCCResult(
        method=method,
        params=estimate,
        std_errors=se_robust,
        std_errors_nonrobust=se,
        llf=ll_c,
        llf_total=float(uni["loglik"].sum()) + ll_c,
        univariate=uni,
        correlation=corr,
        volatility=vol,
        target=pd.DataFrame(S, index=names, columns=names),
        nobs=len(frame),
        converged=bool(res.success),
    )


def _standard_errors(
    a: float, b: float, z: Array, method: Method
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """``(a, b)``, their sandwich and their inverse-Hessian standard errors (conditional on
    step 1); NaN standard errors on the boundary of the parameter space."""
    from statsmodels.tools.numdiff import approx_fprime, approx_hess3

    theta = np.array([a, b])
    interior = a > 1e-4 and b > 1e-4 and a + b < 0.999

    def ll(th: Array) -> float:
        return dcc_loglik(float(th[0]), float(th[1]), z, method)

    def ll_obs(th: Array) -> Array:
        return dcc_loglik_obs(float(th[0]), float(th[1]), z, method)

    se = np.full(2, np.nan)
    se_robust = np.full(2, np.nan)
    if interior:
        H = approx_hess3(theta, ll, epsilon=1e-5)
        scores = approx_fprime(theta, ll_obs, epsilon=1e-6, centered=True)
        with np.errstate(invalid="ignore"):
            try:
                Hinv = np.linalg.inv(-H)
                se = np.sqrt(np.diag(Hinv))
                se_robust = np.sqrt(np.diag(Hinv @ (scores.T @ scores) @ Hinv))
            except np.linalg.LinAlgError:
                pass
    index = pd.Index(["a", "b"])
    return (
        pd.Series(theta, index=index, name="estimate"),
        pd.Series(se_robust, index=index, name="std_error"),
        pd.Series(se, index=index, name="std_error_nonrobust"),
    )

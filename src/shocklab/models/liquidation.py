"""Liquidation elasticity and cascades on a ``(time, asset)`` derivatives panel.

Input: :func:`shocklab.data.derivatives.liquidation_panel` (or any Dataset with ``ret``,
``long_share``/``short_share`` or ``long_usd``/``short_usd``, at any frequency). Units of every
coefficient are stated where it is returned:

- ``scale="oi"``: liquidations as a share of the previous bar's open interest; elasticities in
  **bp of return per 1 % of open interest liquidated**;
- ``scale="usd"``: liquidations in USD; elasticities in **bp per 100 M USD**.

Methods (docs/methods/liquidation.md): per-asset OLS with Newey-West errors; a panel with asset
fixed effects and Driscoll-Kraay or clustered errors (linearmodels); panel IV (2SLS on
within-demeaned data) with lagged own and other-asset liquidations as instruments; the reverse
(convex, asymmetric) response of liquidations to returns; Jorda local projections; a VAR with
Granger tests, impulse responses and the amplification multiplier of the feedback loop.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
import xarray as xr
from scipy import stats

from shocklab.models.results import Results, _check_level, pack_tables, unpack_table

Scale = Literal["oi", "usd"]
SIDES = ("long", "short")


def _columns(scale: str) -> tuple[str, str, float]:
    if scale == "oi":
        return "long_share", "short_share", 100.0  # per 1 % of OI
    if scale == "usd":
        return "long_usd", "short_usd", 1e-8  # per 100 M USD
    msg = f"scale must be 'oi' or 'usd', not {scale!r}"
    raise ValueError(msg)


def _frame(ds: xr.Dataset, scale: Scale) -> pd.DataFrame:
    """Long frame (asset, time) with ``ret_bp``, ``long``, ``short`` in the chosen units."""
    long_col, short_col, unit = _columns(scale)
    needed = {"ret", long_col, short_col}
    missing = needed - set(ds.data_vars)
    if missing:
        msg = (
            f"the panel lacks {sorted(missing)}; liquidation models need 'ret' and both sides "
            f"({long_col}, {short_col}). A series without a side cannot be split into long "
            "and short: load both, or use scale='usd' with long_usd/short_usd"
        )
        raise ValueError(msg)
    frame = ds[["ret", long_col, short_col]].to_dataframe()[["ret", long_col, short_col]]
    frame = (
        frame.reorder_levels(["asset", "time"]).sort_index()
        if "asset" in frame.index.names
        else frame
    )
    frame = frame.rename(columns={long_col: "long", short_col: "short"})
    frame["ret_bp"] = frame["ret"] * 1e4
    frame["long"] = frame["long"] * unit
    frame["short"] = frame["short"] * unit
    return frame


@dataclass(frozen=True)
class Estimates(Results):
    """Estimates with inference: a tidy ``table`` and model-specific numbers in ``extra``.

    Results contract (:mod:`shocklab.models.results`): the table's ``estimate`` column is
    ``params``, ``std_error`` is ``std_errors`` and ``pvalue`` (when the estimator gives one)
    ``pvalues``; ``nobs`` is ``extra["nobs"]`` or the table's largest ``nobs``. Intervals from
    :meth:`conf_int` are

    - ``estimate * exp(-/+ z * log_std_error)`` when the table has ``log_std_error`` (a
      positive quantity such as a predicted liquidation level: the interval stays positive);
    - percentiles of ``extra["draws"]`` (a ``draw x quantity`` table of parameter draws) when
      the estimator simulates its uncertainty;
    - ``estimate -/+ z * std_error`` otherwise.
    """

    table: pd.DataFrame
    extra: dict[str, Any]
    title: ClassVar[str] = "Liquidation estimates"

    @property
    def params(self) -> pd.Series:
        """The ``estimate`` column."""
        return self.table["estimate"].astype(float)

    @property
    def std_errors(self) -> pd.Series:
        """The ``std_error`` column (NaN where the estimator has none)."""
        if "std_error" in self.table:
            return self.table["std_error"].astype(float)
        return pd.Series(np.nan, index=self.table.index, name="std_error")

    @property
    def pvalues(self) -> pd.Series:
        """The estimator's p-values, else two-sided normal p-values of estimate / std_error."""
        if "pvalue" in self.table:
            return self.table["pvalue"].astype(float)
        return super().pvalues

    @property
    def nobs(self) -> int:
        """Observations used (``extra["nobs"]``, else the table's largest ``nobs``)."""
        if "nobs" in self.extra:
            return int(self.extra["nobs"])
        return int(self.table["nobs"].max()) if "nobs" in self.table else 0

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """``level`` intervals (columns ``lower``, ``upper``); see the class docstring."""
        _check_level(level)
        z = float(stats.norm.ppf(0.5 + level / 2))
        est = self.params
        if "log_std_error" in self.table:
            lse = self.table["log_std_error"].astype(float)
            return pd.DataFrame({"lower": est * np.exp(-z * lse), "upper": est * np.exp(z * lse)})
        draws = self.extra.get("draws")
        if isinstance(draws, pd.DataFrame):
            tail = 50 * (1 - level)
            return pd.DataFrame(
                {
                    "lower": np.nanpercentile(draws.to_numpy(), tail, axis=0),
                    "upper": np.nanpercentile(draws.to_numpy(), 100 - tail, axis=0),
                },
                index=pd.Index(draws.columns, name=est.index.name),
            ).reindex(est.index)
        return super().conf_int(level)

    def summary(self) -> pd.DataFrame:
        """The table with 95 % interval columns (internal columns such as ``log_std_error``
        left out)."""
        ci = self.conf_int()
        table = self.table.drop(columns=["log_std_error"], errors="ignore").copy()
        at = list(table.columns).index("estimate") + 1
        if "std_error" in table:
            at = list(table.columns).index("std_error") + 1
        table.insert(at, "lower (95 %)", ci["lower"])
        table.insert(at + 1, "upper (95 %)", ci["upper"])
        return table

    def _caption(self) -> str:
        keys = ("estimator", "cov", "scale", "units", "shock", "response", "lags")
        bits = [f"{k} {self.extra[k]}" for k in keys if k in self.extra]
        return "; ".join([*bits, f"{self.nobs} observations"])

    def to_dataset(self) -> xr.Dataset:
        """The table, every extra table/array and the scalar extras in one Dataset."""
        tables: dict[str, pd.DataFrame | pd.Series] = {"table": self.table}
        scalars: dict[str, Any] = {}
        arrays: dict[str, np.ndarray] = {}
        for key, value in self.extra.items():
            if isinstance(value, pd.DataFrame | pd.Series):
                tables[f"extra.{key}"] = value
            elif isinstance(value, np.ndarray):
                arrays[key] = value
            else:
                scalars[key] = value.item() if isinstance(value, np.generic) else value
        ds = pack_tables(tables)
        for key, value in arrays.items():
            ds[f"extra.{key}"] = ([f"extra.{key}.dim_{i}" for i in range(value.ndim)], value)
        ds.attrs["extra"] = json.dumps(scalars)
        ds.attrs["extra_tables"] = json.dumps([k for k in tables if k != "table"])
        ds.attrs["title"] = "shocklab liquidation estimates"
        return ds

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> Estimates:
        """Rebuild estimates from :meth:`to_dataset` output."""
        extra: dict[str, Any] = json.loads(ds.attrs.get("extra", "{}"))
        for name in json.loads(ds.attrs.get("extra_tables", "[]")):
            extra[name.removeprefix("extra.")] = unpack_table(ds, name)
        for name in ds.data_vars:
            name = str(name)
            if name.startswith("extra.") and f"{name}.dim_0" in ds[name].dims:
                extra[name.removeprefix("extra.")] = ds[name].to_numpy()
        return cls(unpack_table(ds, "table"), extra)


def elasticity(
    ds: xr.Dataset, *, scale: Scale = "oi", maxlags: int = 5, min_obs: int = 60
) -> Estimates:
    """Per-asset OLS ``ret_bp = a + b_long long + b_short short + e`` with HAC (Newey-West) errors.

    Returns one row per (asset, side): coefficient (bp per unit of ``scale``), HAC se, t, p, N.
    Long liquidations are forced *sells*: a causal price-impact reading expects ``b_long < 0``;
    same-period OLS also picks up the reverse channel (falling prices liquidate longs), see
    :func:`iv_elasticity`.
    """
    frame = _frame(ds, scale).dropna()
    rows: list[dict[str, Any]] = []
    for asset, sub in frame.groupby(level="asset"):
        if len(sub) < min_obs:
            rows.extend(
                {
                    "asset": asset,
                    "side": s,
                    "estimate": np.nan,
                    "std_error": np.nan,
                    "tstat": np.nan,
                    "pvalue": np.nan,
                    "nobs": len(sub),
                    "status": f"only {len(sub)} complete days (< {min_obs})",
                }
                for s in SIDES
            )
            continue
        fit = sm.OLS(sub["ret_bp"], sm.add_constant(sub[["long", "short"]])).fit(
            cov_type="HAC", cov_kwds={"maxlags": maxlags}
        )
        rows.extend(
            {
                "asset": asset,
                "side": s,
                "estimate": fit.params[s],
                "std_error": fit.bse[s],
                "tstat": fit.tvalues[s],
                "pvalue": fit.pvalues[s],
                "nobs": int(fit.nobs),
                "status": "ok",
            }
            for s in SIDES
        )
    table = pd.DataFrame(rows).set_index(["asset", "side"])
    return Estimates(table, {"scale": scale, "cov": f"HAC (Newey-West, {maxlags} lags)"})


def panel_elasticity(
    ds: xr.Dataset,
    *,
    scale: Scale = "oi",
    cov: Literal["driscoll-kraay", "clustered"] = "driscoll-kraay",
    bandwidth: int | None = None,
) -> Estimates:
    """Pooled elasticity with asset fixed effects (linearmodels ``PanelOLS``).

    ``cov="driscoll-kraay"`` (linearmodels ``cov_type="kernel"``): robust to heteroskedasticity,
    serial and cross-sectional correlation; ``"clustered"``: clustered by asset and time.
    """
    from linearmodels.panel import PanelOLS

    frame = _frame(ds, scale).dropna()
    model = PanelOLS(frame["ret_bp"], frame[["long", "short"]], entity_effects=True)
    kw: dict[str, Any]
    if str(cov) == "driscoll-kraay":
        kw = {"cov_type": "kernel", "kernel": "bartlett"}
        if bandwidth is not None:
            kw["bandwidth"] = bandwidth
    elif str(cov) == "clustered":
        kw = {"cov_type": "clustered", "cluster_entity": True, "cluster_time": True}
    else:
        msg = f"cov must be 'driscoll-kraay' or 'clustered', not {cov!r}"
        raise ValueError(msg)
    fit = model.fit(**kw)
    table = pd.DataFrame(
        {
            "estimate": fit.params,
            "std_error": fit.std_errors,
            "tstat": fit.tstats,
            "pvalue": fit.pvalues,
        }
    ).rename_axis("side")
    table["nobs"] = int(fit.nobs)
    return Estimates(
        table,
        {
            "scale": scale,
            "cov": cov,
            "n_assets": int(fit.entity_info["total"]),
            "r2_within": float(fit.rsquared_within),
        },
    )


def _within(frame: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    return frame[list(cols)] - frame[list(cols)].groupby(level="asset").transform("mean")


def iv_elasticity(ds: xr.Dataset, *, scale: Scale = "oi", maxlags: int = 5) -> Estimates:
    """Panel 2SLS of returns on long and short liquidations, asset fixed effects (within).

    Instruments: each side's own previous-bar liquidations and the same bar's average
    liquidations of the *other* assets (leave-one-out) -- liquidations cluster across assets
    while one asset's idiosyncratic return shock does not move the others' liquidations.
    Reports first-stage partial F statistics; below 10 the instruments are weak.
    Errors: HAC (Bartlett kernel) on the stacked panel.
    """
    from linearmodels.iv import IV2SLS

    frame = _frame(ds, scale)
    g = frame.groupby(level="asset")
    for side in SIDES:
        frame[f"{side}_lag"] = g[side].shift(1)
        total = frame[side].groupby(level="time").transform("sum")
        count = frame[side].groupby(level="time").transform("count")
        frame[f"{side}_others"] = (total - frame[side]) / (count - 1)
    cols = ["ret_bp", *SIDES, *(f"{s}_lag" for s in SIDES), *(f"{s}_others" for s in SIDES)]
    frame = frame[cols].dropna()
    if frame.index.get_level_values("asset").nunique() < 2:
        msg = "iv_elasticity needs at least two assets (the other-asset instrument)"
        raise ValueError(msg)
    within = _within(frame, cols)
    instruments = [c for c in cols if c.endswith(("_lag", "_others"))]
    fit: Any = IV2SLS(within["ret_bp"], None, within[list(SIDES)], within[instruments]).fit(
        cov_type="kernel", kernel="bartlett", bandwidth=maxlags
    )
    ols = IV2SLS(within["ret_bp"], within[list(SIDES)], None, None).fit(
        cov_type="kernel", kernel="bartlett", bandwidth=maxlags
    )
    diag = fit.first_stage.diagnostics
    table = pd.DataFrame(
        {
            "estimate": fit.params,
            "std_error": fit.std_errors,
            "tstat": fit.tstats,
            "pvalue": fit.pvalues,
            "ols_estimate": ols.params,
            "first_stage_partial_f": diag["f.stat"],
            "first_stage_partial_r2": diag["partial.rsquared"],
        }
    ).rename_axis("side")
    table["nobs"] = int(fit.nobs)
    return Estimates(table, {"scale": scale, "instruments": instruments, "cov": "HAC (Bartlett)"})


BINS = (-np.inf, -0.07, -0.03, -0.005, 0.005, 0.03, 0.07, np.inf)
"""Return bins (log points) of the reverse model's check against binned means."""


KNOTS = (0.0, 0.01, 0.02, 0.04, 0.07, 0.10)
"""Knots (log points, each side of zero) of the reverse model's linear spline in the return."""


def _move_terms(r: pd.Series | np.ndarray) -> pd.DataFrame:
    """The reverse model's return terms: a linear spline in the log return with knots at 0,
    +-1, 2, 4, 7 and 10 % (``min(r + k, 0)`` and ``max(r - k, 0)`` for each knot ``k``): zero on
    a flat day, its own slope between knots on each side. On the real panel it matches the
    binned means within 7 %; a quadratic in ``r-`` and ``r+`` missed them by up to 64 % (its
    tails set its middle), a spline with knots at 0, 3 and 7 % by up to 41 %."""
    r = pd.Series(np.asarray(r, dtype=float))
    terms: dict[str, pd.Series] = {}
    for k in KNOTS:
        terms[f"down_{k:g}"] = (r + k).clip(upper=0)
        terms[f"up_{k:g}"] = (r - k).clip(lower=0)
    return pd.DataFrame(terms)


def reverse_elasticity(
    ds: xr.Dataset, *, scale: Scale = "oi", moves: Sequence[float] = (-0.05, -0.01, 0.01, 0.05)
) -> Estimates:
    """Liquidations as a convex, asymmetric function of the same day's return: Poisson
    pseudo-maximum likelihood (PPML; Santos Silva & Tenreyro 2006) with a log link and asset
    fixed effects, errors clustered by day (the common shock hits every asset at once).

    ``E[liq | r] = exp(a_i + s(r))`` for each side, with ``s`` a linear spline in the log
    return (knots :data:`KNOTS` on each side of zero; :func:`_move_terms`). A log link cannot predict a
    negative liquidation (a linear fit predicted -1.3 % of OI of short liquidations for a +5 % move).
    For each move in ``moves`` the table gives the predicted *level* for the average asset
    (``estimate``: the mean over assets of ``exp(a_i + f(move))``) with its delta-method
    ``std_error`` and ``log_std_error`` (:meth:`Estimates.conf_int` builds the interval on the
    log level, so it stays positive), the flat-day level (``flat``: ``f = 0``) and
    ``extra = level - flat`` with its delta-method ``extra_std_error`` (units of ``scale``: % of
    OI or 100 M USD). ``extra["binned"]``: per side and return bin (:data:`BINS`), the mean observed
    and the mean fitted liquidation and the number of asset-days -- the check of the convex
    form against binned means of the same data.
    """
    frame = _frame(ds, scale).dropna()
    terms = _move_terms(frame["ret"].to_numpy())
    assets = frame.index.get_level_values("asset")
    dummies = pd.get_dummies(assets, dtype=float).to_numpy()
    n_fe = dummies.shape[1]
    xmat = np.column_stack([dummies, terms.to_numpy()])
    days = pd.factorize(frame.index.get_level_values("time"))[0]
    bins = pd.cut(frame["ret"].to_numpy(), BINS)
    rows: list[dict[str, Any]] = []
    binned: list[pd.DataFrame] = []
    for side in SIDES:
        y = frame[side].to_numpy(dtype=float)
        if (y < 0).any():
            msg = f"{side} liquidations hold negative values: they cannot be (check the file)"
            raise ValueError(msg)
        fit = sm.GLM(y, xmat, family=sm.families.Poisson()).fit(
            cov_type="cluster", cov_kwds={"groups": days}
        )
        params, cov = np.asarray(fit.params), np.asarray(fit.cov_params())
        check = pd.DataFrame({"observed": y, "fitted": np.asarray(fit.fittedvalues), "bin": bins})
        by_bin = check.groupby("bin", observed=True).agg(
            observed=("observed", "mean"), fitted=("fitted", "mean"), n=("observed", "size")
        )
        binned.append(by_bin.assign(side=side).reset_index().set_index(["side", "bin"]))
        fe = params[:n_fe]
        weights = np.exp(fe) / np.exp(fe).sum()
        flat = float(np.exp(fe).mean())
        for move in moves:
            g = _move_terms(np.array([move])).to_numpy()[0]
            level = flat * float(np.exp(g @ params[n_fe:]))
            grad_log = np.concatenate([weights, g])  # d log(level) / d params
            se_log = float(np.sqrt(grad_log @ cov @ grad_log))
            grad_extra = np.concatenate([(level - flat) * weights, level * g])
            rows.append(
                {
                    "side": side,
                    "move": move,
                    "estimate": level,
                    "std_error": level * se_log,
                    "log_std_error": se_log,
                    "flat": flat,
                    "extra": level - flat,
                    "extra_std_error": float(np.sqrt(grad_extra @ cov @ grad_extra)),
                    "nobs": int(fit.nobs),
                }
            )
    unit = "% of OI" if scale == "oi" else "100 M USD"
    return Estimates(
        pd.DataFrame(rows).set_index(["side", "move"]),
        {
            "scale": scale,
            "units": unit,
            "estimator": "PPML, asset FE, errors clustered by day",
            "binned": pd.concat(binned),
        },
    )


def local_projections(
    series: pd.DataFrame,
    *,
    shock: str,
    response: str,
    horizons: int = 5,
    lags: int = 2,
    cumulative: bool = True,
    state: pd.Series | None = None,
) -> Estimates:
    """Jorda (2005) local projections for one asset: ``y_{t+h}`` on ``shock_t`` for h = 0..H.

    ``y_{t+h}`` is the cumulative response ``sum_{j=0..h} response_{t+j}`` (``cumulative``) or
    the level at ``t+h``; controls are ``lags`` lags of the response and of the shock; errors
    HAC with ``h + 1`` lags. With ``state`` (a boolean series, e.g. high open interest), the
    shock is interacted with the state and its complement (state-dependent LP); rows then carry
    ``state`` = ``high``/``low``.
    """
    data = series[[shock, response]].astype(float)
    y_path = data[response]
    rows: list[dict[str, Any]] = []
    for h in range(horizons + 1):
        lead = (
            pd.concat([y_path.shift(-j) for j in range(h + 1)], axis=1).sum(axis=1, min_count=h + 1)
            if cumulative
            else y_path.shift(-h)
        )
        x = pd.DataFrame(index=data.index)
        if state is None:
            x["shock"] = data[shock]
        else:
            on = state.reindex(data.index).astype(float)
            x["shock_high"] = data[shock] * on
            x["shock_low"] = data[shock] * (1 - on)
            x["state"] = on
        for lag in range(1, lags + 1):
            x[f"{response}_l{lag}"] = data[response].shift(lag)
            x[f"{shock}_l{lag}"] = data[shock].shift(lag)
        frame = pd.concat([lead.rename("y"), x], axis=1).dropna()
        fit = sm.OLS(frame["y"], sm.add_constant(frame.drop(columns="y"))).fit(
            cov_type="HAC", cov_kwds={"maxlags": h + 1}
        )
        names = ["shock"] if state is None else ["shock_high", "shock_low"]
        rows.extend(
            {
                "h": h,
                "state": "all" if state is None else name.split("_")[1],
                "estimate": fit.params[name],
                "std_error": fit.bse[name],
                "tstat": fit.tvalues[name],
                "pvalue": fit.pvalues[name],
                "nobs": int(fit.nobs),
            }
            for name in names
        )
    return Estimates(
        pd.DataFrame(rows).set_index(["state", "h"]), {"shock": shock, "response": response}
    )


def _cum_response(coefs: np.ndarray, impact: np.ndarray, horizon: int) -> np.ndarray:
    """Cumulative orthogonalised responses (H+1, k, k) of a VAR with lag matrices ``coefs``."""
    p, k, _ = coefs.shape
    phi = [np.eye(k)]
    for h in range(1, horizon + 1):
        phi.append(sum(coefs[j] @ phi[h - 1 - j] for j in range(min(p, h))))
    return np.cumsum(np.array([m @ impact for m in phi]), axis=0)


def var_feedback(
    series: pd.DataFrame,
    *,
    ret: str = "ret",
    liq: str = "long_share",
    maxlags: int = 5,
    horizon: int = 10,
    draws: int = 1000,
    seed: int = 0,
) -> Estimates:
    """VAR in (liquidations, returns) for one asset: Granger tests, IRFs and the amplification.

    Ordering (Cholesky): liquidations first, so a return shock cannot liquidate within the
    bar in the identified system -- a conservative choice for the feedback share; lag order by
    AIC up to ``maxlags``. The amplification multiplier is the cumulative return response to a
    return shock after ``horizon`` bars divided by its impact. The *feedback share* compares it
    with the same VAR whose return equation ignores liquidations (their lag coefficients set to
    zero): ``1 - M_no_feedback / M``. Uncertainty: ``draws`` parameter draws from the
    estimated asymptotic normal distribution of the VAR coefficients: ``extra["draws"]``, from
    which :meth:`Estimates.conf_int` takes percentile intervals.
    """
    from statsmodels.tsa.api import VAR

    data = series[[liq, ret]].astype(float)
    complete = data.notna().all(axis=1).to_numpy()
    # lags must not bridge a gap: keep the longest run of consecutive complete bars
    run_id = np.cumsum(~complete)
    lengths = np.bincount(run_id, weights=complete)
    best = int(np.argmax(lengths))
    keep = complete & (run_id == best)
    if keep.sum() < complete.sum():
        warnings.warn(
            f"{int(complete.sum() - keep.sum())} complete bars lie outside the longest gap-free "
            f"stretch ({int(keep.sum())} bars) and are left out of the VAR, whose lags must not "
            "bridge missing bars",
            UserWarning,
            stacklevel=2,
        )
    data = data[keep]
    if len(data) < 10 * maxlags:
        msg = f"var_feedback needs at least {10 * maxlags} complete bars, has {len(data)}"
        raise ValueError(msg)
    fit = VAR(data.reset_index(drop=True)).fit(maxlags=maxlags, ic="aic", trend="c")
    p = max(fit.k_ar, 1)
    if fit.k_ar == 0:
        fit = VAR(data.reset_index(drop=True)).fit(1, trend="c")
    impact = np.linalg.cholesky(fit.sigma_u.to_numpy())
    names = list(data.columns)
    r_i, l_i = names.index(ret), names.index(liq)

    def multipliers(coefs: np.ndarray) -> tuple[float, float]:
        cum = _cum_response(coefs, impact, horizon)
        full = cum[-1, r_i, r_i] / impact[r_i, r_i]
        cut = coefs.copy()
        cut[:, r_i, l_i] = 0.0
        none = _cum_response(cut, impact, horizon)[-1, r_i, r_i] / impact[r_i, r_i]
        return float(full), float(none)

    full, none = multipliers(fit.coefs)
    rng = np.random.default_rng(seed)
    k = len(names)
    # params are (1 + k p) x k (const first); vec in column order, cov_params matches
    mean = fit.params.to_numpy().ravel(order="F")
    cov = fit.cov_params().to_numpy()
    sims = rng.multivariate_normal(mean, cov, size=draws, method="eigh")
    boot = []
    for draw in sims:
        params = draw.reshape(fit.params.shape, order="F")
        coefs = params[1:].reshape(p, k, k).transpose(0, 2, 1)
        boot.append(multipliers(coefs))
    arr = np.array(boot)
    share = 1.0 - arr[:, 1] / arr[:, 0]
    granger_liq_to_ret = fit.test_causality(ret, [liq], kind="f").pvalue
    granger_ret_to_liq = fit.test_causality(liq, [ret], kind="f").pvalue
    irf = fit.irf(horizon)
    quantities = pd.Index(
        ["multiplier", "multiplier_no_feedback", "feedback_share"], name="quantity"
    )
    table = pd.DataFrame({"estimate": [full, none, 1.0 - none / full]}, index=quantities)
    draws_table = pd.DataFrame(
        np.column_stack([arr, share]),
        index=pd.RangeIndex(draws, name="draw"),
        columns=quantities,
    )
    return Estimates(
        table,
        {
            "lags": fit.k_ar,
            "nobs": int(fit.nobs),
            "granger_p_liq_to_ret": float(granger_liq_to_ret),
            "granger_p_ret_to_liq": float(granger_ret_to_liq),
            "irf": irf.orth_irfs,
            "order": names,
            "horizon": horizon,
            "draws": draws_table,
            "units": f"{liq}: fraction of open interest; {ret}: log return",
        },
    )


def attribute_event(
    ds: xr.Dataset, when: str, *, scale: Scale = "oi", side: str = "long"
) -> pd.DataFrame:
    """Observed liquidations on ``when`` against those the reverse model predicts from that
    day's return, per asset: a PPML fit of the asset's own history without the event day
    (log link: predictions are positive), with a 95 % *prediction* interval for one day's
    liquidations -- the day's own noise (quasi-Poisson: variance ``phi * mu``, ``phi`` the
    Pearson dispersion) plus the fitted mean's uncertainty -- truncated at zero.

    ``excess = observed - predicted``; ``within_noise`` is True when the interval covers the
    observation: the day's liquidations are then what its move alone can explain.
    """
    day = pd.Timestamp(when)
    if day not in ds.indexes["time"]:
        msg = f"{when} is not a bar of the panel ({ds.indexes['time'][0]} .. {ds.indexes['time'][-1]})"
        raise ValueError(msg)
    train = ds.where(ds["time"] != np.datetime64(day))
    frame = _frame(train, scale).dropna()
    event = _frame(ds.sel(time=[day]), scale)
    rows: list[dict[str, Any]] = []
    for asset, sub in frame.groupby(level="asset"):
        x = sm.add_constant(_move_terms(sub["ret"].to_numpy()).to_numpy(), has_constant="add")
        fit = sm.GLM(sub[side].to_numpy(dtype=float), x, family=sm.families.Poisson()).fit(
            cov_type="HAC", cov_kwds={"maxlags": 5}
        )
        obs = event.xs(asset, level="asset")
        r0 = float(obs["ret"].iloc[0])
        z = np.concatenate([[1.0], _move_terms(np.array([r0])).to_numpy()[0]])
        mu = float(np.exp(z @ np.asarray(fit.params)))
        se_mean = mu * float(np.sqrt(z @ np.asarray(fit.cov_params()) @ z))
        phi = float(fit.pearson_chi2 / fit.df_resid)
        se_pred = float(np.sqrt(phi * mu + se_mean**2))
        observed = float(obs[side].iloc[0])
        lo, hi = max(mu - 1.96 * se_pred, 0.0), mu + 1.96 * se_pred
        rows.append(
            {
                "asset": asset,
                "return": r0,
                "observed": observed,
                "predicted": mu,
                "se": se_mean,
                "pred_lo": lo,
                "pred_hi": hi,
                "excess": observed - mu,
                "within_noise": bool(lo <= observed <= hi),
            }
        )
    return pd.DataFrame(rows).set_index("asset")

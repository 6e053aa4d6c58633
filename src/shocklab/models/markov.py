"""Markov-switching coupling regimes (Hamilton 1989) with random restarts and regime forecasts.

``y_t = c_{s_t} + beta_{s_t} x_t + e_t``, ``e_t ~ N(0, sigma2_{s_t})``, ``s_t`` a k-state Markov
chain, estimated with statsmodels' :class:`~statsmodels.tsa.regime_switching.markov_regression.MarkovRegression`.
shocklab adds what statsmodels leaves to the user:

- **random restarts** -- the likelihood is multimodal; ``restarts`` fits start from statsmodels'
  default and from random perturbations of it (in the unconstrained space), the best is kept and
  the spread of optima is reported;
- **labelled regimes** -- regimes are sorted by the coupling ``beta`` (by the intercept when
  there is no ``x``) so ``regime 0`` is always the loosest coupling across restarts and events;
- **regime forecasts** -- ``P(s_{T+h} | F_T) = P^h p_{T|T}`` from the last filtered probabilities
  (statsmodels has no out-of-sample regime forecast);
- the regime at a date (filtered and smoothed probabilities) and expected durations
  ``1 / (1 - p_ii)``.

Use returns in percent: the variance parameters are then of order one, which the optimiser needs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from shocklab.data.calendar import NonTradingPolicy, parse_moment, place_on_axis
from shocklab.models.results import Results, pack_tables, unpack_table

Array = np.ndarray[Any, Any]


def regime_names(k: int) -> list[str]:
    """Human names of sorted regimes: loosest coupling first."""
    return {2: ["low", "high"], 3: ["low", "mid", "high"]}.get(k, [f"r{i}" for i in range(k)])


@dataclass(frozen=True)
class MarkovResult(Results):
    """A fitted Markov-switching coupling model, regimes sorted by coupling.

    Results contract (:mod:`shocklab.models.results`): ``params`` and ``std_errors`` are Series
    indexed by ``(regime, parameter)`` (``const``, ``beta`` with a regressor, ``sigma2``), so
    ``fit.params.loc["high", "beta"]`` is the tight regime's beta; standard errors are
    statsmodels' (numerical Hessian); p-values and intervals use the normal distribution.
    :meth:`summary` adds each regime's staying probability and expected duration.
    """

    title: ClassVar[str] = "Markov-switching regression"

    params: pd.Series
    std_errors: pd.Series
    transition: pd.DataFrame
    durations: pd.Series
    filtered: pd.DataFrame
    smoothed: pd.DataFrame
    restarts: pd.DataFrame
    llf: float
    aic: float
    bic: float
    nobs: int
    start_params: Array | None = None
    """The optimum in statsmodels' parameter order (to warm-start a refit)."""

    def summary(self) -> pd.DataFrame:
        """Per regime and parameter: estimate, std_error, z, p-value and 95 % interval; then
        each regime's probability of staying and its expected duration (bars)."""
        table = self.inference_table()
        regimes = list(self.transition.index)
        stay = pd.DataFrame(
            {"estimate": [self.transition.loc[r, r] for r in regimes]},
            index=pd.MultiIndex.from_product([regimes, ["P(stay)"]]),
        )
        dur = pd.DataFrame(
            {"estimate": self.durations.to_numpy()},
            index=pd.MultiIndex.from_product([regimes, ["expected duration"]]),
        )
        out = pd.concat([table, stay, dur])
        order = {r: i for i, r in enumerate(regimes)}  # loosest coupling first, as fitted
        out = out.iloc[np.argsort([order[r] for r in out.index.get_level_values(0)], kind="stable")]
        out.index.names = ["regime", "parameter"]
        return out

    def _caption(self) -> str:
        return (
            f"{len(self.transition)} regimes, {self.nobs} observations; log-likelihood "
            f"{self.llf:.1f}, AIC {self.aic:.1f}, BIC {self.bic:.1f}; best of "
            f"{len(self.restarts)} starts"
        )

    def to_dataset(self) -> xr.Dataset:
        """Parameters, transition matrix, probabilities and restarts in one Dataset."""
        ds = pack_tables(
            {
                "params": pd.DataFrame({"estimate": self.params, "std_error": self.std_errors}),
                "transition": self.transition,
                "durations": self.durations,
                "restarts": self.restarts,
            }
        )
        regime = pd.Index(self.filtered.columns, name="regime")
        time = pd.DatetimeIndex(self.filtered.index)
        ds["filtered"] = (("time", "regime"), self.filtered.to_numpy())
        ds["smoothed"] = (("time", "regime"), self.smoothed.to_numpy())
        ds = ds.assign_coords(time=time.to_numpy(), regime=regime.to_numpy())
        if self.start_params is not None:
            ds["start_params"] = ("start_param", np.asarray(self.start_params))
        ds.attrs.update(
            title="shocklab Markov-switching regression",
            llf=self.llf,
            aic=self.aic,
            bic=self.bic,
            nobs=self.nobs,
            time_name=str(self.filtered.index.name or ""),
        )
        return ds

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> MarkovResult:
        """Rebuild a result from :meth:`to_dataset` output."""
        params = unpack_table(ds, "params")
        transition = unpack_table(ds, "transition")
        durations = unpack_table(ds, "durations")["expected_duration"]
        cols = pd.Index(ds["regime"].to_numpy().astype(str), name="regime")
        index = pd.DatetimeIndex(ds["time"].to_numpy(), name=ds.attrs.get("time_name") or None)

        def probs(name: str) -> pd.DataFrame:
            return pd.DataFrame(ds[name].to_numpy(), index=index, columns=cols)

        return cls(
            params=params["estimate"].rename("estimate"),
            std_errors=params["std_error"].rename("std_error"),
            transition=transition,
            durations=durations,
            filtered=probs("filtered"),
            smoothed=probs("smoothed"),
            restarts=unpack_table(ds, "restarts"),
            llf=float(ds.attrs["llf"]),
            aic=float(ds.attrs["aic"]),
            bic=float(ds.attrs["bic"]),
            nobs=int(ds.attrs["nobs"]),
            start_params=ds["start_params"].to_numpy() if "start_params" in ds else None,
        )

    def most_likely(self, smoothed: bool = True) -> pd.Series:
        """The most probable regime name per date (smoothed or filtered)."""
        probs = self.smoothed if smoothed else self.filtered
        return probs.idxmax(axis=1).rename("regime")

    def regime_at(self, date: Any, non_trading: NonTradingPolicy = "previous") -> pd.DataFrame:
        """Filtered and smoothed probabilities at ``date``: the sample bar containing it, or
        for a date without a bar of its own (weekend, holiday) the one ``non_trading`` picks
        (default: the last sample before it). The rule is
        :func:`shocklab.data.calendar.place_on_axis`."""
        at = self._asof(date, non_trading)
        return pd.DataFrame(
            {"filtered": self.filtered.loc[at], "smoothed": self.smoothed.loc[at]}
        ).rename_axis(f"regime at {at.date()}")

    def _asof(self, date: Any, non_trading: NonTradingPolicy = "previous") -> pd.Timestamp:
        index = pd.DatetimeIndex(self.filtered.index)
        return place_on_axis(
            index, parse_moment(date, "regime date"), non_trading, what="regime date"
        ).label

    def forecast(self, steps: int = 1, origin: Any = None) -> pd.DataFrame:
        """Regime probabilities ``1..steps`` periods after ``origin`` (default: sample end)."""
        at = self.filtered.index[-1] if origin is None else self._asof(origin)
        p = self.filtered.loc[at].to_numpy()
        P = self.transition.to_numpy()  # rows: from, columns: to
        rows = []
        for _ in range(steps):
            p = p @ P
            rows.append(p.copy())
        return pd.DataFrame(
            rows,
            index=pd.RangeIndex(1, steps + 1, name="steps_ahead"),
            columns=self.filtered.columns,
        )


def _fit_once(model: Any, start: Array, maxiter: int) -> tuple[Any, int]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit(start_params=start, disp=False, maxiter=maxiter, em_iter=10, search_reps=0)
    return res, len(caught)


def fit_markov(
    y: pd.Series,
    x: pd.Series | None = None,
    *,
    k_regimes: int = 2,
    switching_variance: bool = True,
    restarts: int = 10,
    scale: float = 0.5,
    seed: int = 0,
    maxiter: int = 200,
    start_params: Array | None = None,
) -> MarkovResult:
    """Fit ``y = c_s + beta_s x + e``, ``Var e = sigma2_s`` with ``restarts`` starts; keep the best.

    ``y`` and ``x`` share an index; dates where either is missing are dropped (the Markov
    chain then skips them). ``restarts`` counts the default start too; ``scale`` is the
    standard deviation of the perturbation in the unconstrained parameter space. The
    ``restarts`` table lists every optimum (log-likelihood, warnings, sorted parameters).
    ``start_params`` (e.g. ``full.start_params`` of a fit on a longer sample) is the first
    start instead of statsmodels' default: a warm start for a refit on a sub-sample.
    """
    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

    if k_regimes < 2:
        msg = f"k_regimes={k_regimes}: a switching model needs at least 2 regimes"
        raise ValueError(msg)
    frame = pd.concat({"y": y, **({"x": x} if x is not None else {})}, axis=1).dropna()
    need = 20 * k_regimes * (3 if x is not None else 2)
    if len(frame) < need:
        msg = f"only {len(frame)} complete observations; {k_regimes} regimes need at least {need}"
        raise ValueError(msg)
    exog = frame[["x"]].to_numpy() if x is not None else None
    model = MarkovRegression(
        frame["y"].to_numpy(),
        k_regimes=k_regimes,
        exog=exog,
        switching_variance=switching_variance,
    )
    rng = np.random.default_rng(seed)
    base = np.asarray(model.start_params if start_params is None else start_params, dtype=float)
    free = np.asarray(model.untransform_params(base), dtype=float)
    starts = [base] + [
        np.asarray(model.transform_params(free + rng.normal(scale=scale, size=free.size)))
        for _ in range(max(restarts, 1) - 1)
    ]
    fits, rows = [], []
    for i, start in enumerate(starts):
        try:
            res, n_warn = _fit_once(model, start, maxiter)
        except (np.linalg.LinAlgError, ValueError) as exc:
            rows.append({"restart": i, "llf": np.nan, "warnings": 0, "error": str(exc)})
            continue
        fits.append(res)
        rows.append({"restart": i, "llf": float(res.llf), "warnings": n_warn, "error": ""})
    if not fits:
        msg = "every restart failed; try fewer regimes, switching_variance=False or more data"
        raise RuntimeError(msg)
    best = max(fits, key=lambda r: r.llf if np.isfinite(r.llf) else -np.inf)
    restarts_table = pd.DataFrame(rows).set_index("restart")
    restarts_table["gap_to_best"] = float(best.llf) - restarts_table["llf"]
    return _result(best, model, frame.index, k_regimes, x is not None, restarts_table)


def _long(frame: pd.DataFrame, name: str) -> pd.Series:
    """``(regime x parameter)`` table -> Series on a ``(regime, parameter)`` MultiIndex."""
    index = pd.MultiIndex.from_product([frame.index, frame.columns], names=["regime", "parameter"])
    return pd.Series(frame.to_numpy(dtype=float).ravel(), index=index, name=name)


def _result(
    res: Any, model: Any, index: pd.Index, k: int, has_x: bool, restarts: pd.DataFrame
) -> MarkovResult:
    names = list(model.param_names)
    params = pd.Series(np.asarray(res.params), index=names)
    bse = pd.Series(np.asarray(res.bse), index=names)

    def per_regime(series: pd.Series, stem: str) -> Array:
        if f"{stem}[0]" in series.index:
            return np.array([series[f"{stem}[{i}]"] for i in range(k)])
        return np.repeat(series[stem], k)

    table = {"const": per_regime(params, "const")}
    errors = {"const": per_regime(bse, "const")}
    if has_x:
        table["beta"] = per_regime(params, "x1")
        errors["beta"] = per_regime(bse, "x1")
    table["sigma2"] = per_regime(params, "sigma2")
    errors["sigma2"] = per_regime(bse, "sigma2")
    order = np.argsort(table["beta"] if has_x else table["const"], kind="stable")
    labels = regime_names(k)
    frame = pd.DataFrame(
        {c: v[order] for c, v in table.items()}, index=pd.Index(labels, name="regime")
    )
    errs = pd.DataFrame({c: v[order] for c, v in errors.items()}, index=frame.index)
    P_col = np.asarray(res.regime_transition)[:, :, 0]  # [i, j] = P(s_t = i | s_{t-1} = j)
    P = P_col.T[np.ix_(order, order)]
    transition = pd.DataFrame(
        P, index=pd.Index(labels, name="from"), columns=pd.Index(labels, name="to")
    )
    durations = pd.Series(1.0 / (1.0 - np.diag(P)), index=frame.index, name="expected_duration")
    filt = np.asarray(res.filtered_marginal_probabilities)[:, order]
    smooth = np.asarray(res.smoothed_marginal_probabilities)[:, order]
    cols = pd.Index(labels, name="regime")
    return MarkovResult(
        params=_long(frame, "estimate"),
        std_errors=_long(errs, "std_error"),
        transition=transition,
        durations=durations,
        filtered=pd.DataFrame(filt, index=index, columns=cols),
        smoothed=pd.DataFrame(smooth, index=index, columns=cols),
        restarts=restarts,
        llf=float(res.llf),
        aic=float(res.aic),
        bic=float(res.bic),
        nobs=int(res.nobs),
        start_params=np.asarray(res.params, dtype=float),
    )

"""Event studies on ``(time, asset)`` return panels: one call, many assets and events.

:func:`event_study` fits a normal-return model for every (event, asset) *instance* on its own
estimation window, computes abnormal returns (AR), cumulative ARs (CAR), buy-and-hold ARs
(BHAR) and every test of ``docs/methods/event_study.md`` per event and asset group. Everything is
keyed by **event id**, never by ticker, and windows are counted in bars of the panel's own
calendar (NYSE sessions, UTC days or hours).

Window conventions (``window=(w1, w2)``, ``estimation=L1``, ``gap=g``): day 0 is the event bar;
the event window is bars ``w1..w2``; the estimation window is the ``L1`` bars ending ``g`` bars
before ``w1``, i.e. bars ``w1-g-L1 .. w1-g-1``. Abnormal-return variances come from the
estimation window only.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Literal, cast

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from shocklab import __version__
from shocklab.data.calendar import format_moment, place_on_axis
from shocklab.models import _kernels as k
from shocklab.models._kernels import ModelName
from shocklab.models.results import Results, _check_level
from shocklab.universe import Universe, load_universe

NonTradingPolicy = Literal["error", "next", "previous"]
DateLike = str | date | datetime | pd.Timestamp | np.datetime64
EventsLike = DateLike | Mapping[str, DateLike] | pd.DataFrame
MODELS: tuple[str, ...] = ("constant_mean", "market_adjusted", "market", "factor", "garch")
EQUITY_CLASSES = ("stock", "etf", "index")


class ConfoundingEventWarning(UserWarning):
    """Two events' windows overlap for the same asset (the later one contaminates the former)."""


@dataclass(frozen=True)
class EventStudyResult(Results):
    """Frozen result of :func:`event_study`; all numbers live in :attr:`dataset`.

    Dimensions: ``event`` (ids), ``asset``, ``rel`` (event-window bar, 0 = event bar), ``est``
    (estimation bar, relative), ``horizon`` (single bars ``AR(+k)`` and windows
    ``CAR(a,b)``), ``group`` (``all`` + asset groups), ``test``, ``param``.

    The results contract (:mod:`shocklab.models.results`): ``params`` are the usable
    instances' abnormal returns (AR of a single bar, CAR of a window) indexed by
    ``(event, asset, horizon)``, ``std_errors`` their forecast-error standard errors,
    ``pvalues`` the t-test p-values (t with the estimation's residual degrees of freedom) and
    ``nobs`` the number of usable (event, asset) instances. Group tests are in :meth:`summary`
    and :meth:`group_table`.
    """

    title: ClassVar[str] = "Event study"

    dataset: xr.Dataset
    parameters: Mapping[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ contract
    def _per_instance(self, name: str) -> pd.Series:
        ds = self.dataset
        ok = (ds["status"] == "ok").broadcast_like(ds["car"])
        series = ds[name].where(ok).to_series().dropna()
        return series.reindex(self._index())

    def _index(self) -> pd.MultiIndex:
        ds = self.dataset
        ok = (ds["status"] == "ok").broadcast_like(ds["car"]) & np.isfinite(ds["car"])
        return cast(pd.MultiIndex, ok.to_series()[lambda v: v].index)

    @property
    def params(self) -> pd.Series:
        """AR (single bar) or CAR (window) of every usable instance, ``(event, asset, horizon)``."""
        return self._per_instance("car").rename("estimate")

    @property
    def std_errors(self) -> pd.Series:
        """Forecast-error standard errors of :attr:`params`."""
        return self._per_instance("car_se").rename("std_error")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided t-test p-values of :attr:`params` (unadjusted; Holm and BH in the dataset)."""
        return self._per_instance("asset_p").rename("pvalue")

    @property
    def nobs(self) -> int:
        """Usable (event, asset) instances."""
        return int((self.dataset["status"] == "ok").sum())

    def _critical(self, level: float) -> pd.Series:
        dof = self.dataset["dof"].broadcast_like(self.dataset["car"]).to_series()
        return pd.Series(stats.t.ppf(0.5 + level / 2, dof.reindex(self._index())), self._index())

    def conf_int(
        self, level: float = 0.95, *, what: Literal["car", "car_path", "caar_path"] = "car"
    ) -> pd.DataFrame:
        """``level`` confidence intervals (columns ``lower``, ``upper``).

        - ``car`` (default): :attr:`params` +/- t * se, ``(event, asset, horizon)``;
        - ``car_path``: the CAR from the window start to each bar, +/- z * its forecast-error
          se, ``(event, asset, rel)``;
        - ``caar_path``: each group's CAAR path +/- t_{N-1} * sd_cross(CAR) / sqrt(N) (as the
          ``t_cross`` test), ``(event, group, rel)``; NaN for a group with fewer usable assets
          than ``min_group`` -- the rule the tests follow.
        """
        _check_level(level)
        if what == "car":
            return super().conf_int(level)
        ds = self.dataset
        if what == "car_path":
            ok = ds["status"] == "ok"
            path = ds["car_path"].where(ok).to_series()
            half = float(stats.norm.ppf(0.5 + level / 2)) * ds["car_path_se"].where(ok).to_series()
            return pd.DataFrame({"estimate": path, "lower": path - half, "upper": path + half})
        if str(what) != "caar_path":  # a typo gets a clear error
            msg = f"what must be 'car', 'car_path' or 'caar_path', not {what!r}"
            raise ValueError(msg)
        return self._caar_bands(level)

    def _caar_bands(self, level: float) -> pd.DataFrame:
        ds = self.dataset
        min_group = int(self.parameters.get("min_group", 2))
        cars = ds["car_path"].where(ds["status"] == "ok")
        frames = []
        for group in ds["group"].values:
            members = ds["in_group"].sel(group=group)
            sub = cars.where(members)
            n = sub.count("asset")
            sd = sub.std("asset", ddof=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                q = stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1))
                half = q * sd / np.sqrt(n)
            caar = ds["caar_path"].sel(group=group)
            half = half.where(n >= min_group)
            frame = pd.DataFrame(
                {
                    "estimate": caar.to_series(),
                    "lower": (caar - half).to_series(),
                    "upper": (caar + half).to_series(),
                    "n": n.to_series(),
                }
            )
            frame["group"] = str(group)
            frames.append(frame)
        return pd.concat(frames).reset_index().set_index(["event", "group", "rel"])

    def to_dataset(self) -> xr.Dataset:
        """The results as one ``xr.Dataset`` (netCDF-ready; parameters in ``attrs``)."""
        return self.dataset

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> EventStudyResult:
        """Rebuild a result from :meth:`to_dataset` output (e.g. after a netCDF round trip)."""
        return cls(ds, json.loads(ds.attrs.get("parameters", "{}")))

    def _caption(self) -> str:
        p = self.parameters
        return (
            f"{', '.join(map(str, self.dataset['event'].values))}: model {p.get('model')}, "
            f"estimation {p.get('estimation')} bars, gap {p.get('gap')}, window "
            f"{p.get('window')}; {self.nobs} usable instances"
        )

    # ------------------------------------------------------------------ tables
    def summary(self, event: str | None = None, group: str = "all") -> pd.DataFrame:
        """One row per horizon: CAAR, N and every test statistic and p-value."""
        ds = self.dataset
        ev = event if event is not None else str(ds["event"].values[0])
        g = ds.sel(event=ev, group=group)
        table = pd.DataFrame(
            {"caar": g["caar"].values, "n": g["n_assets"].values},
            index=pd.Index(ds["horizon"].values, name="horizon"),
        )
        for test in ds["test"].values:
            table[f"{test}"] = g["test_statistic"].sel(test=test).values
            table[f"{test}_p"] = g["test_p_value"].sel(test=test).values
        return table

    def group_table(self, horizon: str = "AR(+0)", event: str | None = None) -> pd.DataFrame:
        """Per group at one horizon: N, CAAR (%), and the shared-date-robust tests' p-values
        (KP-BMP also Holm-adjusted across the tested groups); groups with no usable asset are
        left out, and ``note`` says why a group has no test."""
        ds = self._event(event).sel(horizon=horizon)
        table = pd.DataFrame(
            {
                "N": ds["n_assets"].values.astype(int),
                "CAAR %": ds["caar"].values * 100,
                "KP-BMP t": ds["test_statistic"].sel(test="kp_bmp").values,
                "KP-BMP p": ds["test_p_value"].sel(test="kp_bmp").values,
                "KP-BMP p Holm": ds["test_p_holm"].sel(test="kp_bmp").values,
                "GRANK p": ds["test_p_value"].sel(test="grank").values,
                "Brown-Warner p": ds["test_p_value"].sel(test="brown_warner").values,
                "r-bar": ds["r_bar"].values,
                "note": ds["group_note"].values if "group_note" in ds else "",
            },
            index=pd.Index(ds["group"].values, name="group"),
        )
        return table[table["N"] > 0]

    def asset_table(self, horizon: str = "AR(+0)", event: str | None = None) -> pd.DataFrame:
        """Per asset at one horizon: the asset's simple return (%), its benchmark's simple
        return (%), the abnormal return (``AR %`` for one bar, ``CAR %`` for a window: a sum of
        log-return ARs on log panels), t, p (raw, Holm, BH across assets), and the status of
        unusable assets. The returns beside the AR show what the benchmark absorbed: a common
        shock that the benchmark shares leaves a small AR. Sorted by the abnormal return."""
        full = self._event(event)
        ds = full.sel(horizon=horizon)
        a, b = int(ds["horizon_start"]), int(ds["horizon_end"])
        window = full.sel(rel=slice(a, b))
        log = self.parameters.get("kind", "log") == "log"

        def simple(total: xr.DataArray) -> np.ndarray:
            values = np.asarray(total.values, dtype=float)
            return (np.expm1(values) if log else values) * 100

        raw = window["observed_return"].sum("rel", min_count=b - a + 1)
        bench = window["market_return"].sum("rel", min_count=b - a + 1)
        column = abnormal_column(horizon)
        table = pd.DataFrame(
            {
                "group": ds["asset_group"].values if "asset_group" in ds.coords else "",
                "market": ds["market"].values,
                "return %": simple(raw),
                "market return %": simple(bench),
                column: ds["car"].values * 100,
                "t": ds["asset_t"].values,
                "p": ds["asset_p"].values,
                "p Holm": ds["asset_p_holm"].values,
                "p BH": ds["asset_p_bh"].values,
                "status": ds["status"].values,
            },
            index=pd.Index(ds["asset"].values, name="asset"),
        )
        return table.sort_values(column)

    def _event(self, event: str | None) -> xr.Dataset:
        ds = self.dataset
        return ds.sel(event=event) if event is not None else ds.isel(event=0)


def abnormal_column(horizon: str) -> str:
    """The asset table's abnormal-return column for ``horizon``: ``AR %`` for one bar
    (``AR(+0)``), ``CAR %`` for a window (``CAR(-1,+1)``)."""
    return "AR %" if horizon.startswith("AR(") else "CAR %"


# ----------------------------------------------------------------------------- events


def _event_table(events: EventsLike) -> pd.DataFrame:
    """Normalise ``events`` to columns ``event_id, date, asset`` (asset None = every asset)."""
    if isinstance(events, pd.DataFrame):
        missing = {"event_id", "date"} - set(events.columns)
        if missing:
            msg = f"events table lacks columns {sorted(missing)}; it needs event_id, date[, asset]"
            raise ValueError(msg)
        table = events.loc[:, [c for c in ("event_id", "date", "asset") if c in events]].copy()
        if "asset" not in table:
            table["asset"] = None
    elif isinstance(events, Mapping):
        table = pd.DataFrame(
            {"event_id": list(events), "date": list(events.values()), "asset": None}
        )
    else:
        _utc_naive(events, str(events))  # a malformed date: an error naming it, not pandas'
        stamp = pd.Timestamp(events)
        label = stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else stamp.isoformat()
        table = pd.DataFrame({"event_id": [label], "date": [events], "asset": [None]})
    table["event_id"] = table["event_id"].astype(str)
    table["asset"] = table["asset"].astype(object).where(table["asset"].notna(), None)
    repeated = table.duplicated(subset=["event_id", "asset"])
    if repeated.any():
        dup = sorted(set(table.loc[repeated, "event_id"]))
        msg = (
            f"events {dup} list the same asset twice (or are defined twice); give each "
            "(event_id, asset) one date"
        )
        raise ValueError(msg)
    if table.empty:
        msg = "no events given"
        raise ValueError(msg)
    return table


def _utc_naive(value: DateLike, event_id: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        msg = (
            f"event {event_id!r}: date {value!r} is not a date or UTC moment ({exc}); use ISO "
            "such as 2025-01-27 or 2024-08-02T21:00Z"
        )
        raise ValueError(msg) from None
    if str(stamp) == "NaT":  # pd.Timestamp(None) is NaT; the stubs do not say so
        msg = f"event {event_id!r} has no date (NaT); give every event a date"
        raise ValueError(msg)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp


def locate_event(
    index: pd.DatetimeIndex,
    when: DateLike,
    policy: NonTradingPolicy,
    event_id: str,
    ends: np.ndarray | None = None,
) -> int:
    """Bar position of an event moment on the panel's time axis (naive times are UTC).

    The rule is :func:`shocklab.data.calendar.place_on_axis`, the one every study uses: with
    ``ends`` (the panel's ``interval_end``, e.g. NYSE session closes) day 0 is the first bar
    whose close is at or after the moment; otherwise the bar containing the moment. A moment
    without a bar of its own (weekend, holiday, after the close) is placed by ``policy``.
    """
    stamp = _utc_naive(when, event_id)
    label = format_moment(stamp)
    what = f"event {event_id!r}" + ("" if event_id == label else f" ({label})")
    return place_on_axis(index, stamp, policy, ends=ends, what=what).position


# ----------------------------------------------------------------------------- regressors


def equal_weight_index(returns: xr.DataArray, members: Sequence[str]) -> xr.DataArray:
    """Equal-weighted mean return of ``members`` present in ``returns`` (NaN-skipping)."""
    present = [m for m in members if m in returns["asset"].values]
    if not present:
        msg = f"none of {list(members)} is in the returns panel; add them or pick another market"
        raise ValueError(msg)
    return returns.sel(asset=present).mean("asset", skipna=True)


def _series(returns: xr.DataArray, name: str, universe: Universe) -> xr.DataArray:
    """A market series by name: an asset of the panel, or a universe group (equal-weighted)."""
    if name in returns["asset"].values:
        return returns.sel(asset=name, drop=True)
    if name in universe.groups:
        return equal_weight_index(returns, universe.members(name))
    msg = (
        f"market or factor {name!r} is neither an asset of the returns panel nor a group of "
        "research/universe.yaml; add it to the panel or pass market= as a DataArray"
    )
    raise ValueError(msg)


def _check_axis(series: xr.DataArray, returns: xr.DataArray, dim: str, what: str) -> xr.DataArray:
    if dim not in series.dims:
        msg = f"{what} has dims {series.dims}; it needs the returns' time dim {dim!r}"
        raise ValueError(msg)
    ours, theirs = returns.indexes[dim], series.indexes[dim]
    if not ours.equals(theirs):
        diff = ours.symmetric_difference(theirs)
        msg = (
            f"{what}'s time axis does not match the returns': {len(diff)} labels differ "
            f"(first {diff[:3].tolist()}); build both from one panel or xr.align them first"
        )
        raise ValueError(msg)
    return series


def _market_names(
    returns: xr.DataArray, market: str | Mapping[str, str] | None, universe: Universe
) -> list[str]:
    """Market name per asset: one name, a mapping by asset class, or the universe defaults."""
    assets = [str(a) for a in returns["asset"].values]
    if isinstance(market, str):
        return [market] * len(assets)
    classes = (
        [str(c) for c in returns["asset_class"].values]
        if "asset_class" in returns.coords
        else ["unknown"] * len(assets)
    )
    defaults = dict(universe.benchmarks)
    chosen = dict(market or {})
    names = []
    for asset, cls in zip(assets, classes, strict=True):
        kind = "equity" if cls in EQUITY_CLASSES else cls
        name = chosen.get(cls, chosen.get(kind, defaults.get(kind)))
        if name is None:
            msg = (
                f"no market for {asset} (asset class {cls!r}): pass market='QQQ' (or a mapping "
                "{asset_class: name}), or set benchmarks in research/universe.yaml"
            )
            raise ValueError(msg)
        names.append(name)
    return names


def _regressors(
    returns: xr.DataArray,
    model: str,
    market: str | Mapping[str, str] | xr.DataArray | None,
    factors: Sequence[str] | xr.DataArray | None,
    universe: Universe,
    dim: str,
    leave_one_out: bool = True,
) -> tuple[xr.DataArray, list[str], list[str]]:
    """Regressors ``(asset, time, factor)``, the market label per asset, and factor names."""
    assets = [str(a) for a in returns["asset"].values]
    if model == "constant_mean":
        zeros = xr.zeros_like(returns).expand_dims(factor=["none"], axis=-1)
        return zeros, [""] * len(assets), []
    if model == "factor":
        if factors is None:
            msg = "model='factor' needs factors=[...] (asset or group names) or a DataArray"
            raise ValueError(msg)
        if isinstance(factors, xr.DataArray):
            fx = _check_axis(factors, returns, dim, "factors")
            if "factor" not in fx.dims:
                fx = fx.expand_dims(factor=[str(fx.name or "factor")], axis=-1)
        else:
            fx = xr.concat(
                [_series(returns, f, universe) for f in factors],
                dim=pd.Index(list(factors), name="factor"),
            )
        fx = fx.transpose(dim, "factor")
        names = [str(f) for f in fx["factor"].values]
        return fx.expand_dims(asset=returns["asset"]), ["+".join(names)] * len(assets), names
    if isinstance(market, xr.DataArray):
        m = _check_axis(market, returns, dim, "market")
        label = str(market.name or "market")
        if "asset" not in m.dims:
            m = m.expand_dims(asset=returns["asset"])
        return m.expand_dims(factor=["market"], axis=-1), [label] * len(assets), ["market"]
    names = _market_names(returns, market, universe)
    distinct = list(dict.fromkeys(names))
    stack = xr.concat([_series(returns, n, universe) for n in distinct], dim="market_series")
    which = xr.DataArray([distinct.index(n) for n in names], dims="asset")
    cols = stack.isel(market_series=which).assign_coords(asset=returns["asset"])
    if leave_one_out:
        cols, names = _leave_one_out(returns, cols, names, universe, dim)
    return cols.expand_dims(factor=["market"], axis=-1), names, ["market"]


def _leave_one_out(
    returns: xr.DataArray, cols: xr.DataArray, names: list[str], universe: Universe, dim: str
) -> tuple[xr.DataArray, list[str]]:
    """Replace, for each asset whose market is a universe group it belongs to, the group's
    equal-weighted index by the mean of the *other* members (``majors (ex-self)``): an asset
    regressed on an index containing itself explains part of its own shock away (on
    2025-04-07, ETH -15.8 % showed AR -4.3 % against the majors with ETH in them)."""
    assets = [str(a) for a in returns["asset"].values]

    def bare(series: xr.DataArray) -> xr.DataArray:
        return series.drop_vars([c for c in series.coords if c != dim])

    out, labels = [], []
    for i, (asset, name) in enumerate(zip(assets, names, strict=True)):
        members = list(universe.members(name)) if name in universe.groups else []
        present = [m for m in members if m in assets]
        if asset not in present:
            out.append(bare(cols.isel(asset=i, drop=True)))
            labels.append(name)
            continue
        others = returns.sel(asset=[m for m in present if m != asset])
        out.append(bare(others.mean("asset", skipna=True)))
        labels.append(f"{name} (ex-self)")
    stacked = xr.concat(out, dim=pd.Index(assets, name="asset"), coords="minimal")
    stacked = stacked.transpose("asset", dim)
    return stacked.assign_coords(asset=returns["asset"]), labels


# ----------------------------------------------------------------------------- main call


def _horizons(
    window: tuple[int, int], car_windows: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    w1, w2 = window
    out = [(t, t) for t in range(w1, w2 + 1)]
    for a, b in car_windows:
        if not w1 <= a <= b <= w2:
            msg = f"CAR window ({a}, {b}) must lie inside the event window {window}"
            raise ValueError(msg)
        if (a, b) not in out:
            out.append((a, b))
    return out


def _label(a: int, b: int) -> str:
    return f"AR({a:+d})" if a == b else f"CAR({a:+d},{b:+d})"


def _status(
    code: float,
    nobs: float,
    need: int,
    market: str,
    estimation: int,
    observed: np.ndarray,
    abnormal: np.ndarray,
    evt_rel: np.ndarray,
) -> str:
    c = int(code)
    if c == k.OK:
        return "ok"
    if c == k.NO_EVENT_DATA:
        holes = evt_rel[np.isnan(observed)]
        what = "return"
        if holes.size == 0:  # the asset has data; its market series does not
            holes, what = evt_rel[np.isnan(abnormal)], f"market ({market}) return"
        shown = ", ".join(f"{int(r):+d}" for r in holes[:4]) + (", ..." if holes.size > 4 else "")
        return (
            f"no data in the event window: {holes.size} of {evt_rel.size} bars have no {what} "
            f"(bars {shown}); a source gap around the event"
        )
    if c == k.NOT_IN_EVENT:
        return "not in event"
    if c == k.SHORT_ESTIMATION:
        return (
            f"estimation window too short: {int(nobs)} of {estimation} bars with data "
            f"(minimum {need}); asset listed recently or data missing"
        )
    if c == k.SINGULAR:
        return "singular regressors in the estimation window (constant market or factor?)"
    if c == k.NOT_CONVERGED:
        return "GARCH estimation did not converge"
    return f"asset is its own market ({market}); pick another market or model='constant_mean'"


def _warn_overlaps(
    pos: np.ndarray, events: list[str], assets: list[str], est_start: int, window: tuple[int, int]
) -> list[str]:
    """Warn when one event's window falls inside another's estimation or event window."""
    pi, pj = pos[:, :, None], pos[:, None, :]  # (asset, outer event i, inner event j)
    hit = (
        (pi >= 0)
        & (pj >= 0)
        & (pj + window[1] >= pi + est_start)
        & (pj + window[0] <= pi + window[1])
    )
    hit &= ~np.eye(len(events), dtype=bool)[None]
    pairs: dict[tuple[str, str], list[str]] = {}
    for a, i, j in zip(*np.nonzero(hit), strict=True):
        pairs.setdefault((events[j], events[i]), []).append(assets[a])
    found = [
        f"{inner}'s event window lies in {outer}'s estimation/event window for "
        f"{len(a)} asset(s) ({', '.join(a[:3])}{', ...' if len(a) > 3 else ''})"
        for (inner, outer), a in pairs.items()
    ]
    if found:
        shown = "; ".join(found[:5]) + (f"; ... ({len(found)} in all)" if len(found) > 5 else "")
        warnings.warn(
            f"confounding events: {shown}. Their ARs contaminate each other's normal-return "
            "estimates; shorten the windows or study them separately.",
            ConfoundingEventWarning,
            stacklevel=3,
        )
    return found


def event_study(
    returns: xr.DataArray,
    events: EventsLike,
    *,
    model: ModelName = "market",
    market: str | Mapping[str, str] | xr.DataArray | None = None,
    factors: Sequence[str] | xr.DataArray | None = None,
    estimation: int = 250,
    gap: int = 10,
    window: tuple[int, int] = (-5, 5),
    car_windows: Sequence[tuple[int, int]] | None = None,
    groups: Mapping[str, Sequence[str]] | None = None,
    non_trading: NonTradingPolicy = "error",
    min_estimation: int | None = None,
    min_group: int = 5,
    kind: Literal["log", "simple"] | None = None,
    dim: str = "time",
    universe: Universe | None = None,
    leave_one_out: bool = True,
) -> EventStudyResult:
    """Abnormal returns and every test for one or many events over a ``(time, asset)`` panel.

    Parameters
    ----------
    returns
        ``(time, asset)`` returns (e.g. :func:`shocklab.data.returns` of a NYSE-synchronous,
        UTC-daily or hourly panel); numpy- or dask-backed. Windows count bars of this axis.
    events
        A date (one event, id = the ISO date), a mapping ``{event_id: date}``, or a table with
        columns ``event_id, date[, asset]`` for per-asset event dates. Dates may carry a UTC
        time for hourly panels.
    model
        ``constant_mean``, ``market_adjusted`` (AR = R - R_m), ``market`` (OLS alpha, beta),
        ``factor`` (OLS on ``factors``) or ``garch`` (market model with GARCH(1,1) errors via
        ``arch``; Savickas 2003).
    market
        Market per asset: an asset name of the panel or a universe group (equal-weighted
        index), a mapping ``{asset_class: name}``, or a ``(time[, asset])`` DataArray. Default:
        ``research/universe.yaml`` benchmarks (equities -> ``QQQ``, crypto -> the ``majors``
        equal-weighted index).
    factors
        For ``model="factor"``: asset/group names (e.g. ``["QQQ", "majors"]``) or a
        ``(time, factor)`` DataArray.
    estimation, gap, window
        Estimation length ``L1`` in bars, bars between estimation and event windows, and the
        event window ``(w1, w2)`` relative to the event bar (see module docstring).
    car_windows
        CAR windows ``(a, b)`` tested in addition to each single bar of the event window;
        default ``(-1, +1)``, ``(0, w2)`` and ``(w1, w2)`` (those inside the event window).
    groups
        ``{group: [assets]}``; default: the panel's ``group`` coordinate. ``all`` is added.
    non_trading
        If an event date is not a bar of the panel: ``error`` (default), ``next`` or
        ``previous`` bar.
    min_estimation
        Minimum estimation bars with data; fewer gives NaN with a ``status`` reason. Default
        ``max(30, estimation // 2)`` (capped at ``estimation``).
    min_group
        Minimum number of usable assets for the cross-sectional tests of a group (default 5):
        below it every test statistic and p-value of that group is NaN and ``group_note`` says
        why (CAAR and N are still reported). With two to four assets a cross-sectional variance
        has one to three degrees of freedom: p-values near 0 from such groups mean nothing.
    kind
        ``log`` or ``simple`` returns (default: the ``kind`` attribute of ``returns``); used for
        BHAR, which compounds simple returns.
    leave_one_out
        When an asset's market is a universe group it belongs to (crypto against ``majors``),
        regress it on the equal-weighted mean of the *other* members (its ``market`` label
        reads ``majors (ex-self)``), so that no asset explains its own shock away. Default on.
        The benchmark's return on each event bar is in ``market_return``.
    """
    if model not in MODELS:
        msg = f"model must be one of {MODELS}, not {model!r}"
        raise ValueError(msg)
    if non_trading not in ("error", "next", "previous"):
        msg = f"non_trading must be 'error', 'next' or 'previous', not {non_trading!r}"
        raise ValueError(msg)
    if set(returns.dims) != {dim, "asset"}:
        msg = f"returns must have dims ({dim!r}, 'asset'), not {returns.dims}"
        raise ValueError(msg)
    kind = kind or returns.attrs.get("kind")
    if kind not in ("log", "simple"):
        msg = "returns carry no 'kind' attribute: pass kind='log' or kind='simple'"
        raise ValueError(msg)
    if estimation < 3 or gap < 0 or window[0] > window[1]:
        msg = f"need estimation >= 3, gap >= 0 and window (w1 <= w2); got {estimation}, {gap}, {window}"
        raise ValueError(msg)
    if window[0] - gap - 1 >= min(0, window[0]):
        last = window[0] - gap - 1
        msg = (
            f"window={window} with gap={gap} puts the estimation window at bars "
            f"{last - estimation + 1:+d}..{last:+d}, which contains day 0: the event would "
            f"contaminate the normal-return model. Use gap >= {window[0]} (the estimation window "
            "then ends before day 0) or start the event window at or before bar 0"
        )
        raise ValueError(msg)
    if min_group < 2:
        msg = f"min_group must be at least 2 (a cross-sectional variance), not {min_group}"
        raise ValueError(msg)
    universe = universe if universe is not None else load_universe()
    need = min(estimation, max(30, estimation // 2)) if min_estimation is None else min_estimation
    if car_windows is None:
        car_windows = [
            w for w in ((-1, 1), (0, window[1]), window) if window[0] <= w[0] <= w[1] <= window[1]
        ]
    horizons = _horizons(window, car_windows)
    w1, w2 = window
    evt_rel = np.arange(w1, w2 + 1)
    est_rel = np.arange(w1 - gap - estimation, w1 - gap)
    path = [(0, j) for j in range(len(evt_rel))]
    idx_pairs = [(a - w1, b - w1) for a, b in horizons] + path

    returns = returns.transpose(dim, "asset")
    index = pd.DatetimeIndex(returns.indexes[dim])
    assets = [str(a) for a in returns["asset"].values]
    table = _event_table(events)
    unknown = sorted(set(table["asset"].dropna()) - set(assets))
    if unknown:
        msg = f"events name assets not in the returns panel: {unknown}"
        raise ValueError(msg)
    event_ids = list(dict.fromkeys(table["event_id"]))
    pos = np.full((len(assets), len(event_ids)), -1, dtype=np.int64)
    nominal: dict[str, pd.Timestamp] = {}
    ends = None
    if "interval_end" in returns.coords and returns["interval_end"].dims == (dim,):
        ends = returns["interval_end"].values  # NYSE-close panels: each return's end instant
    for event_id, when, asset in zip(table["event_id"], table["date"], table["asset"], strict=True):
        e = event_ids.index(str(event_id))
        at = locate_event(index, cast(DateLike, when), non_trading, str(event_id), ends)
        nominal.setdefault(str(event_id), index[at])
        if asset is None:
            pos[:, e] = at
        else:
            pos[assets.index(str(asset)), e] = at
    earliest = int(pos[pos >= 0].min())
    if earliest + est_rel[0] < 0 and (pos[pos >= 0] + est_rel[0] < 0).all():
        msg = (
            f"the returns start at {index[0]}, but the estimation window needs "
            f"{-est_rel[0]} bars before the event bar ({index[earliest]}); load earlier data "
            "or shorten estimation="
        )
        raise ValueError(msg)
    overlaps = _warn_overlaps(pos, event_ids, assets, int(est_rel[0]), window)

    x, market_names, factor_names = _regressors(
        returns, model, market, factors, universe, dim, leave_one_out
    )
    x = x.transpose("asset", dim, "factor")
    x = x.drop_vars([c for c in x.coords if c not in (dim, "asset", "factor")])
    y = returns.transpose("asset", dim)
    y = y.drop_vars([c for c in y.coords if c not in (dim, "asset")])
    pos_da = xr.DataArray(pos, dims=("asset", "event"), coords={"asset": y["asset"]})
    if y.chunks is not None or x.chunks is not None:
        # time must be one chunk (the kernel gathers windows along it); assets stay split
        y = y.chunk({dim: -1})
        asset_chunks = y.data.chunks[0]
        x = x.chunk({"asset": asset_chunks, dim: -1, "factor": -1})
        pos_da = pos_da.chunk({"asset": asset_chunks})
    n_params = {"market_adjusted": 1, "constant_mean": 1, "garch": len(k.GARCH_PARAMS)}.get(
        model, 1 + len(factor_names)
    )
    core = [
        ["event", "rel"],
        ["event", "rel"],
        ["event", "rel"],
        ["event", "rel"],
        ["event", "est"],
        ["event", "est"],
        ["event", "hz"],
        ["event"],
        ["event"],
        ["event"],
        ["event", "param"],
        ["event"],
    ]
    outs = xr.apply_ufunc(
        k.normal_return_kernel,
        y,
        x,
        pos_da,
        input_core_dims=[[dim], [dim, "factor"], ["event"]],
        output_core_dims=core,
        dask="parallelized",
        output_dtypes=[float] * len(core),
        dask_gufunc_kwargs={
            "output_sizes": {
                "rel": len(evt_rel),
                "est": len(est_rel),
                "hz": len(idx_pairs),
                "param": n_params,
            }
        },
        kwargs={
            "model": model,
            "est_rel": est_rel,
            "evt_rel": evt_rel,
            "horizons": idx_pairs,
            "min_obs": need,
        },
    )

    (ar, se, normal, observed, resid, est_sd, car_var, sigma, nobs, dof, params, code) = (
        np.asarray(o.transpose("event", "asset", ...).values)
        for o in xr.Dataset({str(i): o for i, o in enumerate(outs)}).compute().data_vars.values()
    )
    market_ret = np.full((len(event_ids), len(assets), len(evt_rel)), np.nan)
    if factor_names == ["market"]:  # the benchmark's own return on each event bar
        xv = np.asarray(x.isel(factor=0).values, dtype=float)  # (asset, time)
        bar = pos.T[..., None] + np.asarray(evt_rel)[None, None, :]  # (event, asset, rel)
        ok = (pos.T[..., None] >= 0) & (bar >= 0) & (bar < xv.shape[1])
        rows = np.broadcast_to(np.arange(len(assets))[None, :, None], bar.shape)
        market_ret[ok] = xv[rows[ok], bar[ok]]
    own = np.array([a == m for a, m in zip(assets, market_names, strict=True)])
    if own.any():
        code[:, own] = np.where(code[:, own] == k.OK, k.OWN_MARKET, code[:, own])
    # an instance is usable only with an AR on every bar of the event window: a hole (a source
    # gap, a delisting, a market series without data) would otherwise show NaN under "ok"
    n_missing = np.isnan(ar).sum(axis=-1)
    code = np.where((code == k.OK) & (n_missing > 0), k.NO_EVENT_DATA, code)
    bad = code != k.OK
    raw_ar = ar.copy()
    for arr in (ar, se, normal, resid, est_sd, car_var, sigma, dof):
        arr[bad] = np.nan

    n_h = len(horizons)
    car_all = np.stack([ar[..., a : b + 1].sum(axis=-1) for a, b in idx_pairs], axis=-1)
    car, car_path = car_all[..., :n_h], car_all[..., n_h:]
    car_var_h, car_path_var = car_var[..., :n_h], car_var[..., n_h:]
    simple_obs = np.expm1(observed) if kind == "log" else observed
    simple_norm = np.expm1(normal) if kind == "log" else normal
    bhar = np.stack(
        [
            np.prod(1 + simple_obs[..., a - w1 : b - w1 + 1], axis=-1)
            - np.prod(1 + simple_norm[..., a - w1 : b - w1 + 1], axis=-1)
            for a, b in horizons
        ],
        axis=-1,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        asset_t = car / np.sqrt(car_var_h)
    asset_p = 2.0 * stats.t.sf(np.abs(asset_t), dof[..., None])

    group_map = _group_map(returns, groups, assets)
    labels = [_label(a, b) for a, b in horizons]
    g_names = list(group_map)
    aar = np.full((len(event_ids), len(g_names), len(evt_rel)), np.nan)
    caar_path = np.full_like(aar, np.nan)
    n_assets = np.zeros((len(event_ids), len(g_names), n_h))
    caar = np.full((len(event_ids), len(g_names), n_h), np.nan)
    mean_bhar = np.full_like(caar, np.nan)
    r_bar = np.full((len(event_ids), len(g_names)), np.nan)
    stat = np.full((len(event_ids), len(g_names), n_h, len(k.TESTS)), np.nan)
    pval = np.full_like(stat, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for e in range(len(event_ids)):
            for gi, members in enumerate(group_map.values()):
                sel = np.array([a in members for a in assets]) & ~bad[e]
                n_assets[e, gi] = np.isfinite(car[e, sel]).sum(axis=0)
                if sel.sum() == 0:
                    continue
                aar[e, gi] = np.nanmean(ar[e, sel], axis=0)
                caar_path[e, gi] = np.nanmean(car_path[e, sel], axis=0)
                caar[e, gi] = np.nanmean(car[e, sel], axis=0)
                mean_bhar[e, gi] = np.nanmean(bhar[e, sel], axis=0)
                if sel.sum() < min_group:  # too few for a cross-sectional test
                    continue
                r_bar[e, gi] = k.mean_pairwise_correlation(resid[e, sel])
                res = k.cross_section_tests(
                    ar[e, sel],
                    se[e, sel],
                    resid[e, sel],
                    est_sd[e, sel],
                    dof[e, sel],
                    car[e, sel],
                    car_var_h[e, sel],
                    [(a - w1, b - w1) for a, b in horizons],
                )
                for ti, test in enumerate(k.TESTS):
                    stat[e, gi, :, ti], pval[e, gi, :, ti] = res[test]

    param_names = {
        "market_adjusted": ["none"],
        "constant_mean": ["alpha"],
        "garch": list(k.GARCH_PARAMS),
    }.get(model, ["alpha", *[f"beta_{f}" for f in factor_names]])
    member = np.array([[a in m for a in assets] for m in group_map.values()])  # (group, asset)
    usable = (member[None, :, :] & ~bad[:, None, :]).sum(axis=-1)  # (event, group)
    group_note = np.where(
        usable < min_group,
        np.char.add(
            np.char.add("no cross-sectional test: N = ", usable.astype(str)),
            f" usable assets, below min_group = {min_group}",
        ),
        "",
    )
    status = np.array(
        [
            [
                _status(
                    code[e, a],
                    nobs[e, a],
                    need,
                    market_names[a],
                    estimation,
                    observed[e, a],
                    raw_ar[e, a],
                    evt_rel,
                )
                for a in range(len(assets))
            ]
            for e in range(len(event_ids))
        ]
    )
    eia = ("event", "asset")
    # the asset's primary group is kept as ``asset_group`` ("group" is the results' group dim)
    asset_coords = {
        ("asset_group" if c == "group" else str(c)): ("asset", returns[c].values)
        for c in returns.coords
        if returns[c].dims == ("asset",) and c != "asset"
    }
    ds = xr.Dataset(
        {
            "abnormal_return": ((*eia, "rel"), ar, {"description": "AR = R - E[R]"}),
            "ar_se": ((*eia, "rel"), se, {"description": "forecast-error sd of AR"}),
            "sar": ((*eia, "rel"), ar / se, {"description": "standardised AR"}),
            "normal_return": ((*eia, "rel"), normal),
            "observed_return": ((*eia, "rel"), observed),
            "market_return": (
                (*eia, "rel"),
                market_ret,
                {"description": "the benchmark's return on each event bar (market models)"},
            ),
            "car_path": ((*eia, "rel"), car_path, {"description": "CAR from w1 to rel"}),
            "car_path_se": ((*eia, "rel"), np.sqrt(car_path_var)),
            "estimation_residual": ((*eia, "est"), resid),
            "car": ((*eia, "horizon"), car, {"description": "sum of ARs over the horizon"}),
            "car_se": ((*eia, "horizon"), np.sqrt(car_var_h)),
            "bhar": ((*eia, "horizon"), bhar, {"description": "prod(1+R) - prod(1+E[R])"}),
            "asset_t": ((*eia, "horizon"), asset_t),
            "asset_p": ((*eia, "horizon"), asset_p),
            "asset_p_holm": (
                (*eia, "horizon"),
                adjust_p(asset_p, axis=1, method="holm"),
                {"description": "Holm, family: the assets of one event, horizon"},
            ),
            "asset_p_bh": (
                (*eia, "horizon"),
                adjust_p(asset_p, axis=1, method="fdr_bh"),
                {"description": "Benjamini-Hochberg, family: the assets of one event, horizon"},
            ),
            "sigma": (eia, sigma, {"description": "residual sd, estimation window"}),
            "n_estimation": (eia, nobs),
            "dof": (eia, dof),
            "status": (eia, status),
            "params": ((*eia, "param"), params),
            "event_time": (eia, _event_times(index, pos)),
            "aar": (("event", "group", "rel"), aar),
            "caar_path": (("event", "group", "rel"), caar_path),
            "caar": (("event", "group", "horizon"), caar, {"description": "mean CAR"}),
            "mean_bhar": (("event", "group", "horizon"), mean_bhar),
            "n_assets": (("event", "group", "horizon"), n_assets),
            "r_bar": (("event", "group"), r_bar, {"description": "mean residual correlation"}),
            "group_note": (("event", "group"), group_note.astype(str)),
            "in_group": (
                ("group", "asset"),
                np.array([[a in members for a in assets] for members in group_map.values()]),
            ),
            "test_statistic": (("event", "group", "horizon", "test"), stat),
            "test_p_value": (("event", "group", "horizon", "test"), pval),
            "test_p_holm": (
                ("event", "group", "horizon", "test"),
                adjust_p(pval, axis=1, method="holm"),
                {"description": "Holm, family: the groups of one event, horizon, test"},
            ),
            "test_p_bh": (
                ("event", "group", "horizon", "test"),
                adjust_p(pval, axis=1, method="fdr_bh"),
                {
                    "description": "Benjamini-Hochberg, family: the groups of one event, horizon, test"
                },
            ),
        },
        coords={
            "event": event_ids,
            "event_date": ("event", [nominal[e] for e in event_ids]),
            "asset": assets,
            "market": ("asset", market_names),
            **asset_coords,
            "rel": evt_rel,
            "est": est_rel,
            "horizon": labels,
            "horizon_start": ("horizon", [a for a, _ in horizons]),
            "horizon_end": ("horizon", [b for _, b in horizons]),
            "group": g_names,
            "test": list(k.TESTS),
            "param": param_names,
        },
    )
    parameters = {
        "model": model,
        "market": market if isinstance(market, str | type(None)) else "custom",
        "factors": (
            None
            if factors is None
            else "DataArray"
            if isinstance(factors, xr.DataArray)
            else [str(f) for f in factors]
        ),
        "estimation": estimation,
        "gap": gap,
        "window": list(window),
        "car_windows": [list(w) for w in car_windows],
        "non_trading": non_trading,
        "min_estimation": need,
        "min_group": min_group,
        "kind": kind,
        "events": {e: str(nominal[e]) for e in event_ids},
    }
    ds.attrs = {
        "title": "shocklab event study",
        "parameters": json.dumps(parameters, sort_keys=True),
        "shocklab_version": __version__,
        "confounding_events": "; ".join(overlaps),
        "methods": "docs/methods/event_study.md",
    }
    return EventStudyResult(ds, parameters)


def adjust_p(p: np.ndarray, axis: int, method: Literal["holm", "fdr_bh"] = "holm") -> np.ndarray:
    """Multiple-testing adjusted p-values along ``axis`` (one family per position of the other
    axes): ``holm`` (family-wise error, Holm 1979: step-down ``(m - i + 1) p_(i)``, running
    maximum) or ``fdr_bh`` (false discovery rate, Benjamini & Hochberg 1995: step-up
    ``m p_(i) / i``, running minimum from the largest), capped at 1. NaN p-values are not
    members of the family and stay NaN.

    The same numbers as statsmodels' ``multipletests`` (the tests check it), computed for every
    family at once: ``multipletests`` handles one family per call and its Holm branch runs
    ``gc.collect()`` on every call (0.16 s each in a notebook's heap; 78 s for the ~1,000
    families of one study)."""
    moved = np.moveaxis(np.asarray(p, dtype=float), axis, -1)
    flat = np.ascontiguousarray(moved).reshape(-1, moved.shape[-1])
    order = np.argsort(flat, axis=1, kind="stable")  # NaN last
    ranked = np.take_along_axis(flat, order, axis=1)
    m = np.isfinite(flat).sum(axis=1, keepdims=True).astype(float)
    i = np.arange(1, flat.shape[1] + 1, dtype=float)[None, :]
    if method not in ("holm", "fdr_bh"):
        msg = f"method must be 'holm' or 'fdr_bh', not {method!r}"
        raise ValueError(msg)
    if method == "holm":
        adjusted = np.maximum.accumulate((m - i + 1) * ranked, axis=1)  # NaN only at the end
    else:
        adjusted = np.fmin.accumulate((ranked * m / i)[:, ::-1], axis=1)[:, ::-1]
    adjusted = np.where(np.isfinite(ranked), np.minimum(adjusted, 1.0), np.nan)
    out = np.empty_like(flat)
    np.put_along_axis(out, order, adjusted, axis=1)
    return np.moveaxis(out.reshape(moved.shape), -1, axis)


def _event_times(index: pd.DatetimeIndex, pos: np.ndarray) -> np.ndarray:
    times = index.to_numpy()[np.clip(pos, 0, None)]
    return np.where(pos >= 0, times, np.datetime64("NaT")).T


def _group_map(
    returns: xr.DataArray, groups: Mapping[str, Sequence[str]] | None, assets: list[str]
) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {"all": set(assets)}
    if groups is not None:
        for name, members in groups.items():
            out[str(name)] = {str(m) for m in members}
    elif "group" in returns.coords:
        for asset, g in zip(assets, returns["group"].values, strict=True):
            if str(g):
                out.setdefault(str(g), set()).add(asset)
    return out


def car_regression(
    result: EventStudyResult,
    characteristics: pd.DataFrame,
    *,
    horizon: str = "CAR(-1,+1)",
    event: str | None = None,
    cov_type: str = "HC1",
    cov_kwds: Mapping[str, Any] | None = None,
) -> Any:
    """Cross-sectional OLS of CARs on asset characteristics (statsmodels, robust errors).

    ``characteristics`` is indexed by asset (the same values for every event) or by an
    ``(event, asset)`` MultiIndex; an intercept is added. ``cov_type``/``cov_kwds`` are
    statsmodels' (``"HC1"``, ``"HC3"``, ``"HAC"`` with ``{"maxlags": L}``, ``"cluster"``...).
    Returns the statsmodels ``RegressionResults``; unusable instances are dropped.
    """
    import statsmodels.api as sm

    ds = result.dataset
    if horizon not in ds["horizon"].values:
        msg = f"unknown horizon {horizon!r}; choose from {list(ds['horizon'].values)}"
        raise ValueError(msg)
    car = ds["car"].sel(horizon=horizon).where(ds["status"] == "ok")
    if event is not None:
        car = car.sel(event=[event])
    frame = car.to_series().dropna().rename("car").to_frame()
    if isinstance(characteristics.index, pd.MultiIndex):
        joined = frame.join(characteristics, how="inner")
    else:
        joined = frame.join(characteristics, on="asset", how="inner")
    joined = joined.dropna()
    exog = sm.add_constant(joined.drop(columns="car"), has_constant="add")
    if len(joined) <= exog.shape[1]:
        msg = (
            f"only {len(joined)} assets have both a CAR at {horizon} and characteristics "
            f"{list(characteristics.columns)}; need more than {exog.shape[1]}"
        )
        raise ValueError(msg)
    return sm.OLS(joined["car"], exog).fit(cov_type=cov_type, cov_kwds=dict(cov_kwds or {}))

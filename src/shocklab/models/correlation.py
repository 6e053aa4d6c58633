"""Tech--crypto coupling: rolling, EWMA and realized correlations, Forbes--Rigobon, co-exceedances.

Every function works on many pairs at once. A pair is ``(left, right)``: ``left`` is the
affected market (a crypto asset or group index), ``right`` the source (a tech stock or ETF).
:func:`pair_returns` builds the two ``(time, pair)`` arrays from a ``(time, asset)`` return
panel, adding equal-weighted group indices (``majors``, ``ai_tokens``) on request.

Formulas (``docs/methods/regimes.md``):

- rolling: Pearson correlation over the last ``window`` bars where both returns exist, beta of
  left on right ``cov/var(right)``; computed from cumulative sums, so one pass for all pairs;
- EWMA (RiskMetrics): zero-mean weighted moments with ``lambda = 0.94`` by default,
  ``s_t = lambda s_{t-1} + (1 - lambda) x_t y_t``, normalised by the weights actually used
  (missing bars carry no weight);
- Fisher-z bands: ``tanh(atanh(r) +- z_{1-alpha/2} / sqrt(n - 3))`` with ``n`` the bars in the
  window, or the effective size ``(1 + lambda) / (1 - lambda)`` for EWMA;
- realized correlation: ``sum x y / sqrt(sum x^2 sum y^2)`` over the intraday bars in which both
  markets trade (overlapping hours), per day or over a trailing block of days;
- Forbes and Rigobon (2002): ``rho* = rho / sqrt(1 + delta (1 - rho^2))``,
  ``delta = var_event(source) / var_base(source) - 1``; contagion only if ``rho*`` in the event
  window exceeds the baseline ``rho`` significantly (one-sided Fisher-z test);
- tail co-exceedance (Bae, Karolyi and Stulz 2003): days on which both returns fall below their
  own lower ``q`` quantile, against ``q^2`` expected under independence.

Nothing past the data (rolling, EWMA, realized): a pair's path covers only its joint data,
the bars (days, for realized) on which both returns exist. Estimates are NaN before the pair's
first joint bar and after its last one, never carried forward. A gap of at most ``max_gap``
consecutive bars without joint data, with joint data on both sides, is bridged (the missing
bars carry no weight; the estimate on them uses the data before them); every bar of a longer
gap is NaN. The rolling and realized windows hold only bars within ``window``/``days`` of the
estimate and count them, so ``min_periods``/``min_bars`` guard the estimates after a long gap;
the EWMA has unbounded memory, so it restarts after a long gap (recursion and bar count from
zero: ``min_periods`` joint bars are needed again).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import signal, stats

from shocklab.models.event_study import equal_weight_index
from shocklab.universe import load_universe

PAIR = "pair"
MAX_GAP = 5
"""Default longest run of bars without joint data that a path bridges (daily sessions: a week)."""


def with_groups(returns: xr.DataArray, groups: Sequence[str]) -> xr.DataArray:
    """``returns`` plus one equal-weighted index per universe group, named after the group."""
    universe = load_universe()
    extra = []
    for name in groups:
        if name not in universe.groups:
            msg = (
                f"group {name!r} is not in research/universe.yaml; groups: {list(universe.groups)}"
            )
            raise ValueError(msg)
        index = equal_weight_index(returns, universe.members(name))
        extra.append(index.reset_coords(drop=True).expand_dims(asset=[name]))
    if not extra:
        return returns
    base = returns.reset_coords(drop=True)  # per-asset metadata does not apply to indices
    return xr.concat([base, *extra], dim="asset", coords="minimal", compat="override")


def pair_returns(
    returns: xr.DataArray,
    left: Sequence[str],
    right: Sequence[str],
    *,
    dim: str = "time",
) -> tuple[xr.DataArray, xr.DataArray]:
    """Two ``(time, pair)`` arrays, one pair per (left, right) combination.

    Names missing from ``returns`` that are universe groups become equal-weighted indices.
    The ``pair`` coordinate reads ``"BTCUSDT~QQQ"``; coordinates ``left`` and ``right`` hold
    the names.
    """
    names = list(dict.fromkeys([*left, *right]))
    present = set(map(str, returns["asset"].values))
    groups = [n for n in names if n not in present]
    panel = with_groups(returns, groups) if groups else returns
    combos = [(a, b) for a in left for b in right if a != b]
    if not combos:
        msg = "no (left, right) pair: give at least one left and one different right name"
        raise ValueError(msg)
    labels = [f"{a}~{b}" for a, b in combos]
    coords = {
        PAIR: labels,
        "left": (PAIR, [a for a, _ in combos]),
        "right": (PAIR, [b for _, b in combos]),
    }

    def take(which: list[str]) -> xr.DataArray:
        arr = panel.sel(asset=which).transpose(dim, "asset").reset_coords(drop=True)
        return xr.DataArray(
            np.asarray(arr.values, dtype=float),
            dims=(dim, PAIR),
            coords={dim: panel[dim].values, **coords},
        )

    return take([a for a, _ in combos]), take([b for _, b in combos])


def fisher_band(
    r: np.ndarray[Any, Any] | xr.DataArray, n: Any, level: float = 0.95
) -> tuple[Any, Any]:
    """Fisher-z confidence band ``tanh(atanh r +- z / sqrt(n - 3))``; NaN where ``n <= 3``."""
    z = stats.norm.ppf(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = 1.0 / np.sqrt(np.where(np.asarray(n) > 3, np.asarray(n, dtype=float) - 3, np.nan))
        centre = np.arctanh(np.clip(r, -0.999999, 0.999999))
    return np.tanh(centre - z * se), np.tanh(centre + z * se)


def _joint(
    x: xr.DataArray, y: xr.DataArray, dim: str
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """``(ok, x, y)`` as ``(time, pair)`` floats: ``ok`` where both exist, zeros elsewhere."""
    xv = x.transpose(dim, ...).values.astype(float)
    yv = y.transpose(dim, ...).values.astype(float)
    ok = np.isfinite(xv) & np.isfinite(yv)
    return ok, np.where(ok, xv, 0.0), np.where(ok, yv, 0.0)


def _check_gap(max_gap: int) -> None:
    if max_gap < 0:
        msg = f"max_gap={max_gap} must be 0 or more bars (0: report only bars with joint data)"
        raise ValueError(msg)


def _stretches(
    ok: np.ndarray[Any, Any], max_gap: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """``(report, start)`` for the joint-bar indicators ``ok`` of shape ``(time, pair)``.

    ``report`` is True on joint bars and on the bars of an interior gap (joint bars on both
    sides) of at most ``max_gap`` bars: False before the first joint bar, after the last one
    and throughout longer gaps. ``start`` is the row at which the stretch holding each bar
    begins: the first joint bar after the latest gap longer than ``max_gap`` (0 before any).
    """
    T, P = ok.shape
    by_pair = np.ascontiguousarray(ok.T)
    report = np.zeros((P, T), dtype=bool)
    start = np.zeros((P, T), dtype=np.int64)
    for j in range(P):  # 1-d work on the joint bars of each pair (a few gaps at most)
        joint = np.flatnonzero(by_pair[j])
        if not len(joint):
            continue
        long = np.flatnonzero(np.diff(joint) - 1 > max_gap)  # gap after joint[k], k in long
        edge = np.zeros(T + 1, dtype=np.int64)  # +1 where a reported run starts, -1 after it
        edge[joint[0]] += 1
        edge[joint[-1] + 1] -= 1
        edge[joint[long] + 1] -= 1  # all distinct: every long gap has at least one bar
        edge[joint[long + 1]] += 1
        report[j] = np.cumsum(edge[:T]) > 0
        restart = np.zeros(T, dtype=np.int64)
        restart[joint[long + 1]] = joint[long + 1]
        start[j] = np.maximum.accumulate(restart)
    return report.T, start.T


def _window_sum(a: np.ndarray[Any, Any], window: int) -> np.ndarray[Any, Any]:
    """Trailing sums over ``window`` rows (rows before the first full window: partial sums)."""
    c = np.cumsum(a, axis=0)
    out = c.copy()
    out[window:] = c[window:] - c[:-window]
    return out


_BLOCK = 4  # pairs per block in rolling_correlation (memory ~ 12 arrays of T x _BLOCK)


def _blank(
    bad: np.ndarray[Any, Any], corr: Any, beta: Any, n: Any
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """NaN where ``bad`` (too few bars, degenerate variance); correlation clipped to [-1, 1]."""
    return (
        np.where(bad, np.nan, np.clip(corr, -1.0, 1.0)),
        np.where(bad, np.nan, beta),
        np.where(bad, np.nan, n),
    )


def _rolling_block(
    xv: np.ndarray[Any, Any], yv: np.ndarray[Any, Any], window: int, min_periods: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    ok = np.isfinite(xv) & np.isfinite(yv)
    with np.errstate(invalid="ignore"):
        xc = np.where(ok, xv - np.nanmean(np.where(ok, xv, np.nan), axis=0), 0.0)
        yc = np.where(ok, yv - np.nanmean(np.where(ok, yv, np.nan), axis=0), 0.0)
    n = _window_sum(ok.astype(float), window)
    sx, sy = _window_sum(xc, window), _window_sum(yc, window)
    sxx, syy = _window_sum(xc * xc, window), _window_sum(yc * yc, window)
    sxy = _window_sum(xc * yc, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sy / n
        vx = sxx - sx * sx / n
        vy = syy - sy * sy / n
        corr = cov / np.sqrt(vx * vy)
        beta = cov / vy
    bad = (n < max(min_periods, 3)) | ~np.isfinite(corr)
    return _blank(bad, corr, beta, n)


def _dataset(
    x: xr.DataArray, corr: Any, beta: Any, n: Any, level: float, attrs: dict[str, Any]
) -> xr.Dataset:
    lo, hi = fisher_band(corr, n, level)
    dims = x.dims
    ds = xr.Dataset(
        {
            "corr": (dims, corr),
            "lo": (dims, lo),
            "hi": (dims, hi),
            "beta": (dims, beta),
            "n": (dims, n),
        },
        coords=x.coords,
    )
    ds["corr"].attrs["description"] = "correlation of left and right returns"
    ds["beta"].attrs["description"] = "beta of left on right (cov / var of right)"
    ds["n"].attrs["description"] = "bars (or effective bars) behind each estimate"
    ds["lo"].attrs["description"] = f"{level:.0%} Fisher-z band, lower"
    ds["hi"].attrs["description"] = f"{level:.0%} Fisher-z band, upper"
    ds.attrs = {**attrs, "level": level}
    return ds


def rolling_correlation(
    x: xr.DataArray,
    y: xr.DataArray,
    window: int,
    *,
    min_periods: int | None = None,
    max_gap: int = MAX_GAP,
    level: float = 0.95,
    dim: str = "time",
) -> xr.Dataset:
    """Rolling Pearson correlation and beta of ``x`` (left) on ``y`` (right) for every pair.

    Only bars where both returns exist count; an estimate needs ``min_periods`` of them
    (default: the window) and is NaN otherwise. Sums come from cumulative sums after removing
    each pair's full-sample mean (exact: correlation is shift-invariant).

    Nothing past the data: estimates are NaN before the pair's first joint bar, after its last
    one, and on every bar of a gap longer than ``max_gap`` bars without joint data. On the bars
    of a shorter interior gap the estimate is that of the trailing window (its joint bars).
    The window never holds bars older than ``window``, so it needs no restart after a gap:
    ``min_periods`` applies to the joint bars inside it.
    """
    if window < 3:
        msg = f"window={window} is too short for a correlation; use at least 3 bars"
        raise ValueError(msg)
    _check_gap(max_gap)
    min_periods = window if min_periods is None else min_periods
    xv = x.transpose(dim, ...).values.astype(float)
    yv = y.transpose(dim, ...).values.astype(float)
    corr, beta, n = (np.full(xv.shape, np.nan) for _ in range(3))
    for lo in range(0, xv.shape[1], _BLOCK):  # blocks of pairs: bounded temporaries
        cols = slice(lo, lo + _BLOCK)
        corr[:, cols], beta[:, cols], n[:, cols] = _rolling_block(
            xv[:, cols], yv[:, cols], window, min_periods
        )
    report, _ = _stretches(np.isfinite(xv) & np.isfinite(yv), max_gap)
    corr, beta, n = _blank(~report, corr, beta, n)
    tx = x.transpose(dim, ...)
    return _dataset(tx, corr, beta, n, level, {"method": "rolling", "window": window})


def ewma_correlation(
    x: xr.DataArray,
    y: xr.DataArray,
    *,
    lam: float = 0.94,
    min_periods: int = 20,
    max_gap: int = MAX_GAP,
    level: float = 0.95,
    dim: str = "time",
) -> xr.Dataset:
    """RiskMetrics EWMA correlation and beta (zero-mean moments, decay ``lam``).

    ``s_t = lam s_{t-1} + (1 - lam) v_t`` for ``v = x y, x^2, y^2``, each divided by the same
    recursion run on the indicator of valid bars, so that missing bars carry no weight and the
    start is not biased towards zero. An estimate needs ``min_periods`` joint bars. Bands use
    the effective sample size ``min(bars so far in the stretch, (1 + lam) / (1 - lam))``.

    Nothing past the data: estimates are NaN before the pair's first joint bar, after its last
    one, and on every bar of a gap longer than ``max_gap`` bars without joint data. A shorter
    interior gap is bridged (the recursion decays over it; the estimate on its bars is the
    last one). After a longer gap the pair starts a new stretch: recursion and bar count
    restart from zero, as if the series began there (the old memory would otherwise let one
    or two new bars pass as a full-weight estimate).
    """
    if not 0 < lam < 1:
        msg = f"lam={lam} must lie strictly between 0 and 1 (RiskMetrics daily: 0.94)"
        raise ValueError(msg)
    _check_gap(max_gap)
    ok, xz, yz = _joint(x, y, dim)
    report, start = _stretches(ok, max_gap)
    cols = np.flatnonzero(start[-1] > 0)  # pairs with a restart (``start`` never decreases)
    first = start[:, cols]
    fresh = first > 0
    before = np.maximum(first - 1, 0)
    row = np.arange(ok.shape[0])[:, None]
    decay = np.where(fresh, np.power(lam, (row - first + 1).astype(float)), 0.0)

    def ewma(v: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        s: np.ndarray[Any, Any] = signal.lfilter([1 - lam], [1.0, -lam], v, axis=0)
        if len(cols):  # from the stretch start b on: s_t - lam^(t - b + 1) s_{b-1} (linear)
            sub = s[:, cols]
            s[:, cols] = sub - decay * np.take_along_axis(sub, before, axis=0)
        return s

    w = ewma(ok.astype(float))
    sxy, sxx, syy = ewma(xz * yz), ewma(xz * xz), ewma(yz * yz)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = sxy / np.sqrt(sxx * syy)
        beta = sxy / syy
    count = np.cumsum(ok, axis=0)
    if len(cols):
        sub = count[:, cols]
        count[:, cols] = sub - np.where(fresh, np.take_along_axis(sub, before, axis=0), 0)
    n_eff = np.minimum(count, (1 + lam) / (1 - lam)).astype(float)
    bad = (count < min_periods) | (w <= 0) | ~np.isfinite(corr) | ~report
    corr, beta, n_eff = _blank(bad, corr, beta, n_eff)
    tx = x.transpose(dim, ...)
    return _dataset(tx, corr, beta, n_eff, level, {"method": "ewma", "lambda": lam})


def realized_correlation(
    x: xr.DataArray,
    y: xr.DataArray,
    *,
    days: int = 1,
    min_bars: int = 4,
    max_gap: int = MAX_GAP,
    level: float = 0.95,
    dim: str = "time",
) -> xr.Dataset:
    """Realized correlation per UTC day from intraday bars in which both markets traded.

    ``x``/``y`` are intraday ``(time, pair)`` returns; bars where either is missing (the equity
    market closed, a gap) drop out, so only overlapping hours count. With ``days > 1`` the
    sums run over the trailing ``days`` days that have bars (a smoother estimate; ``n`` then
    counts all bars behind it). Days with fewer than ``min_bars`` joint bars are NaN.
    Realized moments are not demeaned (intraday means are negligible).

    Nothing past the data: the day axis holds the days on which any pair has joint bars; for
    each pair, estimates are NaN before its first day with joint bars, after its last one and on
    every day of a run of more than ``max_gap`` such days without its joint bars (a pooled
    window would otherwise carry old days forward). Shorter interior runs are bridged by the
    pooled window.
    """
    _check_gap(max_gap)
    tx = x.transpose(dim, ...)
    ok, xz, yz = _joint(x, y, dim)
    day = pd.DatetimeIndex(tx[dim].values).floor("D")
    frame = {
        "n": ok.astype(float),
        "xy": xz * yz,
        "xx": xz * xz,
        "yy": yz * yz,
    }
    sums = {}
    for key, arr in frame.items():
        daily = pd.DataFrame(arr, index=day).groupby(level=0).sum()
        sums[key] = daily
    n = sums["n"]
    traded = n.to_numpy().sum(axis=1) > 0
    idx = n.index[traded]
    agg = {k: v.loc[idx].to_numpy() for k, v in sums.items()}
    report, _ = _stretches(agg["n"] > 0, max_gap)
    if days > 1:
        agg = {k: _window_sum(v, days) for k, v in agg.items()}
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = agg["xy"] / np.sqrt(agg["xx"] * agg["yy"])
        beta = agg["xy"] / agg["yy"]
    bad = (agg["n"] < min_bars) | ~np.isfinite(corr) | ~report
    corr, beta, nn = _blank(bad, corr, beta, agg["n"])
    template = xr.DataArray(
        corr,
        dims=(dim, PAIR),
        coords={dim: idx.to_numpy(), **{c: tx[c] for c in tx.coords if c != dim}},
    )
    return _dataset(template, corr, beta, nn, level, {"method": "realized", "days": days})


def _corr(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> tuple[float, int]:
    ok = np.isfinite(a) & np.isfinite(b)
    n = int(ok.sum())
    if n < 4:
        return float("nan"), n
    return float(np.corrcoef(a[ok], b[ok])[0, 1]), n


def forbes_rigobon_adjust(rho: Any, delta: Any) -> Any:
    """Forbes--Rigobon adjusted correlation ``rho / sqrt(1 + delta (1 - rho^2))``."""
    return rho / np.sqrt(1 + delta * (1 - np.square(rho)))


def forbes_rigobon(
    x: xr.DataArray,
    y: xr.DataArray,
    base: slice | Sequence[Any],
    event: slice | Sequence[Any],
    *,
    dim: str = "time",
) -> pd.DataFrame:
    """Contagion or interdependence? Forbes and Rigobon (2002) for every pair.

    ``x`` is the affected market (left), ``y`` the source market (right) whose variance
    increase ``delta = var_event(y) / var_base(y) - 1`` inflates the event-window correlation.
    ``base`` and ``event`` select labels along ``dim`` (slices or label lists).

    Columns: raw correlations in both windows, ``delta``, the adjusted event correlation
    ``rho_adj``, and for the raw and the adjusted change a one-sided Fisher-z test of an
    increase: ``z = (atanh rho_event - atanh rho_base) / sqrt(1/(n_e - 3) + 1/(n_b - 3))``.
    ``verdict`` is ``contagion`` when the adjusted increase is significant at 5 %,
    ``interdependence`` when only the raw one is, else ``no increase``.
    """
    tx, ty = x.transpose(dim, ...), y.transpose(dim, ...)
    rows = []
    for j, pair in enumerate(tx[PAIR].values):
        xb = tx.sel({dim: base}).values[:, j]
        yb = ty.sel({dim: base}).values[:, j]
        xe = tx.sel({dim: event}).values[:, j]
        ye = ty.sel({dim: event}).values[:, j]
        rho_b, n_b = _corr(xb, yb)
        rho_e, n_e = _corr(xe, ye)
        vb = np.nanvar(yb[np.isfinite(xb)], ddof=1) if n_b > 1 else np.nan
        ve = np.nanvar(ye[np.isfinite(xe)], ddof=1) if n_e > 1 else np.nan
        delta = ve / vb - 1
        rho_adj = forbes_rigobon_adjust(rho_e, delta)
        se = np.sqrt(1 / (n_e - 3) + 1 / (n_b - 3)) if min(n_e, n_b) > 3 else np.nan
        z_raw = (np.arctanh(rho_e) - np.arctanh(rho_b)) / se
        z_adj = (np.arctanh(rho_adj) - np.arctanh(rho_b)) / se
        p_raw, p_adj = stats.norm.sf(z_raw), stats.norm.sf(z_adj)
        verdict = (
            "contagion" if p_adj < 0.05 else "interdependence" if p_raw < 0.05 else "no increase"
        )
        rows.append(
            {
                PAIR: str(pair),
                "n_base": n_b,
                "n_event": n_e,
                "rho_base": rho_b,
                "rho_event": rho_e,
                "delta": delta,
                "rho_adj": rho_adj,
                "change_raw": rho_e - rho_b,
                "change_adj": rho_adj - rho_b,
                "z_raw": z_raw,
                "p_raw": p_raw,
                "z_adj": z_adj,
                "p_adj": p_adj,
                "verdict": verdict if np.isfinite(z_adj) else "too few bars",
            }
        )
    return pd.DataFrame(rows).set_index(PAIR)


def tail_coexceedance(
    x: pd.Series,
    y: pd.Series,
    *,
    quantiles: Sequence[float] = (0.05, 0.01),
    regimes: pd.Series | None = None,
) -> pd.DataFrame:
    """Joint lower-tail days of ``x`` and ``y`` (Bae, Karolyi and Stulz 2003), by regime.

    Thresholds are each series' own full-sample ``q`` quantile. Per regime (all days when
    ``regimes`` is None): days, x-tail days, joint days, the count expected under independence
    (``days * q^2``), their ratio and ``P(x in tail | y in tail)``.
    """
    frame = pd.concat({"x": x, "y": y}, axis=1).dropna()
    if regimes is not None:
        frame["regime"] = regimes.reindex(frame.index)
        frame = frame.dropna(subset=["regime"])
    else:
        frame["regime"] = "all"
    if len(frame) < 20:
        msg = f"only {len(frame)} days with both returns; tail co-exceedance needs at least 20"
        raise ValueError(msg)
    rows = []
    for q in quantiles:
        tx, ty = frame["x"].quantile(q), frame["y"].quantile(q)
        hit_x, hit_y = frame["x"] <= tx, frame["y"] <= ty
        groups = [("all", np.ones(len(frame), bool))]
        if regimes is not None:
            groups += [
                (r, (frame["regime"] == r).to_numpy()) for r in sorted(frame["regime"].unique())
            ]
        for name, sel in groups:
            days = int(sel.sum())
            joint = int((hit_x & hit_y)[sel].sum())
            y_days = int(hit_y[sel].sum())
            expected = days * q * q
            rows.append(
                {
                    "quantile": q,
                    "regime": name,
                    "days": days,
                    "x_tail_days": int(hit_x[sel].sum()),
                    "y_tail_days": y_days,
                    "joint": joint,
                    "expected_indep": expected,
                    "ratio": joint / expected if expected else np.nan,
                    "p_x_given_y": joint / y_days if y_days else np.nan,
                }
            )
    return pd.DataFrame(rows).set_index(["quantile", "regime"])

"""Tech-crypto coupling regimes (notebook 20): which names the study needs and whether the
data cover them (the catalog), their NYSE-synchronous returns, and each model's table and
headline, with day 0 from the run's resolver."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from shocklab.data import CoverageError, hourly_panel, nyse_close_panel, returns
from shocklab.data.calendar import place_on_axis
from shocklab.studies.run import RunContext
from shocklab.universe import load_universe


def regime_span(ctx: RunContext) -> tuple[dt.date, dt.date]:
    """``regime_years`` before day 0 to 90 days after it (calendar dates)."""
    years = ctx.spec.windows.regime_years
    day = ctx.day0_label("daily").date()
    return day - dt.timedelta(days=round(365.25 * years)), day + dt.timedelta(days=90)


def _coupling_symbols(names: Sequence[str]) -> list[str]:
    universe = load_universe()
    out: list[str] = []
    for name in names:
        out.extend(universe.members(name) if name in universe.groups else [name])
    return list(dict.fromkeys(out))


def coupling_returns(ctx: RunContext) -> xr.DataArray:
    """NYSE-synchronous daily log returns of every name the coupling study needs whose file
    covers day 0 (the catalog decides), over :func:`regime_span` (computed); a clear error when
    the regime pair is not covered."""
    coupling = load_universe().coupling
    wanted = _coupling_symbols(
        [*coupling.crypto, *coupling.tech, *coupling.dcc, *coupling.regime_pair]
    )
    session = ctx.day0_label("daily")
    start, end = regime_span(ctx)
    cov = ctx.catalog.coverage(
        wanted,
        "nyse",
        session,
        session_close=ctx.day0.session_close,
        download=(pd.Timestamp(start), pd.Timestamp(end)),
    )
    missing = {n: r for n, r in cov.dropped.items() if n in coupling.regime_pair}
    if missing:
        why = "; ".join(f"{n}: {r}" for n, r in missing.items())
        msg = (
            f"the regimes study needs the regime pair {list(coupling.regime_pair)} at day 0 "
            f"({session.date()}) in {ctx.catalog.root}, but {why}. Pick a moment inside the "
            "data coverage or fetch the data"
        )
        raise CoverageError(msg)
    panel = nyse_close_panel(
        cov.covered, pd.Timestamp(start), pd.Timestamp(end), data_dir=ctx.data_dir
    )
    rets = returns(panel.compute(), "log")
    for name in coupling.regime_pair:
        series = rets.sel(asset=name).to_series().dropna()
        if series.empty or not series.index[0] < session <= series.index[-1]:
            msg = (
                f"{name} has no daily returns around day 0 ({session.date()}) in "
                f"{ctx.catalog.root}; the regimes study cannot place the event"
            )
            raise CoverageError(msg)
    return rets


def coupling_pairs(rets: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """``(crypto, tech)`` returns per pair, from ``coupling`` in research/universe.yaml."""
    from shocklab.models.correlation import pair_returns

    universe = load_universe()
    present = set(map(str, rets["asset"].values))
    crypto = [c for c in universe.coupling.crypto if c in present or c in universe.groups]
    tech = [t for t in universe.coupling.tech if t in present]
    return pair_returns(rets, crypto, tech)


def rolling(ctx: RunContext, x: xr.DataArray, y: xr.DataArray) -> xr.Dataset:
    """Rolling Pearson correlation over ``windows.rolling`` sessions per pair, with Fisher-z
    bands; NaN past each pair's last joint observation."""
    from shocklab.models.correlation import rolling_correlation

    return rolling_correlation(x, y, ctx.spec.windows.rolling)


def ewma(x: xr.DataArray, y: xr.DataArray) -> xr.Dataset:
    """RiskMetrics EWMA correlation (lambda 0.94) per pair; NaN past the data."""
    from shocklab.models.correlation import ewma_correlation

    return ewma_correlation(x, y)


def correlation_by_year(x: xr.DataArray, y: xr.DataArray) -> pd.DataFrame:
    """Pearson correlation per calendar year and pair (NYSE-synchronous daily returns)."""
    rows = {}
    for pair in x["pair"].values:
        frame = pd.DataFrame(
            {"x": x.sel(pair=pair).to_series(), "y": y.sel(pair=pair).to_series()}
        ).dropna()
        by_year = frame.groupby(pd.DatetimeIndex(frame.index).year)
        rows[str(pair)] = by_year.apply(lambda g: g["x"].corr(g["y"]) if len(g) > 20 else np.nan)
    table = pd.DataFrame(rows)
    table.index.name = "year"
    return table.round(3)


def _day0_position(ctx: RunContext, index: pd.DatetimeIndex, what: str) -> int:
    """Position of the daily day 0 (a session) on a session-dated axis."""
    session = ctx.day0_label("daily")
    if len(index) == 0 or not index[0] <= session <= index[-1]:
        span = f"{index[0].date()}..{index[-1].date()}" if len(index) else "nothing"
        msg = f"day 0 ({session.date()}) is outside the {what} ({span})"
        raise CoverageError(msg)
    return place_on_axis(index, session, "error", what=f"day 0 in the {what}").position


def contagion_table(ctx: RunContext, x: xr.DataArray, y: xr.DataArray) -> pd.DataFrame:
    """Forbes--Rigobon per pair: baseline = the estimation window (``estimation`` sessions
    ending ``gap`` before day 0), event = the ``contagion`` window around day 0."""
    from shocklab.models.correlation import forbes_rigobon

    w = ctx.spec.windows
    time = x["time"].values
    at = _day0_position(ctx, pd.DatetimeIndex(time), "coupling panel")
    b0, b1 = max(at - w.gap - w.estimation, 0), at - w.gap - 1
    e0, e1 = at + w.contagion[0], min(at + w.contagion[1], len(time) - 1)
    table = forbes_rigobon(x, y, base=list(time[b0 : b1 + 1]), event=list(time[e0 : e1 + 1]))
    table.attrs = {
        "base": f"{pd.Timestamp(time[b0]).date()}..{pd.Timestamp(time[b1]).date()}",
        "event": f"{pd.Timestamp(time[e0]).date()}..{pd.Timestamp(time[e1]).date()}",
    }
    return table.round(4)


def realized_coupling(ctx: RunContext, days: int = 20) -> xr.Dataset:
    """Realized correlation of each crypto asset with each tech name that has hourly bars,
    from overlapping NYSE hours, pooled over ``days`` trading days, from a year before day 0
    to 90 days after. Empty (``attrs['note']`` says why) when no hourly tech data cover day 0."""
    from shocklab.models.correlation import pair_returns, realized_correlation

    universe = load_universe()
    coupling = universe.coupling
    catalog = ctx.catalog
    singles = [c for c in coupling.crypto if c not in universe.groups]
    session = ctx.day0_label("daily")
    start = session - pd.Timedelta(days=365)
    end = session + pd.Timedelta(days=90)
    at = ctx.day0.session_close or session
    crypto = catalog.coverage(singles, "hourly", at, download=(start, end)).covered
    tech_cov = catalog.coverage(coupling.tech, "hourly", session, download=(start, end))
    tech = tech_cov.covered
    if not crypto or not tech:
        why = "; ".join(f"{n}: {r}" for n, r in tech_cov.dropped.items()) or "no crypto bars"
        return xr.Dataset(
            attrs={"note": f"no hourly tech bars around day 0 ({session.date()}): {why}"}
        )
    panel = hourly_panel([*crypto, *tech], start, end, data_dir=ctx.data_dir).compute()
    hx, hy = pair_returns(returns(panel, "log"), crypto, tech)
    out = realized_correlation(hx, hy, days=days, min_bars=4 * days)
    out.attrs["note"] = f"{days}-day realized correlation from overlapping NYSE hours"
    return out


def dcc_coupling(rets: xr.DataArray) -> Any:
    """Corrected DCC (Aielli) on the ``coupling.dcc`` assets over the regime span."""
    from shocklab.models.dcc import fit_dcc

    names = [n for n in load_universe().coupling.dcc if n in rets["asset"].values]
    frame = pd.DataFrame(rets.sel(asset=names).to_pandas())
    frame = frame[[c for c in frame.columns if frame[c].count() > 250]]
    return fit_dcc(frame.dropna(how="all"), "cdcc")


def dcc_figure_pairs(dcc: Any) -> Any:
    """The DCC paths the report plots: ``report.dcc_crypto`` x ``report.dcc_tech`` present."""
    report = load_universe().report
    names = set(map(str, dcc.correlation["asset"].values))
    crypto = [n for n in report.dcc_crypto if n in names]
    tech = [n for n in report.dcc_tech if n in names]
    return dcc.pairs(crypto, tech)


def regime_series(rets: xr.DataArray) -> tuple[pd.Series, pd.Series]:
    """The ``regime_pair`` (crypto, tech) daily log returns in percent."""
    left, right = load_universe().coupling.regime_pair
    y = rets.sel(asset=left).to_series() * 100
    x = rets.sel(asset=right).to_series() * 100
    y.name, x.name = left, right
    return y, x


def markov_coupling(rets: xr.DataArray, restarts: int = 10) -> Any:
    """Two-regime switching regression of the crypto return on the tech return (percent)."""
    from shocklab.models.markov import fit_markov

    y, x = regime_series(rets)
    return fit_markov(y, x, k_regimes=2, restarts=restarts, seed=0)


def regime_around_event(
    ctx: RunContext, fit: Any, rets: xr.DataArray | None = None
) -> pd.DataFrame:
    """Regime probabilities around day 0.

    - ``forecast from <day -1> (real time)``: ``P(s_0 | F_{-1})`` from a refit on the sample
      up to day -1 only (warm-started from the full-sample optimum), so nothing after day -1
      enters it (needs ``rets``; without them this column is missing);
    - ``forecast from <day -1> (full-sample fit)``: the same forecast with the parameters
      fitted through the end of the sample (up to 90 days after the event): not ex ante;
    - ``filtered`` / ``smoothed`` on day 0 (full-sample fit; smoothed uses later data by
      design).
    """
    index = pd.DatetimeIndex(fit.filtered.index)
    at = _day0_position(ctx, index, "regime sample")
    if at == 0:
        msg = f"day 0 ({index[0].date()}) is the first session of the regime sample: no day -1"
        raise CoverageError(msg)
    before = index[at - 1].date()
    columns: dict[str, pd.Series] = {}
    if rets is not None:
        from shocklab.models.markov import fit_markov

        y, x = regime_series(rets)
        cut = index[at - 1]
        realtime = fit_markov(
            y[y.index <= cut], x[x.index <= cut], k_regimes=2, restarts=1,
            start_params=fit.start_params,
        )  # fmt: skip
        columns[f"forecast from {before} (real time)"] = realtime.forecast(1).iloc[0]
    columns[f"forecast from {before} (full-sample fit)"] = fit.forecast(
        1, origin=index[at - 1]
    ).iloc[0]
    columns[f"filtered {index[at].date()}"] = fit.filtered.iloc[at]
    columns[f"smoothed {index[at].date()}"] = fit.smoothed.iloc[at]
    table = pd.DataFrame(columns)
    table["expected duration (sessions)"] = fit.durations
    return table.round(4)


def coupling_breaks(rets: xr.DataArray) -> Any:
    """Bai--Perron breaks in the ``regime_pair`` regression (BIC, 15 % trimming)."""
    from shocklab.models.breaks import structural_breaks

    y, x = regime_series(rets)
    return structural_breaks(y, x, max_breaks=5, trim=0.15, criterion="bic")


def rolling_beta(rets: xr.DataArray, window: int) -> pd.Series:
    """Rolling beta of the ``regime_pair`` crypto asset on its tech partner."""
    from shocklab.models.correlation import pair_returns, rolling_correlation

    left, right = load_universe().coupling.regime_pair
    x, y = pair_returns(rets, [left], [right])
    beta = rolling_correlation(x, y, window)["beta"].isel(pair=0).to_series()
    beta.name = f"{window}-session beta of {left} on {right}"
    return beta


def coexceedance(rets: xr.DataArray, fit: Any) -> pd.DataFrame:
    """Joint 5 % / 1 % lower-tail days of the regime pair, overall and by smoothed regime."""
    from shocklab.models.correlation import tail_coexceedance

    y, x = regime_series(rets)
    return tail_coexceedance(y, x, quantiles=(0.05, 0.01), regimes=fit.most_likely()).round(3)


def regimes_headline(
    ctx: RunContext,
    by_year: pd.DataFrame,
    contagion: pd.DataFrame,
    around: pd.DataFrame,
    dcc: Any,
) -> str:
    """Markdown paragraph on the coupling going into the shock -- every number from results."""
    left, right = load_universe().coupling.regime_pair
    pair = f"{left}~{right}"
    lines = []
    if pair in by_year:
        years = ", ".join(f"{y} {v:.2f}" for y, v in by_year[pair].dropna().items())
        lines.append(f"Daily {left}-{right} correlation by year: {years}.")
    if pair in contagion.index:
        row = contagion.loc[pair]
        lines.append(
            f"Forbes-Rigobon ({contagion.attrs.get('event', 'event window')} vs "
            f"{contagion.attrs.get('base', 'baseline')}): raw correlation {row['rho_base']:.2f} -> "
            f"{row['rho_event']:.2f} (p = {row['p_raw']:.3g}); adjusted for the {right} variance "
            f"change (delta {row['delta']:+.2f}) {row['rho_adj']:.2f} (p = {row['p_adj']:.3g}): "
            f"**{row['verdict']}**."
        )
    verdicts = contagion["verdict"].value_counts()
    lines.append(
        f"Verdicts across all {len(contagion)} pairs: "
        + ", ".join(f"{v!s} ({n})" for v, n in verdicts.items())
        + "."
    )
    session = ctx.day0_label("daily")
    high = around.loc["high"]
    realtime = [c for c in around.columns if c.endswith("(real time)")]
    forecast = (
        f"forecast for day 0 ({session.date()}) in real time (fit through day -1) "
        f"{high[realtime[0]]:.2f}"
        if realtime
        else f"forecast for day 0 ({session.date()}, full-sample fit) "
        + f"{high[next(c for c in around.columns if c.endswith('(full-sample fit)'))]:.2f}"
    )
    filtered = next(c for c in around.columns if c.startswith("filtered"))
    smoothed = next(c for c in around.columns if c.startswith("smoothed"))
    lines.append(
        f"Markov regimes ({left} on {right}): P(high-beta regime) {forecast}; with the "
        f"full-sample fit, filtered on day 0 {high[filtered]:.2f}, smoothed "
        f"{high[smoothed]:.2f}."
    )
    if left in dcc.correlation["asset"].values and right in dcc.correlation["asset"].values:
        path = dcc.pair(left, right)
        before = path[path.index < session]
        after = path[path.index >= session]
        if len(before) and len(after):
            later = min(5, len(after) - 1)  # the path ends at the data's last session
            lines.append(
                f"cDCC correlation {left}-{right}: {before.iloc[-1]:.2f} the session before, "
                f"{after.iloc[later]:.2f} {later} session(s) after day 0 "
                f"(a = {dcc.params['a']:.3f}, "
                f"b = {dcc.params['b']:.3f})."
            )
    return " ".join(lines)

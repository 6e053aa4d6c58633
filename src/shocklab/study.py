"""One call per notebook cell: the stages of an event's analysis, from an :class:`EventSpec`.

Notebooks (``notebooks/*.py``) stay thin: they validate parameters, then call these functions,
which use the data layer, the models and the plots. Nothing here executes notebooks; that is
:mod:`shocklab.runner`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from shocklab.config import LOCAL_CLUSTER, build_root, data_root
from shocklab.data import CoverageError, hourly_panel, nyse_close_panel, returns
from shocklab.data.catalog import Catalog
from shocklab.events import EventSpec, resolve_event
from shocklab.models import EventStudyResult, event_study
from shocklab.universe import load_universe

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PathLike = str | os.PathLike[str]


def output_folder(output_dir: PathLike) -> Path:
    """The run's output folder; it must lie inside the build root (``$SHOCKLAB_BUILD_DIR``)."""
    root = build_root().resolve()
    out = Path(output_dir)
    out = (out if out.is_absolute() else Path.cwd() / out).resolve()
    if out != root and root not in out.parents:
        msg = (
            f"output_dir {output_dir!r} resolves to {out}, outside the build folder {root}; "
            "shocklab writes only under build/ (set SHOCKLAB_BUILD_DIR to move it)"
        )
        raise ValueError(msg)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "results").mkdir(parents=True, exist_ok=True)
    return out


def connect(scheduler: str = "") -> Any:
    """A ``dask.distributed`` client: None for ``""`` (local threads), a new ``LocalCluster``
    for ``"local"``, else a connection to the scheduler at that address."""
    if not scheduler:
        return None
    from dask.distributed import Client

    if scheduler == LOCAL_CLUSTER:
        return Client(dashboard_address=":0")
    return Client(scheduler, timeout="30s")


def setup(event: str, output_dir: PathLike, scheduler: str = "") -> tuple[EventSpec, Path, Any]:
    """A notebook's validation cell: the event (:func:`resolve_event`), the output folder
    (inside build/) and the dask client (None for local threads)."""
    return resolve_event(event), output_folder(output_dir), connect(scheduler)


@dataclass(frozen=True)
class Selection:
    """Assets with data around the event, and the reason each other asset was left out."""

    symbols: list[str]
    skipped: dict[str, str] = field(default_factory=dict)


def daily_span(spec: EventSpec) -> tuple[dt.date, dt.date]:
    """Calendar dates covering the estimation window, gap and event window of the daily study."""
    w = spec.windows
    before = int((w.estimation + w.gap - w.event[0] + 5) * 7 / 5) + 20  # sessions -> days
    after = int((w.event[1] + 2) * 7 / 5) + 7
    return spec.date - dt.timedelta(days=before), spec.date + dt.timedelta(days=after)


def hourly_span(spec: EventSpec) -> tuple[dt.datetime, dt.datetime]:
    """UTC instants covering the hourly study's windows."""
    w = spec.windows
    start = spec.hourly_start - dt.timedelta(
        hours=w.hourly_estimation + w.hourly_gap - w.hourly_event[0] + 2
    )
    return start, spec.hourly_start + dt.timedelta(hours=w.hourly_event[1] + 2)


def _daily_source(catalog: Catalog, symbol: str) -> Any:
    """The file a NYSE-synchronous daily panel reads: hourly bars for 24/7 assets (sampled at
    the session close), daily bars for exchange-traded ones; None if neither exists."""
    sf = catalog.locate(symbol, "1h")
    if sf is None or sf.calendar != "24/7":
        sf = catalog.locate(symbol, "1d")
    return sf


def select_assets(
    spec: EventSpec, calendar: str = "daily", data_dir: PathLike | None = None
) -> Selection:
    """Universe members of the event's groups whose data cover the event date."""
    catalog = Catalog(data_root(data_dir))
    universe = load_universe()
    if calendar == "daily":
        wanted = list(dict.fromkeys(s for g in spec.groups for s in universe.members(g)))
    else:
        wanted = list(spec.hourly_assets)
    day0 = pd.Timestamp(spec.date)
    keep, skipped = [], {}
    for symbol in wanted:
        sf = _daily_source(catalog, symbol) if calendar == "daily" else catalog.locate(symbol, "1h")
        if sf is None:
            skipped[symbol] = "no file in the data root"
        elif sf.first is not None and pd.Timestamp(sf.first).tz_localize(None) > day0:
            skipped[symbol] = f"data start {sf.first}, after the event"
        elif sf.last is not None and pd.Timestamp(sf.last).tz_localize(None) < day0:
            skipped[symbol] = f"data end {sf.last}, before the event"
        else:
            keep.append(symbol)
    if not keep:
        msg = (
            f"no asset of {spec.id} has data on {spec.date} in {catalog.root}: the date lies "
            "outside the data coverage; pick a date inside it or fetch the data"
        )
        raise CoverageError(msg)
    return Selection(keep, skipped)


def daily_prices(
    spec: EventSpec, selection: Selection, data_dir: PathLike | None = None
) -> xr.Dataset:
    """NYSE-close-synchronous prices of the selected assets around the event (computed)."""
    start, end = daily_span(spec)
    return nyse_close_panel(
        selection.symbols, pd.Timestamp(start), pd.Timestamp(end), data_dir=data_dir
    ).compute()


def hourly_prices(
    spec: EventSpec, selection: Selection, data_dir: PathLike | None = None
) -> xr.Dataset:
    """UTC hourly prices of the selected hourly assets around the event (computed)."""
    start, end = hourly_span(spec)
    return hourly_panel(
        selection.symbols, pd.Timestamp(start), pd.Timestamp(end), data_dir=data_dir
    ).compute()


def daily_event_study(spec: EventSpec, prices: xr.Dataset) -> EventStudyResult:
    """Market-model event study on NYSE-synchronous log returns (markets from the universe)."""
    w = spec.windows
    return event_study(
        returns(prices, "log"),
        {spec.id: spec.date.isoformat()},
        model="market",
        estimation=w.estimation,
        gap=w.gap,
        window=w.event,
        non_trading="next",
    )


def hourly_event_study(spec: EventSpec, prices: xr.Dataset) -> EventStudyResult:
    """Constant-mean event study on UTC hourly log returns (the common crash stays visible)."""
    w = spec.windows
    return event_study(
        returns(prices, "log"),
        {spec.id: pd.Timestamp(spec.hourly_start)},
        model="constant_mean",
        estimation=w.hourly_estimation,
        gap=w.hourly_gap,
        window=w.hourly_event,
        non_trading="next",
    )


def coverage_table(panel: xr.Dataset) -> pd.DataFrame:
    """Per asset: first and last valid sample, samples, missing samples and missing source bars."""
    close = panel["close"].load()
    rows = []
    for asset in panel["asset"].values:
        series = close.sel(asset=asset).to_series()
        valid = series.dropna()
        rows.append(
            {
                "asset": str(asset),
                "group": str(panel["group"].sel(asset=asset).values),
                "first": valid.index.min(),
                "last": valid.index.max(),
                "samples": int(series.size),
                "missing_samples": int(series.isna().sum()),
                "missing_source_bars": int(panel["n_missing"].sel(asset=asset).sum()),
            }
        )
    return pd.DataFrame(rows).set_index("asset")


def group_table(result: EventStudyResult, horizon: str = "AR(+0)") -> pd.DataFrame:
    """Per group at one horizon: N, CAAR (%), and the shared-date-robust tests' p-values."""
    ds = result.dataset.isel(event=0).sel(horizon=horizon)
    table = pd.DataFrame(
        {
            "N": ds["n_assets"].values.astype(int),
            "CAAR %": ds["caar"].values * 100,
            "KP-BMP t": ds["test_statistic"].sel(test="kp_bmp").values,
            "KP-BMP p": ds["test_p_value"].sel(test="kp_bmp").values,
            "GRANK p": ds["test_p_value"].sel(test="grank").values,
            "Brown-Warner p": ds["test_p_value"].sel(test="brown_warner").values,
            "r-bar": ds["r_bar"].values,
        },
        index=pd.Index(ds["group"].values, name="group"),
    )
    return table[table["N"] > 0].round(4)


def asset_table(result: EventStudyResult, horizon: str = "AR(+0)") -> pd.DataFrame:
    """Per asset at one horizon: CAR (%), t, p, and the status of unusable assets."""
    ds = result.dataset.isel(event=0).sel(horizon=horizon)
    table = pd.DataFrame(
        {
            "group": ds["asset_group"].values if "asset_group" in ds.coords else "",
            "market": ds["market"].values,
            "CAR %": ds["car"].values * 100,
            "t": ds["asset_t"].values,
            "p": ds["asset_p"].values,
            "status": ds["status"].values,
        },
        index=pd.Index(ds["asset"].values, name="asset"),
    )
    return table.sort_values("CAR %").round(4)


def headline(result: EventStudyResult, spec: EventSpec, horizon: str = "AR(+0)") -> str:
    """A Markdown paragraph whose numbers all come from ``result``."""
    assets = asset_table(result, horizon).dropna(subset=["CAR %"])
    groups = group_table(result, horizon)
    if assets.empty:
        return f"**{spec.label or spec.id}**: no asset has a usable {horizon}."
    worst = assets.head(3)
    parts = ", ".join(
        f"{a} {row['CAR %']:+.1f} % (p = {row['p']:.3g})" for a, row in worst.iterrows()
    )
    lead = f"**{spec.label or spec.id}** ({spec.date.isoformat()}), {horizon}: the largest"
    lines = [f"{lead} abnormal losses are {parts}."]
    significant = groups[(groups["KP-BMP p"] < 0.05) & (groups.index != "all")]
    if len(significant):
        lines.append(
            "Groups with a significant KP-adjusted BMP test (5 %): "
            + ", ".join(f"{g} (CAAR {r['CAAR %']:+.1f} %)" for g, r in significant.iterrows())
            + "."
        )
    else:
        lines.append("No group's CAAR is significant under the KP-adjusted BMP test at 5 %.")
    unusable = int((result.dataset["status"].isel(event=0) != "ok").sum())
    if unusable:
        lines.append(f"{unusable} assets are left out (see the status column).")
    return " ".join(lines)


def save_figure(fig: Figure, out: Path, name: str) -> Path:
    """Write ``fig`` as ``figures/<name>.png`` (no timestamp metadata: reruns are identical)."""
    path = out / "figures" / f"{name}.png"
    fig.savefig(path, dpi=110, metadata={"Software": None})
    return path


def show_figure(fig: Figure, out: Path, name: str) -> Any:
    """Save ``fig`` (see :func:`save_figure`), close it, and return the PNG for display.

    The notebook then shows exactly the file written, whatever the matplotlib backend.
    """
    import matplotlib.pyplot as plt
    from IPython.display import Image

    path = save_figure(fig, out, name)
    plt.close(fig)
    return Image(filename=str(path))


def save_result(result: EventStudyResult, out: Path, name: str) -> Path:
    """Write the result as ``results/<name>.nc`` (netCDF; reruns give identical bytes)."""
    path = out / "results" / f"{name}.nc"
    ds = result.to_dataset()
    ds.to_netcdf(path, engine="scipy")
    return path


def save_table(table: pd.DataFrame, out: Path, name: str) -> Path:
    """Write a table as ``results/<name>.csv``."""
    path = out / "results" / f"{name}.csv"
    table.to_csv(path)
    return path


def normalised_prices(prices: xr.Dataset, day0: Any, before: int, after: int) -> pd.DataFrame:
    """Close prices rebased to 100 at the bar before ``day0``, ``before``/``after`` bars around."""
    close = prices["close"].to_pandas()
    at = int(close.index.searchsorted(pd.Timestamp(day0)))
    window = close.iloc[max(at - before, 0) : at + after + 1]
    base = close.iloc[max(at - 1, 0)]
    out = pd.DataFrame(100 * window / base)
    out.index.name = "time"
    return out.replace([np.inf, -np.inf], np.nan)


def dates_around(spec: EventSpec, before: int, after: int) -> tuple[str, str]:
    """ISO dates ``before`` days before and ``after`` days after the event date."""
    return (
        (spec.date - dt.timedelta(days=before)).isoformat(),
        (spec.date + dt.timedelta(days=after)).isoformat(),
    )


def liquidation_data(spec: EventSpec, data_dir: PathLike | None = None) -> xr.Dataset:
    """The daily CoinGlass/Binance panel from its start to 60 days after the event; a clear
    error when the event lies outside the liquidation data."""
    from shocklab.data.derivatives import liquidation_panel

    panel = liquidation_panel(data_dir=data_dir)  # the source's whole history
    day = pd.Timestamp(spec.date)
    has_data = panel["long_usd"].notnull().any("asset")  # noqa: PD004 (xarray API)
    covered = panel["time"].values[has_data.values]
    if covered.size == 0 or not covered[0] <= day <= covered[-1]:
        span = f"{covered[0]} .. {covered[-1]}" if covered.size else "nothing"
        msg = (
            f"the liquidation panel in this data root covers {span}; {spec.id} ({spec.date}) "
            "lies outside, so its liquidation study cannot run. Fetch CoinGlass history for the "
            "date (shocklab.data.fetch.fetch_coinglass)"
        )
        raise CoverageError(msg)
    return panel.sel(time=slice(None, day + pd.Timedelta(days=60)))


def liquidation_headline(
    spec: EventSpec, panel_fit: Any, attribution: pd.DataFrame, feedback: Any
) -> str:
    """Markdown paragraph with the pooled elasticity, the event's excess liquidations and the
    VAR feedback share -- every number read from the estimates."""
    long = panel_fit.table.loc["long"]
    worst_asset = str(attribution["excess"].idxmax())
    worst = attribution.loc[worst_asset]
    share = feedback.table.loc["feedback_share"]
    mult = feedback.table.loc["multiplier"]
    return (
        f"Pooled elasticity (asset fixed effects, Driscoll-Kraay): {long['coef']:+.1f} bp per 1 % "
        f"of open interest liquidated (se {long['se']:.1f}, p = {long['p']:.2g}). On "
        f"{spec.date}, {worst_asset} saw the largest excess "
        f"long liquidations over what its return predicts: {worst['excess']:+.3f} % of OI "
        f"(observed {worst['observed']:.3f}, predicted {worst['predicted']:.3f} +/- "
        f"{worst['se']:.3f}). BTC's VAR amplification multiplier is {mult['estimate']:.2f} "
        f"(90 %: {mult['lo_90']:.2f}-{mult['hi_90']:.2f}); the feedback loop accounts for "
        f"{share['estimate'] * 100:.1f} % of the cumulative move (90 %: "
        f"{share['lo_90'] * 100:.1f} to {share['hi_90'] * 100:.1f} %)."
    )


# --- Tech-crypto coupling regimes (notebooks/20_regimes.py) -------------------------------


def regime_span(spec: EventSpec) -> tuple[dt.date, dt.date]:
    """``regime_years`` before the event to 90 days after it (calendar dates)."""
    years = spec.windows.regime_years
    return spec.date - dt.timedelta(days=round(365.25 * years)), spec.date + dt.timedelta(days=90)


def _coupling_symbols(names: Sequence[str]) -> list[str]:
    universe = load_universe()
    out: list[str] = []
    for name in names:
        out.extend(universe.members(name) if name in universe.groups else [name])
    return list(dict.fromkeys(out))


def _covers(catalog: Catalog, symbol: str, start: dt.date, end: dt.date) -> bool:
    """True if the file the NYSE-synchronous panel reads overlaps ``[start, end]``."""
    sf = _daily_source(catalog, symbol)
    if sf is None:
        return False
    first = pd.Timestamp(sf.first).tz_localize(None) if sf.first is not None else None
    last = pd.Timestamp(sf.last).tz_localize(None) if sf.last is not None else None
    return (first is None or first <= pd.Timestamp(end)) and (
        last is None or last >= pd.Timestamp(start)
    )


def coupling_returns(spec: EventSpec, data_dir: PathLike | None = None) -> xr.DataArray:
    """NYSE-synchronous daily log returns of every name the coupling study needs (computed),
    over :func:`regime_span`; a clear error if the event lies outside the data."""
    coupling = load_universe().coupling
    wanted = _coupling_symbols(
        [*coupling.crypto, *coupling.tech, *coupling.dcc, *coupling.regime_pair]
    )
    catalog = Catalog(data_root(data_dir))
    start, end = regime_span(spec)
    present = [s for s in wanted if _covers(catalog, s, start, end)]
    missing = [name for name in coupling.regime_pair if name not in present]
    if missing:
        msg = (
            f"{missing} have no data between {start} and {end} in {catalog.root}: {spec.id} "
            f"({spec.date}) lies outside the data coverage for the regimes study (pick a date "
            "inside it or fetch the data)"
        )
        raise CoverageError(msg)
    panel = nyse_close_panel(present, pd.Timestamp(start), pd.Timestamp(end), data_dir=data_dir)
    rets = returns(panel.compute(), "log")
    day = pd.Timestamp(spec.date)
    for name in coupling.regime_pair:
        series = rets.sel(asset=name).to_series().dropna()
        if series.empty or not series.index[0] < day <= series.index[-1]:
            msg = (
                f"{name} has no daily returns around {spec.date} in {catalog.root}; the event "
                "lies outside the data coverage for the regimes study (pick a date inside it or "
                "fetch the data)"
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


def _session_position(x: xr.DataArray, spec: EventSpec) -> int:
    index = pd.DatetimeIndex(x["time"].values)
    pos = int(index.searchsorted(pd.Timestamp(spec.date)))
    if pos >= len(index):
        msg = f"{spec.date} is after the last session of the coupling panel ({index[-1].date()})"
        raise CoverageError(msg)
    return pos


def contagion_table(spec: EventSpec, x: xr.DataArray, y: xr.DataArray) -> pd.DataFrame:
    """Forbes--Rigobon per pair: baseline = the estimation window (``estimation`` sessions
    ending ``gap`` before day 0), event = the ``contagion`` window around day 0."""
    from shocklab.models.correlation import forbes_rigobon

    w = spec.windows
    at = _session_position(x, spec)
    time = x["time"].values
    b0, b1 = max(at - w.gap - w.estimation, 0), at - w.gap - 1
    e0, e1 = at + w.contagion[0], min(at + w.contagion[1], len(time) - 1)
    table = forbes_rigobon(x, y, base=list(time[b0 : b1 + 1]), event=list(time[e0 : e1 + 1]))
    table.attrs = {
        "base": f"{pd.Timestamp(time[b0]).date()}..{pd.Timestamp(time[b1]).date()}",
        "event": f"{pd.Timestamp(time[e0]).date()}..{pd.Timestamp(time[e1]).date()}",
    }
    return table.round(4)


def realized_coupling(
    spec: EventSpec, data_dir: PathLike | None = None, days: int = 20
) -> xr.Dataset:
    """Realized correlation of each crypto asset with each tech name that has hourly bars,
    from overlapping NYSE hours, pooled over ``days`` trading days, from a year before the
    event to 90 days after. Empty (``attrs['note']`` says why) when no hourly tech data
    cover the event."""
    from shocklab.models.correlation import pair_returns, realized_correlation

    universe = load_universe()
    coupling = universe.coupling
    catalog = Catalog(data_root(data_dir))
    crypto = [c for c in coupling.crypto if c not in universe.groups and catalog.locate(c, "1h")]
    tech = []
    for name in coupling.tech:
        sf = catalog.locate(name, "1h")
        if (
            sf is not None
            and sf.first is not None
            and sf.last is not None
            and (
                pd.Timestamp(sf.first).tz_localize(None)
                < pd.Timestamp(spec.date)
                <= pd.Timestamp(sf.last).tz_localize(None)
            )
        ):
            tech.append(name)
    if not crypto or not tech:
        return xr.Dataset(
            attrs={"note": f"no hourly tech bars around {spec.date} in {catalog.root}"}
        )
    start = pd.Timestamp(spec.date) - pd.Timedelta(days=365)
    end = pd.Timestamp(spec.date) + pd.Timedelta(days=90)
    panel = hourly_panel([*crypto, *tech], start, end, data_dir=data_dir).compute()
    hx, hy = pair_returns(returns(panel, "log"), crypto, tech)
    out = realized_correlation(hx, hy, days=days, min_bars=4 * days)
    out.attrs["note"] = f"{days}-day realized correlation from overlapping NYSE hours"
    return out


def dcc_coupling(spec: EventSpec, rets: xr.DataArray) -> Any:
    """Corrected DCC (Aielli) on the ``coupling.dcc`` assets over the regime span."""
    from shocklab.models.dcc import fit_dcc

    names = [n for n in load_universe().coupling.dcc if n in rets["asset"].values]
    frame = pd.DataFrame(rets.sel(asset=names).to_pandas())
    frame = frame[[c for c in frame.columns if frame[c].count() > 250]]
    return fit_dcc(frame.dropna(how="all"), "cdcc")


def regime_series(rets: xr.DataArray) -> tuple[pd.Series, pd.Series]:
    """The ``regime_pair`` (crypto, tech) daily log returns in percent."""
    left, right = load_universe().coupling.regime_pair
    y = rets.sel(asset=left).to_series() * 100
    x = rets.sel(asset=right).to_series() * 100
    y.name, x.name = left, right
    return y, x


def markov_coupling(spec: EventSpec, rets: xr.DataArray, restarts: int = 10) -> Any:
    """Two-regime switching regression of the crypto return on the tech return (percent)."""
    from shocklab.models.markov import fit_markov

    y, x = regime_series(rets)
    return fit_markov(y, x, k_regimes=2, restarts=restarts, seed=0)


def regime_around_event(spec: EventSpec, fit: Any) -> pd.DataFrame:
    """Regime probabilities: forecast for day 0 from day -1, filtered and smoothed at day 0."""
    index = pd.DatetimeIndex(fit.filtered.index)
    at = int(index.searchsorted(pd.Timestamp(spec.date)))
    if at == 0 or at >= len(index):
        msg = f"{spec.date} is not inside the regime sample {index[0].date()}..{index[-1].date()}"
        raise CoverageError(msg)
    prior = fit.forecast(1, origin=index[at - 1]).iloc[0]
    table = pd.DataFrame(
        {
            f"forecast from {index[at - 1].date()}": prior,
            f"filtered {index[at].date()}": fit.filtered.iloc[at],
            f"smoothed {index[at].date()}": fit.smoothed.iloc[at],
        }
    )
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


def save_dataset(ds: xr.Dataset | xr.DataArray, out: Path, name: str) -> Path:
    """Write a Dataset as ``results/<name>.nc`` (netCDF; string coords as fixed-width)."""
    path = out / "results" / f"{name}.nc"
    data = ds.to_dataset() if isinstance(ds, xr.DataArray) else ds
    data = data.copy()
    for c in list(data.coords) + list(data.data_vars):
        if data[c].dtype == object:
            data[c] = data[c].astype(str)
    data.attrs = {
        k: (str(v) if not isinstance(v, (int, float, str)) else v) for k, v in data.attrs.items()
    }
    data.to_netcdf(path, engine="scipy")
    return path


def regimes_headline(
    spec: EventSpec,
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
    high = around.loc["high"].to_numpy(dtype=float)
    lines.append(
        f"Markov regimes ({left} on {right}): P(high-beta regime) forecast for day 0 "
        f"{high[0]:.2f}, filtered on day 0 {high[1]:.2f}, smoothed {high[2]:.2f}."
    )
    day = pd.Timestamp(spec.date)
    if left in dcc.correlation["asset"].values and right in dcc.correlation["asset"].values:
        path = dcc.pair(left, right)
        before = path[path.index < day]
        after = path[path.index >= day]
        if len(before) and len(after):
            lines.append(
                f"cDCC correlation {left}-{right}: {before.iloc[-1]:.2f} the session before, "
                f"{after.iloc[min(5, len(after) - 1)]:.2f} five sessions later "
                f"(a = {dcc.params.loc['a', 'estimate']:.3f}, b = {dcc.params.loc['b', 'estimate']:.3f})."
            )
    return " ".join(lines)

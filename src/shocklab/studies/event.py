"""Event study (notebooks 00 and 10): which assets have data at day 0, their prices, the daily
and hourly event studies, and the tables and headline built from them.

Day 0 comes from the run's :class:`~shocklab.data.calendar.DayZero` (one resolver), the asset
selection from the catalog's :meth:`~shocklab.data.catalog.Catalog.coverage` (one coverage
authority); the tables and the headline count every asset left out, by reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from shocklab.data import CoverageError, hourly_panel, nyse_close_panel, returns
from shocklab.data.calendar import place_on_axis
from shocklab.data.catalog import Coverage
from shocklab.data.coverage import coverage_table
from shocklab.formatting import format_p
from shocklab.models import EventStudyResult, event_study
from shocklab.models.event_study import abnormal_column
from shocklab.studies.preflight import event_coverage
from shocklab.studies.run import RunContext
from shocklab.universe import load_universe

Calendar = Literal["daily", "hourly"]


@dataclass(frozen=True)
class Selection:
    """Assets whose data cover day 0 on one calendar, and the catalog's coverage table."""

    calendar: Calendar
    coverage: Coverage

    @property
    def symbols(self) -> list[str]:
        """The assets kept."""
        return self.coverage.covered

    @property
    def skipped(self) -> dict[str, str]:
        """Asset -> why it was left out."""
        return self.coverage.dropped


def wanted_symbols(ctx: RunContext, calendar: Calendar) -> list[str]:
    """The event's group members (daily) or hourly assets (hourly), in order."""
    if calendar == "hourly":
        return list(ctx.spec.hourly_assets)
    universe = load_universe()
    return list(dict.fromkeys(s for g in ctx.spec.groups for s in universe.members(g)))


def select_assets(ctx: RunContext, calendar: Calendar = "daily") -> Selection:
    """Universe members of the event's groups whose file covers day 0 (the catalog decides;
    online, missing files are downloaded first and a failed download leaves its asset out)."""
    catalog = ctx.catalog
    if calendar == "hourly":
        span = hourly_span(ctx)
    else:
        first, last = daily_span(ctx)
        span = (pd.Timestamp(first), pd.Timestamp(last))
    cov = event_coverage(ctx.spec, ctx.day0, catalog, calendar, download=span)
    selection = Selection(calendar, cov)
    if not selection.symbols:
        day = ctx.day0.session if calendar == "daily" else ctx.day0.hourly_bar
        reasons = sorted(set(selection.skipped.values()))
        msg = (
            f"no asset of {ctx.spec.id} has {calendar} data at day 0 ({day}) in {catalog.root}: "
            f"{'; '.join(reasons[:3])}. Pick a moment inside the data coverage or fetch the data"
        )
        raise CoverageError(msg)
    return selection


def selection_note(selection: Selection) -> str:
    """Markdown: how many assets are kept and, by reason, which were left out."""
    kept = len(selection.symbols)
    total = kept + len(selection.skipped)
    text = f"{kept} of {total} assets have {selection.calendar} data at day 0."
    by_reason = _by_reason(selection.skipped)
    if by_reason:
        text += " Left out: " + "; ".join(
            f"{reason}: {_names(names)}" for reason, names in by_reason.items()
        )
        text += "."
    return text


def daily_span(ctx: RunContext) -> tuple[dt.date, dt.date]:
    """Calendar dates covering the estimation window, gap and event window of the daily study."""
    w = ctx.spec.windows
    day = ctx.day0_label("daily").date()
    before = int((w.estimation + w.gap - w.event[0] + 5) * 7 / 5) + 20  # sessions -> days
    after = int((w.event[1] + 2) * 7 / 5) + 7
    return day - dt.timedelta(days=before), day + dt.timedelta(days=after)


def hourly_span(ctx: RunContext) -> tuple[pd.Timestamp, pd.Timestamp]:
    """UTC instants covering the hourly study's windows."""
    w = ctx.spec.windows
    bar = ctx.day0.hourly_bar
    start = bar - pd.Timedelta(hours=w.hourly_estimation + w.hourly_gap - w.hourly_event[0] + 2)
    return start, bar + pd.Timedelta(hours=w.hourly_event[1] + 2)


def daily_prices(ctx: RunContext, selection: Selection) -> xr.Dataset:
    """NYSE-close-synchronous prices of the selected assets around day 0 (computed)."""
    start, end = daily_span(ctx)
    return nyse_close_panel(
        selection.symbols, pd.Timestamp(start), pd.Timestamp(end), data_dir=ctx.data_dir
    ).compute()


def hourly_prices(ctx: RunContext, selection: Selection) -> xr.Dataset:
    """UTC hourly prices of the selected hourly assets around day 0 (computed)."""
    start, end = hourly_span(ctx)
    return hourly_panel(selection.symbols, start, end, data_dir=ctx.data_dir).compute()


def coverage(selection: Selection, prices: xr.Dataset) -> pd.DataFrame:
    """Every requested asset: its file and span, why it was left out, and its samples."""
    return coverage_table(prices, selection.coverage)


def daily_event_study(ctx: RunContext, prices: xr.Dataset) -> EventStudyResult:
    """Market-model event study on NYSE-synchronous log returns (markets from the universe)."""
    w = ctx.spec.windows
    return event_study(
        returns(prices, "log"),
        {ctx.spec.id: ctx.day0_label("daily")},
        model="market",
        estimation=w.estimation,
        gap=w.gap,
        window=w.event,
        non_trading="error",  # day 0 is already a session of this panel (resolved once)
    )


def crypto_views(
    ctx: RunContext, prices: xr.Dataset, daily: EventStudyResult, tech: str = "QQQ"
) -> pd.DataFrame:
    """Each crypto asset's day-0 abnormal return against two benchmarks, side by side.

    - *crypto on crypto* (the default study, ``daily``): against the other majors; it absorbs
      the common crypto shock and asks which coins fell more than crypto did;
    - *crypto on tech*: the same market model against ``tech`` (QQQ); it absorbs only what
      crypto's beta to tech predicts, so a shock that hit tech and then crypto shows up.

    Empty (with ``attrs["note"]``) when ``tech`` has no returns in the panel."""
    if tech not in prices["asset"].values:
        out = pd.DataFrame()
        out.attrs["note"] = f"{tech} is not in the panel: no crypto-on-tech view"
        return out
    w = ctx.spec.windows
    on_tech = event_study(
        returns(prices, "log"),
        {ctx.spec.id: ctx.day0_label("daily")},
        model="market",
        market={"crypto": tech},
        estimation=w.estimation,
        gap=w.gap,
        window=w.event,
        non_trading="error",
    )
    own = daily.asset_table()
    other = on_tech.asset_table()
    crypto = [a for a in own.index if a in other.index and other.loc[a, "market"] == tech]
    crypto = [a for a in crypto if own.loc[a, "market"] != tech]
    table = pd.DataFrame(
        {
            "return %": own.loc[crypto, "return %"],
            "crypto benchmark": own.loc[crypto, "market"],
            "AR % on crypto": own.loc[crypto, "AR %"],
            f"AR % on {tech}": other.loc[crypto, "AR %"],
            f"{tech} return %": other.loc[crypto, "market return %"],
            "status on crypto": own.loc[crypto, "status"],
            f"status on {tech}": other.loc[crypto, "status"],
        }
    )
    return table.sort_values(f"AR % on {tech}").round(4)


def hourly_event_study(ctx: RunContext, prices: xr.Dataset) -> EventStudyResult:
    """Constant-mean event study on UTC hourly log returns (the common crash stays visible)."""
    w = ctx.spec.windows
    return event_study(
        returns(prices, "log"),
        {ctx.spec.id: ctx.day0.hourly_bar},
        model="constant_mean",
        estimation=w.hourly_estimation,
        gap=w.hourly_gap,
        window=w.hourly_event,
        non_trading="error",
    )


def left_out(selection: Selection, result: EventStudyResult) -> pd.DataFrame:
    """Every requested asset without a result, with the stage and the reason: the data root
    (no file covering day 0) or the event study (its status)."""
    rows = [{"asset": a, "stage": "data root", "reason": r} for a, r in selection.skipped.items()]
    status = result.dataset["status"].isel(event=0)
    for asset, text in zip(status["asset"].values, status.values, strict=True):
        if str(text) != "ok":
            rows.append({"asset": str(asset), "stage": "event study", "reason": str(text)})
    return pd.DataFrame(rows, columns=["asset", "stage", "reason"]).set_index("asset")


def headline(
    result: EventStudyResult,
    ctx: RunContext,
    selection: Selection,
    horizon: str = "AR(+0)",
) -> str:
    """A Markdown paragraph whose numbers all come from ``result`` and the selection; every
    asset left out is counted, by reason, and groups with no usable asset are named."""
    spec = ctx.spec
    calendar = selection.calendar
    day = (
        ctx.day0.hourly_bar.strftime("%Y-%m-%d %H:%M UTC")
        if calendar == "hourly"
        else (ctx.day0_label("daily").strftime("%a %Y-%m-%d"))
    )
    gone = left_out(selection, result)
    total = len(selection.symbols) + len(selection.skipped)
    usable = total - len(gone)
    lines = [f"**{spec.label or spec.id}** ({calendar} day 0 = {day}), {horizon}:"]
    col = abnormal_column(horizon)
    assets = result.asset_table(horizon)
    assets = assets[assets["status"] == "ok"].dropna(subset=[col])
    losses = assets[assets[col] < 0]
    if assets.empty:
        lines.append(f"no asset has a usable {horizon}.")
    elif losses.empty:
        lines.append(f"no asset has an abnormal loss over {horizon}.")
    else:
        worst = losses.head(3)

        def benchmark(row: pd.Series) -> str:  # constant-mean models have no benchmark
            if not row["market"] or not np.isfinite(row["market return %"]):
                return ""
            return f", {row['market']} {row['market return %']:+.1f} %"

        parts = ", ".join(
            f"{a} {row[col]:+.1f} % (return {row['return %']:+.1f} %{benchmark(row)}; "
            f"Holm p {format_p(row['p Holm'])})"
            for a, row in worst.iterrows()
        )
        lines.append(
            f"the largest abnormal losses, selected from {len(assets)} usable assets, are "
            f"{parts} (abnormal returns in log points, returns simple; p-values "
            f"Holm-adjusted across those {len(assets)} assets)."
        )
    if not assets.empty:
        groups = result.group_table(horizon)
        tested = groups[groups["KP-BMP p"].notna()]
        significant = tested[(tested["KP-BMP p Holm"] < 0.05) & (tested.index != "all")]
        untested = groups[groups["note"] != ""].index.tolist()
        if len(significant):
            lines.append(
                f"Groups with a significant KP-adjusted BMP test (5 %, Holm-adjusted across the "
                f"{len(tested)} tested groups): "
                + ", ".join(f"{g} (CAAR {r['CAAR %']:+.1f} %)" for g, r in significant.iterrows())
                + "."
            )
        else:
            lines.append(
                "No group's CAAR is significant under the KP-adjusted BMP test at 5 % "
                f"(Holm-adjusted across the {len(tested)} tested groups)."
            )
        if untested:
            lines.append(
                f"Groups with fewer than {result.parameters.get('min_group')} usable assets get "
                f"no cross-sectional test: {', '.join(untested)}."
            )
    if len(gone):
        grouped: dict[tuple[str, str], list[str]] = {}
        for asset, row in gone.iterrows():
            kind = str(row["reason"]).split(": ", 1)[0]  # "estimation window too short", ...
            grouped.setdefault((str(row["stage"]), kind), []).append(str(asset))
        by_reason = [
            f"{stage} — {reason}: {_names(names)}" for (stage, reason), names in grouped.items()
        ]
        lines.append(
            f"{len(gone)} of {total} assets are left out ({usable} usable): "
            + "; ".join(by_reason)
            + "."
        )
    if calendar == "daily":
        missing = _empty_groups(ctx, selection, result)
        if missing:
            lines.append(
                "No usable asset in group(s) " + ", ".join(missing) + ": their side of the "
                "shock is not measured in this run."
            )
    return " ".join(lines)


def _empty_groups(ctx: RunContext, selection: Selection, result: EventStudyResult) -> list[str]:
    universe = load_universe()
    status = result.dataset["status"].isel(event=0).to_series()
    ok = {str(a) for a, s in status.items() if s == "ok"}
    return [g for g in ctx.spec.groups if not ok.intersection(universe.members(g))]


def _by_reason(reasons: dict[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for asset, reason in reasons.items():
        out.setdefault(reason, []).append(asset)
    return out


def _names(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(map(str, names[:limit]))
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{len(names)} ({shown}{more})"


def normalised_prices(
    prices: xr.Dataset, day0: pd.Timestamp, before: int, after: int
) -> pd.DataFrame:
    """Close prices rebased to 100 at the bar before ``day0`` (a label of the panel's axis),
    ``before``/``after`` bars around it."""
    close = prices["close"].to_pandas()
    at = place_on_axis(pd.DatetimeIndex(close.index), pd.Timestamp(day0), "error").position
    window = close.iloc[max(at - before, 0) : at + after + 1]
    base = close.iloc[max(at - 1, 0)]
    out = pd.DataFrame(100 * window / base)
    out.index.name = "time"
    return out.replace([np.inf, -np.inf], np.nan)

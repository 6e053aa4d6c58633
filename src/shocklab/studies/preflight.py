"""What each study needs from the data root at day 0, asked before any kernel starts.

The runner calls :data:`PREFLIGHT` (by notebook stem) with the event, its day 0 per calendar
and the catalog; each check answers through the coverage authority
(:class:`~shocklab.data.catalog.Catalog`) in well under a second, without loading a panel.
A notebook whose check fails is skipped with the reason and what data would enable it. The
study modules use the same coverage functions to select their assets, so the pre-flight and
the notebooks cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import pandas as pd

from shocklab.data.calendar import DayZero, format_moment
from shocklab.data.catalog import DERIVATIVE_FILES, Catalog, Coverage
from shocklab.events import EventSpec
from shocklab.studies.run import Readiness
from shocklab.universe import load_universe

Calendar = Literal["daily", "hourly"]


def event_coverage(
    spec: EventSpec,
    day0: DayZero,
    catalog: Catalog,
    calendar: Calendar,
    download: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> Coverage:
    """The event's assets on ``calendar`` (group members for daily, ``hourly_assets`` for
    hourly) and whether each file covers day 0; ``download`` (online) fetches missing files
    for that span first (see :meth:`Catalog.coverage`)."""
    if calendar == "hourly":
        return catalog.coverage(
            list(spec.hourly_assets), "hourly", day0.hourly_bar, download=download
        )
    universe = load_universe()
    wanted = list(dict.fromkeys(s for g in spec.groups for s in universe.members(g)))
    return catalog.coverage(
        wanted, "nyse", day0.session, session_close=day0.session_close, download=download
    )


def liquidation_day_coverage(day0: DayZero, catalog: Catalog) -> pd.DataFrame:
    """:meth:`Catalog.liquidation_coverage`, with ``reason`` set where the overlap does not
    contain the event's UTC day."""
    table = catalog.liquidation_coverage()
    day = day0.utc_day
    for asset, row in table.iterrows():
        if row["reason"]:
            continue
        if day < row["first"]:
            table.loc[asset, "reason"] = f"data start {row['first'].date()}, after the event"
        elif day > row["last"]:
            table.loc[asset, "reason"] = f"data end {row['last'].date()}, before the event"
    return table


def _outside_calendar(study: str, day0: DayZero) -> Readiness:
    return Readiness(
        study,
        f"{format_moment(day0.moment)} lies outside the NYSE calendar (no daily day 0)",
        "a moment inside the exchange calendar",
    )


def event_study(spec: EventSpec, day0: DayZero, catalog: Catalog) -> Readiness:
    """Notebooks 00 and 10: at least one asset with daily and one with hourly data at day 0."""
    if day0.session is None:
        return _outside_calendar("event study", day0)
    downloads: list[str] = []
    for calendar in ("daily", "hourly"):
        cov = event_coverage(spec, day0, catalog, calendar)
        downloads += cov.to_download
        if not cov.covered:
            reasons = sorted(set(cov.dropped.values()))
            return Readiness(
                "event study",
                f"no asset has {calendar} data at day 0 ({'; '.join(reasons[:2])})",
                f"{calendar} bars of the event's assets around {format_moment(day0.moment)} "
                f"in {catalog.root}",
            )
    return Readiness("event study", note=_downloads(downloads))


def _downloads(symbols: list[str]) -> str:
    if not symbols:
        return ""
    names = list(dict.fromkeys(symbols))
    return f"will download {len(names)} missing file(s): {', '.join(names[:10])}"


def regimes(spec: EventSpec, day0: DayZero, catalog: Catalog) -> Readiness:
    """Notebook 20: the regime pair's files cover the daily day 0."""
    del spec
    pair = list(load_universe().coupling.regime_pair)
    if day0.session is None:
        return _outside_calendar("regimes", day0)
    cov = catalog.coverage(pair, "nyse", day0.session, session_close=day0.session_close)
    if not cov.dropped:
        return Readiness("regimes", note=_downloads(cov.to_download))
    why = "; ".join(f"{n}: {r}" for n, r in cov.dropped.items())
    return Readiness(
        "regimes",
        f"the regime pair {pair} is not covered at day 0 ({day0.session.date()}): {why}",
        f"daily prices of {' and '.join(pair)} through {day0.session.date()} "
        f"(e.g. shocklab.data.fetch.fetch_prices) in {catalog.root}",
    )


def liquidations(spec: EventSpec, day0: DayZero, catalog: Catalog) -> Readiness:
    """Notebook 30: some asset has liquidations, open interest and daily prices on the event's
    UTC day."""
    del spec
    table = liquidation_day_coverage(day0, catalog)
    if (table["reason"] == "").any():
        return Readiness("liquidations")
    why = "; ".join(sorted(set(table["reason"]))) or (
        f"{DERIVATIVE_FILES['liquidations']} is not in the data root"
    )
    return Readiness(
        "liquidations",
        f"no asset has liquidations, open interest and daily prices on "
        f"{day0.utc_day.date()} ({why})",
        "CoinGlass daily liquidations and open interest "
        "(shocklab.data.fetch.fetch_coinglass_liquidations, needs COINGLASS_API_KEY) and Binance "
        f"daily klines covering {day0.utc_day.date()}",
    )


Check = Callable[[EventSpec, DayZero, Catalog], Readiness]

PREFLIGHT: dict[str, Check] = {
    "00_data_overview": event_study,
    "10_event_study": event_study,
    "20_regimes": regimes,
    "30_liquidations": liquidations,
}
"""The pre-flight check of each notebook, by stem. A notebook not listed is taken as ready."""

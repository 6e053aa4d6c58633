"""The executive summary: the event's own facts, computed, and the run's verdicts in one place.

Each study notebook computes its part and writes it with :func:`save_facts` to
``results/facts_<section>.json``: short facts (label, value, the result file it comes from) and
tables saved beside them. The runner (:func:`shocklab.runner.write_report`) puts every section it
finds at the top of ``report.html`` and into ``summary.json`` (``executive_summary``); a section
whose notebook was skipped or failed is listed as not computed, with the reason.

- :func:`raw_moves` -- what happened: per key asset, the day-0 close-to-close return and the fall
  from the last bar before the moment to the trough, from the finest bars in the data root;
- :func:`liquidation_totals` -- how much was liquidated, in USD, long/short, with source and
  completeness;
- :func:`move_facts`, :func:`event_facts`, :func:`regime_facts` -- how big and how sure: the
  largest moves, the results that survive multiple-testing adjustment under the tests that allow
  for a shared date, and the coupling verdict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from shocklab.data.atomic import replace_atomically
from shocklab.data.catalog import Catalog
from shocklab.data.errors import ShocklabDataError
from shocklab.formatting import format_p, format_table, format_value
from shocklab.models.event_study import EventStudyResult
from shocklab.studies.run import RunContext, facts_path
from shocklab.universe import load_universe

FREQS = ("5m", "1h", "1d")
TROUGH_HOURS = 24
"""Intraday troughs are looked for in at least the ``TROUGH_HOURS`` after the moment
(:func:`trough_end`)."""


def fact(label: str, value: str, source: str = "") -> dict[str, str]:
    """One line of the summary: ``label``: ``value`` (``source``: the result file, relative to
    the run folder, that holds the number)."""
    return {"label": label, "value": value, "source": source}


def save_facts(
    out: Path,
    section: str,
    facts: Sequence[Mapping[str, str]],
    tables: Mapping[str, tuple[str, pd.DataFrame]] | None = None,
) -> Path:
    """Write :func:`~shocklab.studies.run.facts_path`: the facts, and tables the summary shows in full
    (``{title: ("results/<name>.csv", table)}``, stored as formatted text with the file that
    holds the full-precision numbers). Written to a temporary name and renamed, so a killed
    kernel never leaves half a file."""
    shown = {}
    for title, (source, table) in (tables or {}).items():
        text = format_table(table)
        shown[title] = {
            "source": source,
            "index": str(table.index.name or ""),
            "columns": [str(c) for c in text.columns],
            "rows": [
                [str(i), *row] for i, row in zip(text.index, text.to_numpy().tolist(), strict=True)
            ],
        }
    body = json.dumps({"section": section, "facts": list(facts), "tables": shown}, indent=2)
    return replace_atomically(facts_path(out, section), lambda tmp: tmp.write_text(body))


# ------------------------------------------------------------------------------ raw moves


def key_assets(
    ctx: RunContext, available: Sequence[str], per_group: int = 2
) -> list[tuple[str, str]]:
    """``(group, asset)`` for the first ``per_group`` members of every event group that are in
    ``available`` (members are listed in ``research/universe.yaml`` by importance)."""
    universe = load_universe()
    have = set(available)
    picked: list[tuple[str, str]] = []
    for group in ctx.spec.groups:
        members = [a for a in universe.members(group) if a in have]
        picked.extend((group, a) for a in members[:per_group])
    return picked


def _bars(
    ctx: RunContext,
    catalog: Catalog,
    symbol: str,
    freq: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """``low``, ``close``, ``bar_end`` of ``symbol`` at ``freq`` in [start, end), from the data
    root only (the summary never downloads); empty when no local file covers the window."""
    from shocklab.data import open_prices

    sf = catalog.locate(symbol, freq)
    if sf is None or sf.first is None or sf.last is None:
        return pd.DataFrame()
    if sf.last < start or sf.first >= end:
        return pd.DataFrame()
    try:
        ds = open_prices([symbol], start, end, freq=freq, data_dir=ctx.data_dir, fetch=False)
    except ShocklabDataError:
        return pd.DataFrame()
    frame = ds[["low", "close", "bar_end"]].sel(asset=symbol).compute().to_dataframe()
    return frame[["low", "close", "bar_end"]].dropna(subset=["close"])


def trough_end(ctx: RunContext) -> pd.Timestamp:
    """Where intraday troughs are looked for: from the moment to ``TROUGH_HOURS`` after it, or
    to the close of the daily day-0 session when that is later (a weekend or after-close
    moment: the window runs through the session the daily study calls day 0)."""
    end = ctx.day0.moment + pd.Timedelta(hours=TROUGH_HOURS)
    close = ctx.day0.session_close
    if close is not None:
        stamp = pd.Timestamp(close)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        end = max(end, stamp)
    return end


def _move(ctx: RunContext, catalog: Catalog, symbol: str) -> dict[str, Any]:
    """The last close before the moment and the lowest low after it, from the finest bars that
    have both. Intraday: bars ending at or before the moment, and bars opening in the
    window :func:`trough_end` gives. Daily: the bar before day 0's session and day 0's session."""
    moment = ctx.day0.moment
    until = trough_end(ctx)
    empty = {
        "resolution": "none",
        "pre": np.nan,
        "pre_time": pd.NaT,
        "trough": np.nan,
        "trough_time": pd.NaT,
    }
    for freq in FREQS:
        if freq == "1d":
            start, end = moment - pd.Timedelta(days=10), moment + pd.Timedelta(days=10)
        else:
            start, end = moment - pd.Timedelta(hours=6), until
        bars = _bars(ctx, catalog, symbol, freq, start, end)
        if bars.empty:
            continue
        ends = pd.DatetimeIndex(bars["bar_end"])
        before = bars[ends <= moment]
        if freq == "1d":
            after = bars[ends > moment].head(1)  # the first bar that closes after the moment
        else:
            after = bars[(bars.index >= moment) & (bars.index < end)]
        if before.empty or after.empty:
            continue
        at: Any = after["low"].idxmin()
        return {
            "resolution": freq,
            "pre": float(before["close"].iloc[-1]),
            "pre_time": pd.Timestamp(before["bar_end"].iloc[-1]),
            "trough": float(after["low"].min()),
            "trough_time": pd.Timestamp(at),
        }
    return empty


def _when(t: Any, session: bool) -> str:
    if pd.isna(t):
        return ""
    return f"{t:%Y-%m-%d} session" if session else f"{t:%Y-%m-%d %H:%M}"


def raw_moves(ctx: RunContext, daily: EventStudyResult, per_group: int = 2) -> pd.DataFrame:
    """What happened, per key asset (:func:`key_assets` of the assets the daily study used).

    ``day-0 return %``: the simple return over the daily day-0 bar (NYSE session close to close,
    as in the event study). ``last price before`` (with the time the bar ended, UTC) and
    ``trough`` (the lowest *low*, with the bar's opening time, UTC) come from the finest bars in
    the data root: 5-minute, else hourly (troughs from the moment to 24 h after it or to the
    close of the daily day-0 session, whichever is later: :func:`trough_end`), else daily (day
    0's session low); ``bars`` says which. ``to trough %`` = trough / last price - 1."""
    table = daily.asset_table()
    usable = [str(a) for a in table.index[table["return %"].notna()]]
    rows = []
    catalog = ctx.catalog  # one coverage authority for every lookup
    for group, asset in key_assets(ctx, usable, per_group):
        move = _move(ctx, catalog, asset)
        daily_bar = move["resolution"] == "1d"
        rows.append(
            {
                "asset": asset,
                "group": group,
                "day-0 return %": float(cast(Any, table.loc[asset, "return %"])),
                "last price before": move["pre"],
                "at (UTC)": _when(move["pre_time"], False),
                "trough": move["trough"],
                "trough at (UTC)": _when(move["trough_time"], daily_bar),
                "to trough %": (move["trough"] / move["pre"] - 1) * 100,
                "bars": move["resolution"],
            }
        )
    columns = [
        "group",
        "day-0 return %",
        "last price before",
        "at (UTC)",
        "trough",
        "trough at (UTC)",
        "to trough %",
        "bars",
    ]
    return pd.DataFrame(rows, columns=["asset", *columns]).set_index("asset")


def move_facts(moves: pd.DataFrame, source: str) -> list[dict[str, str]]:
    """The largest day-0 fall and the deepest trough, as facts."""
    if moves.empty:
        return [fact("Raw moves", "no key asset has a usable day-0 return", source)]
    worst: Any = moves["day-0 return %"].idxmin()
    out = [
        fact(
            "Largest day-0 fall (key assets)",
            f"{worst} {moves.loc[worst, 'day-0 return %']:+.1f} % (session close to close)",
            source,
        )
    ]
    deep = moves.dropna(subset=["to trough %"])
    intraday = deep[deep["bars"] != "1d"]
    if len(intraday):
        name: Any = intraday["to trough %"].idxmin()
        row: Any = intraday.loc[name]
        out.append(
            fact(
                "Deepest intraday trough (key assets)",
                f"{name} {format_value(row['last price before'], 'price')} -> "
                f"{format_value(row['trough'], 'price')} "
                f"({row['to trough %']:+.1f} %) at {row['trough at (UTC)']} UTC "
                f"({row['bars']} bars)",
                source,
            )
        )
    return out


# ------------------------------------------------------------------------------ liquidations


def liquidation_totals(
    ctx: RunContext, source: str = ""
) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """USD liquidated on the UTC day(s) covering the moment (the moment's day, and the next one
    when the 24 h after the moment run into it), per asset and in total, long/short, from the
    CoinGlass daily aggregates (a subset of exchanges: a lower bound), with how many assets
    have data; and the 24 h after the moment where hourly data exist (the CoinGlass BTC
    export), else ``n/a at daily resolution``."""
    from shocklab.data.catalog import DERIVATIVE_FILES
    from shocklab.data.loaders import (
        HOURLY_LIQUIDATIONS,
        open_hourly_liquidations,
        open_liquidations,
    )

    moment = ctx.day0.moment
    first = ctx.day0.utc_day
    days = [first] if moment == first else [first, first + pd.Timedelta(days=1)]
    facts: list[dict[str, str]] = []
    try:
        ds = open_liquidations(
            start=f"{days[0]:%Y-%m-%d}", end=f"{days[-1]:%Y-%m-%d}", data_dir=ctx.data_dir
        ).compute()
    except ShocklabDataError as exc:
        return pd.DataFrame(), [fact("Liquidations (USD)", f"not available: {exc}")]
    frame = ds[["long_usd", "short_usd"]].to_dataframe()[["long_usd", "short_usd"]]
    frame = frame[frame.index.get_level_values("time").isin(days)]
    usd = frame.groupby(level="asset").sum(min_count=1)
    with_data = usd.dropna()
    table = pd.DataFrame(
        {
            "long, M USD": usd["long_usd"] / 1e6,
            "short, M USD": usd["short_usd"] / 1e6,
            "total, M USD": (usd["long_usd"] + usd["short_usd"]) / 1e6,
            "long share %": 100 * usd["long_usd"] / (usd["long_usd"] + usd["short_usd"]),
        }
    )
    label_days = " and ".join(f"{d:%Y-%m-%d}" for d in days)
    if with_data.empty:
        facts.append(fact("Liquidations (USD)", f"no CoinGlass data on {label_days} (UTC)"))
    else:
        long, short = with_data["long_usd"].sum(), with_data["short_usd"].sum()
        facts.append(
            fact(
                f"Liquidations on {label_days} (UTC day{'s' if len(days) > 1 else ''})",
                f"{(long + short) / 1e6:,.0f} M USD: {long / 1e6:,.0f} M long, {short / 1e6:,.0f} M "
                f"short ({long / (long + short):.0%} longs); {len(with_data)} of {len(usd)} assets "
                f"({', '.join(map(str, with_data.index))}); CoinGlass aggregates over a subset of "
                f"exchanges ({DERIVATIVE_FILES['liquidations']}): a lower bound",
                source,
            )
        )
    hourly = open_hourly_liquidations(data_dir=ctx.data_dir)
    end = moment + pd.Timedelta(hours=24)
    if (
        hourly is not None
        and hourly.index.min() <= moment
        and hourly.index.max() >= end - pd.Timedelta(hours=1)
    ):
        window = hourly[(hourly.index >= moment) & (hourly.index < end)]
        long, short = window["long_usd"].sum(), window["short_usd"].sum()
        facts.append(
            fact(
                "Liquidations in the 24 h after the moment",
                f"BTC only: {(long + short) / 1e6:,.0f} M USD ({long / 1e6:,.0f} M long, "
                f"{short / 1e6:,.0f} M short), CoinGlass hourly export ({HOURLY_LIQUIDATIONS})",
            )
        )
    else:
        facts.append(
            fact(
                "Liquidations in the 24 h after the moment",
                "n/a at daily resolution (no hourly liquidation data cover the moment)",
            )
        )
    return table, facts


# ------------------------------------------------------------------------------ verdicts


def event_facts(
    daily: EventStudyResult, groups_source: str, assets_source: str, horizon: str = "AR(+0)"
) -> list[dict[str, str]]:
    """How sure: groups whose CAAR stays significant under the KP-adjusted BMP test after Holm
    across the tested groups, and assets whose AR stays significant after Holm across assets."""
    groups = daily.group_table(horizon)
    tested = groups[groups["KP-BMP p"].notna() & (groups.index != "all")]
    sig = tested[tested["KP-BMP p Holm"] < 0.05]
    if len(sig):
        text = ", ".join(
            f"{g} (CAAR {r['CAAR %']:+.1f} %, Holm p {format_p(r['KP-BMP p Holm'])})"
            for g, r in sig.iterrows()
        )
    else:
        text = "none"
    out = [
        fact(
            f"Groups significant at 5 % ({horizon}, KP-adjusted BMP, Holm across {len(tested)} tested groups)",
            text,
            groups_source,
        )
    ]
    assets = daily.asset_table(horizon)
    ok = assets[assets["status"] == "ok"]
    col = ok.columns[ok.columns.isin(["AR %", "CAR %"])][0]
    hit = ok[ok["p Holm"] < 0.05].sort_values(col)
    names = ", ".join(f"{a} {r[col]:+.1f} %" for a, r in hit.head(8).iterrows())
    more = f" and {len(hit) - 8} more" if len(hit) > 8 else ""
    out.append(
        fact(
            f"Assets significant at 5 % ({horizon}, Holm across {len(ok)} usable assets)",
            f"{len(hit)}" + (f": {names}{more}" if len(hit) else ""),
            assets_source,
        )
    )
    return out


def regime_facts(
    ctx: RunContext,
    contagion: pd.DataFrame,
    around: pd.DataFrame,
    contagion_source: str,
    regime_source: str,
) -> list[dict[str, str]]:
    """The coupling verdict: Forbes-Rigobon for the regime pair, and the real-time probability
    of the high-beta regime on day 0."""
    left, right = load_universe().coupling.regime_pair
    pair = f"{left}~{right}"
    out = []
    if pair in contagion.index:
        row: Any = contagion.loc[pair]
        out.append(
            fact(
                f"Contagion or interdependence ({left} on {right})",
                f"{row['verdict']}: correlation {row['rho_base']:.2f} -> {row['rho_event']:.2f}, "
                f"{row['rho_adj']:.2f} adjusted for the {right} variance change "
                f"(adjusted p {format_p(float(row['p_adj']))})",
                contagion_source,
            )
        )
    realtime = [c for c in around.columns if c.endswith("(real time)")]
    if realtime and "high" in around.index:
        prob = float(cast(Any, around.loc["high", realtime[0]]))
        out.append(
            fact(
                "P(high-beta coupling regime) on day 0",
                f"{prob:.2f} (forecast from data up to day -1)",
                regime_source,
            )
        )
    return out

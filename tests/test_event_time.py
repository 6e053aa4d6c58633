"""Event moments on every calendar (one resolver) and coverage from one authority (the catalog),
on the real mirror and on data roots built from symlinks to it."""

from __future__ import annotations

import warnings
from pathlib import Path

import exchange_calendars as xcals
import numpy as np
import pandas as pd
import pytest
from helpers import symlinked_root

from shocklab.config import build_root
from shocklab.data import (
    CoverageError,
    DataQualityWarning,
    NonTradingDayError,
    hourly_panel,
    nyse_close_panel,
    returns,
)
from shocklab.data.calendar import parse_moment, place_on_axis, resolve_day0
from shocklab.data.catalog import Catalog, file_span
from shocklab.models import event_study
from shocklab.studies import event as event_study_stage
from shocklab.studies import liquidations
from shocklab.studies.run import RunContext, setup


def _ctx(event: str, root: Path, non_trading: str = "next") -> RunContext:
    return setup(event, build_root() / "runs" / "t", non_trading=non_trading, data_dir=root)  # type: ignore[arg-type]


# --- the resolver ---------------------------------------------------------------------------


def _brute_force_session(moment: pd.Timestamp) -> pd.Timestamp:
    """Independent rule: the first XNYS session whose close is at or after the moment."""
    sched = xcals.get_calendar("XNYS").schedule
    closes = sched["close"].dt.tz_convert(None)
    return pd.Timestamp(sched.index[closes >= moment][0]).tz_localize(None)


@pytest.mark.parametrize(
    ("moment", "session", "moved"),
    [
        ("2025-01-27", "2025-01-27", ""),
        ("2025-01-26", "2025-01-27", "Sunday"),  # weekend
        ("2024-07-04", "2024-07-05", "NYSE holiday"),  # Independence Day
        ("2024-08-02T21:00Z", "2024-08-05", "after the NYSE close"),  # close 20:00 UTC (EDT)
        ("2024-08-02T17:00-04:00", "2024-08-05", "after the NYSE close"),  # the same moment
        ("2024-08-02T19:59Z", "2024-08-02", ""),  # before that close
        ("2025-01-27T21:00Z", "2025-01-27", ""),  # at the close (EST): that session
        ("2024-12-24T19:00Z", "2024-12-26", "after the NYSE close"),  # early close 18:00 UTC
    ],
)
def test_daily_day0_is_the_first_session_closing_at_or_after_the_moment(
    moment: str, session: str, moved: str
) -> None:
    day0 = resolve_day0(moment)
    stamp = parse_moment(moment)
    assert day0.session == pd.Timestamp(session) == _brute_force_session(stamp)
    assert (moved in day0.session_moved) if moved else day0.session_moved == ""
    assert day0.utc_day == stamp.normalize()
    if moved:
        assert moved.split()[0] in day0.describe()
        with pytest.raises(NonTradingDayError, match=r"non_trading='next'.*'previous'"):
            resolve_day0(moment, "error")
        previous = resolve_day0(moment, "previous").session
        assert previous is not None
        assert previous < stamp.normalize() or previous == stamp.normalize()


def test_resolver_agrees_with_brute_force_on_random_moments() -> None:
    rng = np.random.default_rng(7)
    start = pd.Timestamp("2021-01-01").value
    span = pd.Timestamp("2025-06-30").value - start
    for ns in rng.integers(0, span, size=300):
        moment = pd.Timestamp(start + int(ns)).floor("min")
        day0 = resolve_day0(moment)
        assert day0.session == _brute_force_session(moment), moment
        assert day0.hourly_bar <= moment < day0.hourly_bar + pd.Timedelta(hours=1)


def test_moment_inside_an_hourly_bar_and_zone_checks() -> None:
    day0 = resolve_day0("2025-01-27T07:25Z")
    assert day0.hourly_bar == pd.Timestamp("2025-01-27 07:00")
    assert day0.session == pd.Timestamp("2025-01-27")
    with pytest.raises(ValueError, match="no time zone"):
        parse_moment("2025-01-27T07:25")
    with pytest.raises(ValueError, match="not an ISO date"):
        parse_moment("27/01/2025")
    assert resolve_day0("2030-01-01").session is None  # past the exchange calendar
    assert "outside the NYSE calendar" in resolve_day0("2030-01-01").describe()


def test_place_on_axis_without_ends_uses_bar_opens() -> None:
    hours = pd.date_range("2025-01-27", periods=24, freq="h")
    assert place_on_axis(hours, pd.Timestamp("2025-01-27 07:25"), "error").position == 7
    days = pd.DatetimeIndex(["2025-01-23", "2025-01-24", "2025-01-27", "2025-01-28"])
    saturday = pd.Timestamp("2025-01-25")
    assert place_on_axis(days, saturday, "next").label == pd.Timestamp("2025-01-27")
    assert place_on_axis(days, saturday, "previous").label == pd.Timestamp("2025-01-24")
    with pytest.raises(NonTradingDayError, match="Saturday"):
        place_on_axis(days, saturday, "error")
    with pytest.raises(ValueError, match="outside the time axis"):
        place_on_axis(days, pd.Timestamp("2025-02-10"), "next")


def test_event_study_places_moments_with_the_same_rule(mirror: Path) -> None:
    """On a NYSE-close panel a post-close moment is day 0 of the next session; on an hourly
    panel a moment inside a bar is that bar; both equal the resolver's answer."""
    panel = nyse_close_panel(["BTCUSDT", "QQQ"], "2023-06-01", "2024-08-30", data_dir=mirror)
    r = returns(panel.compute(), "log")
    res = event_study(r, {"e": "2024-08-02T21:00Z"}, market="QQQ", non_trading="next")
    assert (
        pd.Timestamp(res.dataset["event_date"].values[0])
        == resolve_day0("2024-08-02T21:00Z").session
    )
    with pytest.raises(NonTradingDayError, match="after the NYSE close"):
        event_study(r, {"e": "2024-08-02T21:00Z"}, market="QQQ", non_trading="error")
    bars = hourly_panel(["BTCUSDT", "ETHUSDT"], "2025-01-01", "2025-01-29", data_dir=mirror)
    h = returns(bars.compute(), "log")
    kw = {"model": "constant_mean", "estimation": 200, "gap": 5, "window": (-2, 3)}
    inside = event_study(h, {"e": "2025-01-27T07:25Z"}, **kw)  # type: ignore[arg-type]
    exact = event_study(h, {"e": "2025-01-27T07:00Z"}, **kw)  # type: ignore[arg-type]
    assert pd.Timestamp(inside.dataset["event_date"].values[0]) == pd.Timestamp("2025-01-27 07:00")
    np.testing.assert_array_equal(inside.dataset["car"].values, exact.dataset["car"].values)


# --- statuses that tell the truth ---------------------------------------------------------


def test_asset_with_a_hole_at_the_event_is_not_ok(mirror: Path) -> None:
    """2024-08-05: BNBUSDT has no hourly bars 2024-05-08..2024-09-14 (README), so its
    NYSE-close samples around the event are missing: its status must say so."""
    ctx = _ctx("yen-carry-2024-08-05", mirror)
    selection = event_study_stage.select_assets(ctx, "daily")
    assert "BNBUSDT" in selection.symbols  # the file covers day 0 ...
    prices = event_study_stage.daily_prices(ctx, selection)
    res = event_study_stage.daily_event_study(ctx, prices)
    status = res.dataset["status"].isel(event=0).to_series()
    assert status["BNBUSDT"].startswith("no data in the event window")  # ... but has a hole
    raw = pd.read_csv(mirror / "crypto/binance/spot/1h/BNBUSDT.csv.gz", parse_dates=["time"])
    assert not (
        (raw["time"] >= "2024-07-29") & (raw["time"] < "2024-08-13")
    ).any()  # the hole, read independently
    car = res.dataset["car"].isel(event=0).sel(horizon="AR(+0)").to_series()
    assert car[status == "ok"].notna().all()  # no asset ok without an abnormal return
    assert car[status != "ok"].isna().all()


def test_equities_end_headline_counts_every_asset_left_out(mirror: Path) -> None:
    """2025-04-07: the mirror's equities end 2025-02-28; the headline's count equals what the
    coverage table and the statuses drop, and it names the groups with no usable asset."""
    ctx = _ctx("2025-04-07", mirror)
    selection = event_study_stage.select_assets(ctx, "daily")
    prices = event_study_stage.daily_prices(ctx, selection)
    res = event_study_stage.daily_event_study(ctx, prices)
    gone = event_study_stage.left_out(selection, res)
    manifest = pd.read_csv(mirror / "manifest.csv")
    equities = manifest[manifest["path"].str.startswith("equities/us/1d/")]
    ended = set(equities.loc[equities["last"] < "2025-04-07", "symbol"])
    dropped = set(selection.skipped)
    assert {s for s in ended if s in dropped} == ended & set(
        event_study_stage.wanted_symbols(ctx, "daily")
    )
    assert selection.skipped["NVDA"] == "data end 2025-02-28, before the event"
    n_status = int((res.dataset["status"].isel(event=0) != "ok").sum())
    assert len(gone) == len(dropped) + n_status
    text = event_study_stage.headline(res, ctx, selection)
    total = len(selection.symbols) + len(selection.skipped)
    assert f"{len(gone)} of {total} assets are left out" in text
    assert "semis" in text.split("No usable asset in group(s)")[1]
    assert "daily day 0 = Mon 2025-04-07" in text


# --- the coverage authority ---------------------------------------------------------------


def test_file_spans_agree_with_the_manifest(mirror: Path) -> None:
    manifest = pd.read_csv(mirror / "manifest.csv")
    rows = manifest[manifest["kind"].isin(["ohlcv", "close"])]
    assert len(rows) > 100
    for _, row in rows.iterrows():
        span = file_span(mirror / row["path"])
        first, last = (pd.Timestamp(row[c]) for c in ("first", "last"))
        first = first.tz_convert(None) if first.tzinfo else first
        last = last.tz_convert(None) if last.tzinfo else last
        assert span == (first, last), row["path"]


def test_manifest_row_without_dates_falls_back_to_the_file(mirror: Path, tmp_path: Path) -> None:
    root = symlinked_root(mirror, tmp_path, drop=("manifest.csv",))
    manifest = pd.read_csv(mirror / "manifest.csv", dtype=str)
    rel = "crypto/binance/spot/1h/BTCUSDT.csv.gz"
    manifest.loc[manifest["path"] == rel, ["first", "last"]] = ""
    manifest.loc[manifest["path"] == "equities/us/1d/NVDA.csv", "last"] = "garbled"
    manifest.to_csv(root / "manifest.csv", index=False)
    raw = pd.read_csv(mirror / rel)
    with pytest.warns(DataQualityWarning, match="no usable first/last"):
        sf = Catalog(root).locate("BTCUSDT", "1h")
    assert sf is not None
    assert sf.span_from == "file"
    assert sf.first == pd.Timestamp(raw["time"].iloc[0]).tz_convert(None)
    assert sf.last == pd.Timestamp(raw["time"].iloc[-1]).tz_convert(None)
    with pytest.warns(DataQualityWarning, match="NVDA"):
        nvda = Catalog(root).locate("NVDA", "1d")
    assert nvda is not None
    assert nvda.last == pd.Timestamp("2025-02-28")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eth = Catalog(root).locate("ETHUSDT", "1h")
    assert eth is not None
    assert eth.span_from == "manifest"


def test_root_without_equities_drops_them_with_the_reason(mirror: Path, tmp_path: Path) -> None:
    root = symlinked_root(mirror, tmp_path, drop=("equities", "manifest.csv"))
    ctx = _ctx("deepseek-2025-01-27", root)
    selection = event_study_stage.select_assets(ctx, "daily")
    assert "NVDA" not in selection.symbols
    assert selection.skipped["NVDA"].startswith("no file in the data root")
    assert "BTCUSDT" in selection.symbols
    assert "NVDA" in event_study_stage.selection_note(selection)


def test_liquidation_coverage_is_the_overlap_of_the_files(mirror: Path, tmp_path: Path) -> None:
    liq = pd.read_csv(mirror / "derivatives/coinglass_agg_daily/liquidation_agg_1d.csv.gz")
    live = liq[(liq["liq_long_usd"] != 0) | (liq["liq_short_usd"] != 0)]
    liq_last = pd.Timestamp(live.loc[live["symbol"] == "BTC", "ts_utc"].max()).tz_convert(None)
    btc = pd.read_csv(mirror / "crypto/binance/spot/1d/BTCUSDT.csv")
    price_last = pd.Timestamp(btc["time"].iloc[-1]).tz_convert(None)
    assert liq_last.normalize() == pd.Timestamp("2025-08-31")  # the file runs past the prices
    table = Catalog(mirror).liquidation_coverage()
    assert table.loc["BTC", "last"] == min(liq_last.normalize(), price_last.normalize())
    assert table.loc["BTC", "reason"] == ""
    after = liquidations.coverage(_ctx("2025-07-15", mirror))
    assert (after["reason"] == "data end 2025-06-30, before the event").all()
    with pytest.raises(CoverageError, match="data end 2025-06-30"):
        liquidations.liquidation_data(_ctx("2025-07-15", mirror))
    root = symlinked_root(mirror, tmp_path, drop=("derivatives/coinglass_agg_daily",))
    with pytest.raises(CoverageError, match="fetch_coinglass_liquidations"):
        liquidations.liquidation_data(_ctx("deepseek-2025-01-27", root))


def test_online_preflight_counts_missing_files_as_downloads(
    mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline, a symbol without a file is left out; online, the pre-flight counts it as a
    download and says so, and the selection downloads it: a download that fails (here the
    upstream is a closed port on 127.0.0.1) leaves the asset out with the reason instead of
    failing the study. A file that ends before day 0 is not extended online either."""
    from shocklab.data import fetch as fetch_mod
    from shocklab.studies import preflight

    root = symlinked_root(mirror, tmp_path, drop=("crypto/binance/spot/1h/BTCUSDT.csv.gz",))
    ctx = _ctx("deepseek-2025-01-27", root)
    offline = event_study_stage.select_assets(ctx, "hourly")
    assert "BTCUSDT" in offline.skipped
    monkeypatch.delenv("SHOCKLAB_OFFLINE")
    monkeypatch.setattr(fetch_mod, "RETRIES", 0)
    assert ctx.catalog.coverage(["BTCUSDT"], "hourly", ctx.day0.hourly_bar).to_download == [
        "BTCUSDT"
    ]
    online = event_study_stage.select_assets(ctx, "hourly")
    assert online.skipped["BTCUSDT"].startswith("download failed: ")
    assert "127.0.0.1:9" in online.skipped["BTCUSDT"]
    assert "ETHUSDT" in online.symbols
    ready = preflight.event_study(ctx.spec, ctx.day0, ctx.catalog)
    assert ready.ready
    assert "BTCUSDT" in ready.note
    later = _ctx("2025-04-07", root)
    assert not preflight.regimes(later.spec, later.day0, later.catalog).ready  # QQQ ends 02-28


def test_crypto_is_shown_against_crypto_and_against_tech(mirror: Path) -> None:
    """The flagship's two views of crypto: the default study's AR (against the other majors or
    the majors) beside a market model on QQQ for the same coins, recomputed here with
    event_study(market="QQQ"); equities are not in the table."""
    ctx = _ctx("deepseek-2025-01-27", mirror)
    selection = event_study_stage.select_assets(ctx)
    prices = event_study_stage.daily_prices(ctx, selection)
    daily = event_study_stage.daily_event_study(ctx, prices)
    views = event_study_stage.crypto_views(ctx, prices, daily)
    assert set(views.index) == {a for a in selection.symbols if a.endswith("USDT")}
    assert set(views["crypto benchmark"]) <= {"majors", "majors (ex-self)"}
    w = ctx.spec.windows
    on_qqq = event_study(
        returns(prices, "log"),
        {"e": "2025-01-27"},
        market="QQQ",
        estimation=w.estimation,
        gap=w.gap,
        window=w.event,
    ).dataset.sel(event="e", horizon="AR(+0)")
    for asset, row in views.iterrows():
        want = float(on_qqq["car"].sel(asset=asset)) * 100
        if np.isfinite(want):
            assert row["AR % on QQQ"] == pytest.approx(want, abs=1e-3)
    btc = views.loc["BTCUSDT"]
    assert btc["AR % on QQQ"] < btc["AR % on crypto"]  # QQQ absorbs less of crypto's fall

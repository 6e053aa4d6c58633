"""Exchange calendars and the alignment of 24/7 crypto bars with NYSE sessions.

NYSE sessions, closes (16:00 America/New_York, 13:00 on early-close days), holidays and DST come
from ``exchange_calendars`` (calendar ``XNYS``). All instants are tz-naive UTC.
"""

from __future__ import annotations

import functools
import warnings
from typing import Literal

import exchange_calendars as xcals
import numpy as np
import pandas as pd

from shocklab.data.errors import NonTradingDayError

NonTradingPolicy = Literal["error", "next", "previous"]


@functools.cache
def nyse() -> xcals.ExchangeCalendar:
    """The XNYS calendar (cached)."""
    with warnings.catch_warnings():  # exchange-calendars' own pandas-3 deprecation notices
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return xcals.get_calendar("XNYS")


def nyse_schedule(start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Sessions in ``[start, end]`` (dates) with UTC ``open``/``close`` instants (tz-naive)."""
    cal = nyse()
    first = max(pd.Timestamp(start).normalize(), cal.first_session)
    last = min(pd.Timestamp(end).normalize(), cal.last_session)
    if first > last:
        return pd.DataFrame(
            {"open": pd.DatetimeIndex([]), "close": pd.DatetimeIndex([])},
            index=pd.DatetimeIndex([], name="session"),
        )
    sched = cal.schedule.loc[first:last, ["open", "close"]]
    return pd.DataFrame(
        {
            "open": sched["open"].dt.tz_convert(None).dt.as_unit("ns"),
            "close": sched["close"].dt.tz_convert(None).dt.as_unit("ns"),
        },
        index=pd.DatetimeIndex(sched.index.tz_localize(None), name="session").as_unit("ns"),
    )


def nyse_session(date: str | pd.Timestamp, policy: NonTradingPolicy = "error") -> pd.Timestamp:
    """Resolve ``date`` to an NYSE session.

    ``policy='error'`` raises for a weekend or holiday and names both neighbouring sessions;
    ``'next'``/``'previous'`` move to them.
    """
    cal = nyse()
    day = pd.Timestamp(date).normalize()
    if day.tzinfo is not None:
        day = day.tz_localize(None)
    if not cal.first_session <= day <= cal.last_session:
        msg = f"{day.date()} is outside the XNYS calendar ({cal.first_session.date()} ..)."
        raise NonTradingDayError(msg)
    if cal.is_session(day):
        return day
    nxt, prev = cal.date_to_session(day, "next"), cal.date_to_session(day, "previous")
    if policy == "next":
        return pd.Timestamp(nxt)
    if policy == "previous":
        return pd.Timestamp(prev)
    what = day.day_name() if day.day_of_week >= 5 else "an NYSE holiday"
    msg = (
        f"{day.date()} is {what}: US equities have no session. Use non_trading='next' "
        f"({nxt.date()}) or 'previous' ({prev.date()}), or pick a session date."
    )
    raise NonTradingDayError(msg)


def nyse_hourly_bars(start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Regular-session hourly bars in ``[start, end]``: UTC ``open`` (index) and ``end``.

    Bars start at the session open (13:30/14:30 UTC); the last bar is cut at the close (a
    30-minute bar on regular days), as in Yahoo's hourly data.
    """
    sched = nyse_schedule(start, end)
    opens: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    hour = np.timedelta64(1, "h")
    for o, c in zip(sched["open"].to_numpy(), sched["close"].to_numpy(), strict=True):
        starts = np.arange(o, c, hour)
        opens.append(starts)
        ends.append(np.minimum(starts + hour, c))
    if not opens:
        return pd.DataFrame({"end": pd.DatetimeIndex([])}, index=pd.DatetimeIndex([], name="time"))
    return pd.DataFrame(
        {"end": np.concatenate(ends).astype("datetime64[ns]")},
        index=pd.DatetimeIndex(np.concatenate(opens).astype("datetime64[ns]"), name="time"),
    )


def nyse_open_mask(instants: np.ndarray, window: np.timedelta64) -> np.ndarray:
    """True where the NYSE regular session overlaps ``(t - window, t]`` for each instant ``t``."""
    t = np.asarray(instants, dtype="datetime64[ns]")
    if t.size == 0:
        return np.zeros(0, dtype=bool)
    sched = nyse_schedule(pd.Timestamp(t.min()) - pd.Timedelta(days=1), pd.Timestamp(t.max()))
    opens, closes = sched["open"].to_numpy(), sched["close"].to_numpy()
    # the last session opening before t; overlap if it opened before t and closed after t-window
    idx = np.searchsorted(opens, t, side="left") - 1
    valid = idx >= 0
    safe = np.clip(idx, 0, None)
    return valid & (closes[safe] > t - window) & (opens[safe] < t)

"""Exchange calendars and the alignment of 24/7 crypto bars with NYSE sessions.

NYSE sessions, closes (16:00 America/New_York, 13:00 on early-close days), holidays and DST come
from ``exchange_calendars`` (calendar ``XNYS``). All instants are tz-naive UTC.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import warnings
from dataclasses import dataclass
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


# --- event time: which bar of each calendar is day 0 --------------------------------------

_MOMENT = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:?\d{2}(?::?\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
)


def parse_moment(value: object, what: str = "event") -> pd.Timestamp:
    """A UTC instant (tz-naive) from a date or an ISO moment.

    A bare date (``2025-01-27``) is the start of that UTC day. A time written as text must carry
    its zone (``2024-08-02T21:00Z`` or ``2024-08-02T17:00-04:00``): a zone-less time is refused,
    since reading New York time as UTC (or the reverse) moves day 0 by a session. ``datetime``
    and ``Timestamp`` objects without a zone are taken as UTC (shocklab's internal convention).
    """
    if isinstance(value, pd.Timestamp | dt.datetime):
        stamp = pd.Timestamp(value)  # a naive instant is UTC (shocklab's internal convention)
        return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp
    if isinstance(value, dt.date):
        return pd.Timestamp(value)
    text = str(value).strip()
    if not _MOMENT.match(text):
        msg = (
            f"{what} moment {text!r} is not an ISO date or UTC moment; use 2025-01-27 (start of "
            "that UTC day) or 2024-08-02T21:00Z"
        )
        raise ValueError(msg)
    has_time = len(text) > 10
    has_zone = text.endswith("Z") or bool(re.search(r"[+-]\d{2}:?\d{2}$", text[10:]))
    if has_time and not has_zone:
        msg = (
            f"{what} moment {text!r} has a time but no time zone; write it in UTC with a "
            f"trailing Z ({text}Z) or with an offset (e.g. {text}-04:00 for New York summer time)"
        )
        raise ValueError(msg)
    try:
        stamp = pd.Timestamp(text)
    except ValueError as exc:
        msg = f"{what} moment {text!r} is not a valid calendar date or time ({exc})"
        raise ValueError(msg) from None
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp


def format_moment(moment: pd.Timestamp) -> str:
    """``2025-01-27`` for the start of a UTC day, else ``2024-08-02 21:00 UTC``."""
    if moment == moment.normalize():
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Placement:
    """Where a moment falls on one time axis: position, label, and why it moved (if it did)."""

    position: int
    label: pd.Timestamp
    moved: str = ""  # "" when the bar contains the moment; else why day 0 is another bar


def place_on_axis(
    labels: pd.DatetimeIndex,
    moment: pd.Timestamp,
    policy: NonTradingPolicy = "error",
    *,
    ends: np.ndarray | pd.DatetimeIndex | None = None,
    what: str = "event",
) -> Placement:
    """Day 0 of ``moment`` on a time axis: the one rule behind every day-0 question.

    * With ``ends`` (the UTC instant each bar's close is observed, e.g. NYSE session closes):
      day 0 is the first bar whose close is at or after the moment, the bar whose return
      contains the moment. If that bar's label is another date than the moment's UTC date
      (a weekend, a holiday, or a moment after the close), ``policy`` decides: ``next`` keeps
      it, ``previous`` takes the bar before, ``error`` raises.
    * Without ``ends`` the labels are bar open times (UTC days, hours): day 0 is the bar that
      contains the moment (open <= moment < next open, at most one bar length, the smallest
      label spacing). A moment in a gap of the axis (a weekend on a session-dated axis) is
      placed by ``policy``.

    Raises ``ValueError`` for a moment outside the axis and :class:`NonTradingDayError` when
    ``policy='error'`` and the moment has no bar of its own.
    """
    if policy not in ("error", "next", "previous"):
        msg = f"non_trading must be 'error', 'next' or 'previous', not {policy!r}"
        raise ValueError(msg)
    labels = pd.DatetimeIndex(labels)
    if len(labels) == 0:
        msg = f"{what} {format_moment(moment)}: the time axis is empty"
        raise ValueError(msg)
    if ends is not None:
        closes = pd.DatetimeIndex(ends)
        at = int(closes.searchsorted(moment, side="left"))
        if at >= len(labels) or (at == 0 and moment < labels[0]):
            raise _outside(labels, moment, what)
        reason = ""
        if labels[at].normalize() != moment.normalize():
            reason = _why_moved(moment, labels, closes, at)
        return _apply_policy(labels, moment, at, reason, policy, what)
    if moment < labels[0]:
        raise _outside(labels, moment, what)
    at = int(labels.searchsorted(moment, side="right")) - 1
    step = labels.to_series().diff().dropna()
    length = step[step > pd.Timedelta(0)].min() if len(step) else pd.Timedelta(days=1)
    if moment < labels[at] + length:
        return Placement(at, labels[at])
    if at + 1 >= len(labels):
        raise _outside(labels, moment, what)
    reason = f"{format_moment(moment)} ({moment.day_name()}) has no bar on this axis"
    return _apply_policy(labels, moment, at + 1, reason, policy, what)


def _outside(labels: pd.DatetimeIndex, moment: pd.Timestamp, what: str) -> ValueError:
    msg = (
        f"{what} {format_moment(moment)} is outside the time axis ({labels[0]} .. {labels[-1]}); "
        "load data that cover the estimation and event windows"
    )
    return ValueError(msg)


def _why_moved(
    moment: pd.Timestamp, labels: pd.DatetimeIndex, closes: pd.DatetimeIndex, at: int
) -> str:
    day = moment.normalize()
    if at > 0 and labels[at - 1].normalize() == day:
        close = closes[at - 1]
        return (
            f"{format_moment(moment)} is after the NYSE close of {day.date()} "
            f"({close.strftime('%H:%M')} UTC)"
        )
    if day.day_of_week >= 5:
        return f"{day.date()} is a {day.day_name()} (no NYSE session)"
    return f"{day.date()} ({day.day_name()}) is an NYSE holiday"


def _apply_policy(
    labels: pd.DatetimeIndex,
    moment: pd.Timestamp,
    nxt: int,
    reason: str,
    policy: NonTradingPolicy,
    what: str,
) -> Placement:
    if not reason or policy == "next":
        return Placement(nxt, labels[nxt], reason)
    if policy == "previous":
        if nxt == 0:
            raise _outside(labels, moment, what)
        return Placement(nxt - 1, labels[nxt - 1], reason)
    before = f"{labels[nxt - 1].strftime('%a %Y-%m-%d')}" if nxt > 0 else "none"
    msg = (
        f"{what}: {reason}, so day 0 would move to another bar. Use "
        f"non_trading='next' ({labels[nxt].strftime('%a %Y-%m-%d')}; --non-trading next) or "
        f"'previous' ({before}), or pick another moment"
    )
    raise NonTradingDayError(msg)


@dataclass(frozen=True)
class DayZero:
    """Day 0 of one event moment on every calendar shocklab uses (see :func:`resolve_day0`).

    ``session`` is the NYSE-synchronous daily day 0 (a session date; ``None`` when the moment
    lies outside the exchange calendar), ``session_moved`` says why it is not the moment's own
    date (empty when it is); ``hourly_bar`` is the open of the UTC hour containing the moment;
    ``utc_day`` the UTC calendar day (daily crypto bars, daily liquidations).
    """

    moment: pd.Timestamp
    policy: NonTradingPolicy
    session: pd.Timestamp | None
    session_close: pd.Timestamp | None
    session_moved: str
    hourly_bar: pd.Timestamp
    utc_day: pd.Timestamp

    def describe(self) -> str:
        """One line a reader can check: the moment and day 0 on each calendar."""
        head = f"event {format_moment(self.moment)}"
        if self.session is None:
            daily = "daily day 0: none (the moment lies outside the NYSE calendar)"
        else:
            moved = f"{self.session_moved} → " if self.session_moved else ""
            daily = (
                f"{moved}daily day 0 (NYSE close-to-close) = {self.session.strftime('%a %Y-%m-%d')}"
            )
            if self.session_moved:
                daily += f" (non-trading policy '{self.policy}')"
        return (
            f"{head}: {daily}; hourly day 0 = the {self.hourly_bar.strftime('%Y-%m-%d %H:%M')} "
            f"UTC bar; UTC-daily day 0 (crypto daily bars, liquidations) = "
            f"{self.utc_day.strftime('%Y-%m-%d')}"
        )

    def to_dict(self) -> dict[str, str | None]:
        """JSON-ready fields (ISO strings) for summary.json."""

        def iso(t: pd.Timestamp | None) -> str | None:
            return None if t is None else t.isoformat()

        return {
            "moment_utc": iso(self.moment),
            "non_trading": self.policy,
            "daily_session": None if self.session is None else self.session.date().isoformat(),
            "daily_session_close_utc": iso(self.session_close),
            "daily_moved": self.session_moved,
            "hourly_bar_utc": iso(self.hourly_bar),
            "utc_day": self.utc_day.date().isoformat(),
            "statement": self.describe(),
        }


def resolve_day0(moment: object, policy: NonTradingPolicy = "next") -> DayZero:
    """Day 0 of ``moment`` (a date = start of that UTC day, or a UTC moment) per calendar.

    Daily (NYSE-synchronous): the first session whose close is at or after the moment, so a
    weekend, holiday or after-close event falls on the next session; ``policy`` says whether
    that move is allowed (``next``), replaced by the session before (``previous``) or an error.
    Hourly: the UTC hour bar containing the moment. UTC-daily: the moment's UTC day.
    """
    stamp = parse_moment(moment)
    cal = nyse()
    session = close = None
    moved = ""
    lo, hi = stamp - pd.Timedelta(days=15), stamp + pd.Timedelta(days=15)
    sched = nyse_schedule(lo, hi)
    if len(sched) and cal.first_session <= stamp.normalize() and sched["close"].iloc[-1] >= stamp:
        placed = place_on_axis(
            pd.DatetimeIndex(sched.index), stamp, policy, ends=sched["close"].to_numpy()
        )
        session, close, moved = placed.label, sched["close"].iloc[placed.position], placed.moved
    return DayZero(
        moment=stamp,
        policy=policy,
        session=session,
        session_close=close,
        session_moved=moved,
        hourly_bar=stamp.floor("h"),
        utc_day=stamp.normalize(),
    )

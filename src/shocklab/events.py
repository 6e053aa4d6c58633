"""Event registry (``research/events.yaml``) and ad-hoc events, validated with pydantic.

:func:`resolve_event` turns what a user types (a registry id such as ``deepseek-2025-01-27``,
an ISO date such as ``2024-08-05`` or a UTC moment such as ``2024-08-02T21:00Z``) into an
:class:`EventSpec` with its moment, windows, groups and hourly assets, so that every notebook
and the runner see the same parameters. Which bar of each calendar is day 0 is not decided
here: :func:`shocklab.data.calendar.resolve_day0` answers that from ``spec.moment``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shocklab.data.calendar import format_moment, parse_moment
from shocklab.universe import research_dir

EVENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
MOMENT_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ].*)?$")


class Windows(BaseModel):
    """Window lengths in bars: daily (NYSE sessions) and hourly (UTC hours).

    The regimes study adds ``rolling`` (rolling-correlation window, sessions), ``contagion``
    (the Forbes--Rigobon event window, sessions relative to day 0; the baseline is the
    estimation window) and ``regime_years`` (years of history before the event for the DCC,
    Markov and break models).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    estimation: int = Field(default=250, ge=20)
    gap: int = Field(default=10, ge=0)
    event: tuple[int, int] = (-5, 5)
    hourly_estimation: int = Field(default=500, ge=20)
    hourly_gap: int = Field(default=24, ge=0)
    hourly_event: tuple[int, int] = (-6, 23)
    rolling: int = Field(default=60, ge=10)
    contagion: tuple[int, int] = (0, 20)
    regime_years: int = Field(default=4, ge=1, le=20)

    @model_validator(mode="after")
    def _ordered(self) -> Windows:
        lo, hi = self.contagion
        if hi - lo < 9:
            msg = f"contagion window {lo, hi} has {hi - lo + 1} sessions; use at least 10"
            raise ValueError(msg)
        for name in ("event", "hourly_event"):
            lo, hi = getattr(self, name)
            if lo > 0 or hi < 0:
                msg = f"{name} window {lo, hi} must contain bar 0 (w1 <= 0 <= w2)"
                raise ValueError(msg)
        return self


class EventSpec(BaseModel):
    """One event: id, the moment it happened (UTC), text, groups and windows.

    ``moment`` is a UTC instant: a bare date in the registry or on the command line means the
    start of that UTC day. Day 0 on each calendar derives from it
    (:func:`shocklab.data.calendar.resolve_day0`): a moment after the NYSE close, on a weekend
    or on a holiday falls on the next session of the daily study.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    moment: dt.datetime
    label: str = ""
    description: str = ""
    groups: tuple[str, ...] = ()
    hourly_assets: tuple[str, ...] = ()
    windows: Windows = Windows()
    adhoc: bool = False

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        return check_event_id(value)

    @model_validator(mode="before")
    @classmethod
    def _old_schema(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("date" in data or "time_utc" in data):
            day = data.get("date", "YYYY-MM-DD")
            time = str(data.get("time_utc", "00:00"))
            msg = (
                f"event {data.get('id', '?')!r} gives 'date'/'time_utc'; the registry now takes "
                f"one UTC 'moment' instead: moment: \"{day}T{time}Z\" (a bare date means the "
                "start of that UTC day)"
            )
            raise ValueError(msg)
        return data

    @field_validator("moment", mode="before")
    @classmethod
    def _utc_moment(cls, value: Any) -> dt.datetime:
        stamp = parse_moment(value)
        return stamp.to_pydatetime().replace(tzinfo=dt.UTC)

    @property
    def moment_utc(self) -> pd.Timestamp:
        """The moment as a tz-naive UTC ``Timestamp`` (shocklab's internal convention)."""
        return pd.Timestamp(self.moment).tz_convert("UTC").tz_localize(None)

    @property
    def date(self) -> dt.date:
        """The moment's UTC calendar date (for titles and data spans, not day 0)."""
        return self.moment_utc.date()

    @property
    def moment_label(self) -> str:
        """``2025-01-27`` for the start of a UTC day, else ``2024-08-02 21:00 UTC``."""
        return format_moment(self.moment_utc)


class Registry(BaseModel):
    """The parsed ``events.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    defaults: dict[str, Any] = Field(default_factory=dict)
    events: dict[str, dict[str, Any]]


def check_event_id(value: str) -> str:
    """An event id is a folder name: letters, digits, '.', '_', '-' (no paths, no '..')."""
    if not EVENT_ID.match(value) or ".." in value:
        msg = (
            f"event id {value!r} may hold only letters, digits, '.', '_' and '-' (it names the "
            "folder build/runs/<id>); pick a plain name such as 'deepseek-2025-01-27'"
        )
        raise ValueError(msg)
    return value


def registry_path(path: str | os.PathLike[str] | None = None) -> Path | None:
    """``path``, else ``research/events.yaml`` (found like the universe file)."""
    if path is not None:
        return Path(path)
    folder = research_dir()
    candidate = folder / "events.yaml" if folder is not None else None
    return candidate if candidate is not None and candidate.is_file() else None


def load_events(path: str | os.PathLike[str] | None = None) -> dict[str, EventSpec]:
    """All registry events, validated; a clear error names the event and the field."""
    file = registry_path(path)
    if file is None:
        return {}
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, ValueError) as exc:  # e.g. a date such as 2025-13-01
        msg = f"{file}: cannot read the event registry: {exc}; fix the YAML (dates YYYY-MM-DD)"
        raise ValueError(msg) from exc
    try:
        reg = Registry.model_validate(raw)
    except ValidationError as exc:
        msg = f"{file}: invalid event registry:\n{exc}"
        raise ValueError(msg) from exc
    out = {}
    for event_id, body in reg.events.items():
        merged = {**_defaults(reg.defaults), **(body or {}), "id": event_id}
        merged["windows"] = {**reg.defaults.get("windows", {}), **(body or {}).get("windows", {})}
        try:
            out[event_id] = EventSpec.model_validate(merged)
        except ValidationError as exc:
            msg = f"{file}: event {event_id!r} is invalid:\n{exc}"
            raise ValueError(msg) from exc
    return out


def _defaults(defaults: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in defaults.items() if k in ("groups", "hourly_assets")}


def adhoc_id(moment: pd.Timestamp) -> str:
    """Folder-safe id of an ad-hoc event: ``adhoc-2024-08-05`` or ``adhoc-20240802T2100Z``."""
    if moment == moment.normalize():
        return f"adhoc-{moment.strftime('%Y-%m-%d')}"
    return f"adhoc-{moment.strftime('%Y%m%dT%H%MZ')}"


def resolve_event(event: str, path: str | os.PathLike[str] | None = None) -> EventSpec:
    """A registry id, or an ISO date / UTC moment as an ad-hoc event with the defaults.

    ``2024-08-05`` is the start of that UTC day; ``2024-08-02T21:00Z`` a moment (the zone is
    required). A moment equal to a registry event's moment returns that event.
    """
    if not isinstance(event, str) or not event.strip():
        msg = (
            "event must be a registry id, an ISO date or a UTC moment, e.g. '2025-01-27' or "
            "'2024-08-02T21:00Z'"
        )
        raise ValueError(msg)
    event = event.strip()
    registry = load_events(path)
    if event in registry:
        return registry[event]
    if MOMENT_LIKE.match(event):
        moment = parse_moment(event)
        same = [spec for spec in registry.values() if spec.moment_utc == moment]
        if same:
            return same[0]
        file = registry_path(path)
        defaults: dict[str, Any] = {}
        if file is not None:
            defaults = (yaml.safe_load(file.read_text(encoding="utf-8")) or {}).get(
                "defaults"
            ) or {}
        label = format_moment(moment)
        return EventSpec(
            id=adhoc_id(moment),
            moment=moment.to_pydatetime().replace(tzinfo=dt.UTC),
            label=f"Ad-hoc event {label}",
            description="Ad-hoc moment named by the user (not in research/events.yaml).",
            windows=Windows(**defaults.get("windows", {})),
            adhoc=True,
            **_defaults(defaults),
        )
    check_event_id(event)
    near = sorted(registry)
    msg = (
        f"unknown event {event!r}: not in research/events.yaml ({', '.join(near)}) and not an "
        "ISO date or UTC moment; pass a registry id, a date such as 2024-08-05 or a moment "
        "such as 2024-08-02T21:00Z"
    )
    raise ValueError(msg)

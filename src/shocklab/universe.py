"""Asset groups (``research/universe.yaml``), validated with pydantic.

Lookup of the file: ``path=`` argument, else ``$SHOCKLAB_RESEARCH_DIR/universe.yaml``, else the
first ``research/universe.yaml`` found walking up from the working directory, else the one in the
source tree shocklab was installed from (editable installs).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

RESEARCH_ENV = "SHOCKLAB_RESEARCH_DIR"


class Group(BaseModel):
    """One named group of assets."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str
    members: tuple[str, ...] = Field(min_length=1)

    @field_validator("members")
    @classmethod
    def _unique(cls, members: tuple[str, ...]) -> tuple[str, ...]:
        dup = sorted({m for m in members if members.count(m) > 1})
        if dup:
            msg = f"listed twice in one group: {dup}"
            raise ValueError(msg)
        return members


class Coupling(BaseModel):
    """What the regimes study couples: crypto (affected) and tech (source) names -- assets or
    group names (equal-weighted indices) -- the DCC system and the Markov/break pair."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    crypto: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "majors", "ai_tokens")
    tech: tuple[str, ...] = ("QQQ", "NVDA", "SOXX")
    dcc: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "QQQ", "NVDA", "SOXX")
    regime_pair: tuple[str, str] = ("BTCUSDT", "QQQ")


class Report(BaseModel):
    """What the notebooks show in their figures (names from the groups and coupling above):
    groups on the daily CAR figure, assets on the hourly CAR figure, crypto and tech names of
    the DCC figure, and the base asset of the liquidation chart and the VAR."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    daily_car_groups: tuple[str, ...] = ("semis", "ai_power", "ai_tokens", "majors")
    hourly_car_assets: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    dcc_crypto: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    dcc_tech: tuple[str, ...] = ("QQQ", "NVDA")
    liquidation_asset: str = "BTC"


class Universe(BaseModel):
    """All groups, default market proxies per asset class and the coupling study's pairs."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    groups: dict[str, Group]
    benchmarks: dict[str, str] = Field(default_factory=dict)
    coupling: Coupling = Coupling()
    report: Report = Report()

    def group_of(self, symbol: str) -> str:
        """Primary group of ``symbol`` (the first listing it), or ``""``."""
        return next((name for name, g in self.groups.items() if symbol in g.members), "")

    def members(self, group: str) -> tuple[str, ...]:
        """Members of a group; a clear error for an unknown group name."""
        try:
            return self.groups[group].members
        except KeyError:
            msg = f"unknown group {group!r}; research/universe.yaml defines {sorted(self.groups)}"
            raise KeyError(msg) from None


def research_dir() -> Path | None:
    """The folder of human inputs (``research/``), found as the module docstring says."""
    env = os.environ.get(RESEARCH_ENV)
    if env:
        return Path(env).expanduser().resolve()
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "research" / "universe.yaml").is_file():
            return folder / "research"
    source_tree = Path(__file__).resolve().parents[2] / "research"
    return source_tree if source_tree.is_dir() else None


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it


@functools.lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int) -> Universe:
    del mtime_ns
    try:
        return Universe.model_validate(
            yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
        )
    except ValidationError as exc:
        msg = f"{path}: invalid universe file:\n{exc}"
        raise ValueError(msg) from exc


def load_universe(path: str | os.PathLike[str] | None = None) -> Universe:
    """Load and validate the universe; an empty universe when none is found."""
    if path is None:
        folder = research_dir()
        if folder is None or not (folder / "universe.yaml").is_file():
            return Universe(groups={})
        path = folder / "universe.yaml"
    p = Path(path)
    return _load(p.resolve(), p.stat().st_mtime_ns)

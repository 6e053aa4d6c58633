"""Run setup and output writing shared by every study notebook.

:func:`setup` is each notebook's validation cell: it resolves the event (registry id, date or
UTC moment), derives day 0 on every calendar once (:func:`shocklab.data.calendar.resolve_day0`),
checks the output folder and connects the dask client. The ``save_*``/``show_figure`` functions
write everything a run produces under ``build/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from shocklab.config import LOCAL_CLUSTER, build_root, data_root
from shocklab.data.calendar import DayZero, NonTradingPolicy, resolve_day0
from shocklab.data.catalog import Catalog
from shocklab.data.errors import CoverageError
from shocklab.events import EventSpec, resolve_event

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.figure import Figure

    from shocklab.models.results import Results

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class RunContext:
    """Everything a study notebook needs about its run.

    ``day0`` answers "which bar is day 0" for every calendar (daily NYSE session, hourly bar,
    UTC day); ``catalog`` answers "which file feeds this symbol and what does it cover".
    """

    spec: EventSpec
    day0: DayZero
    out: Path
    client: Any
    data_dir: Path | None

    def day0_label(self, calendar: Literal["daily", "hourly"]) -> pd.Timestamp:
        """Day 0 on ``calendar``: the NYSE session (daily) or the UTC hour bar (hourly); a
        :class:`~shocklab.data.CoverageError` when the moment has no NYSE session."""
        if calendar == "hourly":
            return self.day0.hourly_bar
        if self.day0.session is None:
            msg = (
                f"{self.spec.id}: {self.spec.moment_label} lies outside the NYSE calendar, so the "
                "daily studies have no day 0; pick a moment inside the exchange calendar"
            )
            raise CoverageError(msg)
        return self.day0.session

    @property
    def catalog(self) -> Catalog:
        """The coverage authority of the run's data root."""
        return Catalog(data_root(self.data_dir))

    def header(self) -> str:
        """Markdown for the top of a notebook: the event and how day 0 maps per calendar."""
        spec = self.spec
        text = f"**{spec.label or spec.id}** — {spec.moment_label}"
        if spec.description:
            text += f": {spec.description}"
        return f"{text}\n\n**Day 0.** {self.day0.describe()}."


@dataclass(frozen=True)
class Readiness:
    """A study's pre-flight answer: can it run at this moment on this data root?

    ``reason`` says why not (empty when ready); ``needs`` names the data that would enable it;
    ``note`` what a ready study will do first (online: the files it will download).
    """

    study: str
    reason: str = ""
    needs: str = ""
    note: str = ""  # e.g. the files an online run will download

    @property
    def ready(self) -> bool:
        """True when the data cover the study's needs at day 0."""
        return not self.reason

    def text(self) -> str:
        """``skipped: <reason>; needs <data>`` (empty when ready)."""
        if self.ready:
            return ""
        return f"skipped: {self.reason}" + (f"; it needs {self.needs}" if self.needs else "")


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


def setup(
    event: str,
    output_dir: PathLike,
    scheduler: str = "",
    non_trading: NonTradingPolicy = "next",
    data_dir: PathLike | None = None,
) -> RunContext:
    """A notebook's validation cell: the event, day 0 per calendar under the ``non_trading``
    policy, the output folder (inside build/), the data root and the dask client. Tables shown
    in the notebook are never cut ("..."): a reason or a status is read in full."""
    pd.set_option("display.max_colwidth", None)
    spec = resolve_event(event)
    day0 = resolve_day0(spec.moment_utc, non_trading)
    root = Path(data_dir) if data_dir else None
    return RunContext(spec, day0, output_folder(output_dir), connect(scheduler), root)


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


def save_result(result: Results, out: Path, name: str) -> Path:
    """Write any model result (:mod:`shocklab.models.results`) as ``results/<name>.nc``
    (netCDF; reruns give identical bytes; ``type(result).from_dataset`` reads it back)."""
    path = out / "results" / f"{name}.nc"
    result.to_dataset().to_netcdf(path, engine="scipy")
    return path


def facts_path(out: Path, section: str) -> Path:
    """``results/facts_<section>.json``: where a notebook writes its part of the executive
    summary (:func:`shocklab.studies.summary.save_facts`) and the runner reads it."""
    return out / "results" / f"facts_{section}.json"


def save_table(table: pd.DataFrame, out: Path, name: str) -> Path:
    """Write a table as ``results/<name>.csv``."""
    path = out / "results" / f"{name}.csv"
    table.to_csv(path)
    return path


def save_dataset(ds: xr.Dataset | xr.DataArray, out: Path, name: str) -> Path:
    """Write a Dataset as ``results/<name>.nc`` (netCDF; string coords as fixed-width)."""
    import xarray as xr  # runner and pre-flight import this module without the data stack

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

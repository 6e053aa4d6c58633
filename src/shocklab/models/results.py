"""One results contract for every model in :mod:`shocklab.models`.

Every results class (:class:`~shocklab.models.EventStudyResult`,
:class:`~shocklab.models.dcc.DCCResult`, :class:`~shocklab.models.markov.MarkovResult`,
:class:`~shocklab.models.breaks.BreaksResult`, :class:`~shocklab.models.liquidation.Estimates`)
speaks the vocabulary of linearmodels and arch:

- ``params``, ``std_errors``, ``pvalues``: pandas Series with one shared index (a
  ``MultiIndex`` where a parameter is per regime, segment, asset or side);
- ``nobs``: the number of observations the estimates use;
- ``conf_int(level=0.95)``: a DataFrame with columns ``lower`` and ``upper`` on the index of
  ``params`` (figures draw their bands from it);
- ``summary()``: the table a reader needs (a DataFrame); ``str(result)`` and the notebook view
  (``_repr_html_``) are both rendered from it, with :func:`shocklab.formatting.format_table`
  (three significant digits, p-values never 0);
- ``to_dataset()`` / ``from_dataset(ds)``: an ``xr.Dataset`` that survives a netCDF round trip
  and rebuilds an equal result.

Fitting functions keep statsmodels' knob names (``maxlags``, ``cov_type``, ...). A contract test
(``tests/test_results_contract.py``) runs over every class.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from shocklab.formatting import format_table


class Results:
    """Mixin: ``__str__``, ``_repr_html_``, ``pvalues`` and ``conf_int`` from the primitives.

    A subclass provides ``params``, ``std_errors``, ``nobs``, ``summary()``, ``to_dataset()``
    and ``from_dataset()``; it overrides :meth:`_critical` when its reference distribution is
    not the standard normal, and :meth:`conf_int` when its intervals are not symmetric.
    """

    title: ClassVar[str] = "Results"

    params: Any
    std_errors: Any
    nobs: Any

    # ------------------------------------------------------------------ inference
    def _critical(self, level: float) -> float | pd.Series:
        """Two-sided critical value at ``level`` (standard normal unless overridden)."""
        return float(stats.norm.ppf(0.5 + level / 2))

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of ``params / std_errors`` (standard normal unless overridden)."""
        z = self.params / self.std_errors
        return pd.Series(2 * stats.norm.sf(np.abs(z)), index=self.params.index, name="pvalue")

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """``params -/+ critical * std_errors`` at ``level`` (columns ``lower``, ``upper``)."""
        _check_level(level)
        half = self._critical(level) * self.std_errors
        return pd.DataFrame({"lower": self.params - half, "upper": self.params + half})

    def inference_table(self, level: float = 0.95) -> pd.DataFrame:
        """``estimate``, ``std_error``, ``z`` (estimate / std_error), ``pvalue`` and the
        ``level`` interval, one row per parameter: the core of every ``summary()``."""
        ci = self.conf_int(level)
        pct = f"{level:.0%}".replace("%", " %")
        return pd.DataFrame(
            {
                "estimate": self.params,
                "std_error": self.std_errors,
                "z": self.params / self.std_errors,
                "pvalue": self.pvalues,
                f"lower ({pct})": ci["lower"],
                f"upper ({pct})": ci["upper"],
            }
        )

    # ------------------------------------------------------------------ display
    def summary(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dataset(self) -> xr.Dataset:  # pragma: no cover - abstract
        """The result as one netCDF-ready Dataset (:meth:`from_dataset` rebuilds it)."""
        raise NotImplementedError

    def _caption(self) -> str:
        """One line under the title (sample, estimator); subclasses add theirs."""
        return f"{self.nobs} observations"

    def __str__(self) -> str:
        table = format_table(self.summary()).to_string()
        return f"{self.title}\n{self._caption()}\n{table}"

    def _repr_html_(self) -> str:
        table = format_table(self.summary()).to_html(classes="shocklab-table")
        return f"<h4>{self.title}</h4><p>{self._caption()}</p>{table}"


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        msg = f"level must lie strictly between 0 and 1 (e.g. 0.95), not {level!r}"
        raise ValueError(msg)


# ---------------------------------------------------------------------- table packing
# A result made of several pandas tables is stored as one Dataset: the table ``name`` becomes
# variables ``name.column`` on a dimension ``name.row``, its index levels coordinates
# ``name.index.level``. Values that netCDF cannot hold (intervals, timestamps with zones,
# mixed objects) are stored as strings.


def _storable(values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == object:
        if all(isinstance(v, bool | np.bool_) for v in arr):
            return arr.astype(bool)
        return arr.astype(str)
    if isinstance(values, pd.Series | pd.Index) and isinstance(values.dtype, pd.CategoricalDtype):
        return np.asarray(values.astype(str))
    return arr


def pack_tables(tables: Mapping[str, pd.DataFrame | pd.Series]) -> xr.Dataset:
    """Several tables in one netCDF-ready Dataset (see :func:`unpack_table`)."""
    ds = xr.Dataset()
    for name, table in tables.items():
        frame = table.to_frame() if isinstance(table, pd.Series) else table
        dim = f"{name}.row"
        levels = [
            str(n) if n is not None else f"level_{i}" for i, n in enumerate(frame.index.names)
        ]
        coords = {
            f"{name}.index.{lev}": (dim, _storable(frame.index.get_level_values(i)))
            for i, lev in enumerate(levels)
        }
        ds = ds.assign_coords(coords)
        for col in frame.columns:
            ds[f"{name}.{col}"] = (dim, _storable(frame[col]))
        ds.attrs[f"{name}.columns"] = json.dumps([str(c) for c in frame.columns])
        ds.attrs[f"{name}.index"] = json.dumps(levels)
        ds.attrs[f"{name}.index_names"] = json.dumps(list(frame.index.names))
        ds.attrs[f"{name}.columns_name"] = str(frame.columns.name or "")
    return ds


def unpack_table(ds: xr.Dataset, name: str) -> pd.DataFrame:
    """The table ``name`` stored by :func:`pack_tables`."""
    levels = json.loads(ds.attrs[f"{name}.index"])
    names = json.loads(ds.attrs[f"{name}.index_names"])
    arrays = [ds[f"{name}.index.{lev}"].to_numpy() for lev in levels]
    index = (
        pd.Index(arrays[0], name=names[0])
        if len(arrays) == 1
        else pd.MultiIndex.from_arrays(arrays, names=names)
    )
    columns = json.loads(ds.attrs[f"{name}.columns"])
    frame = pd.DataFrame({c: ds[f"{name}.{c}"].to_numpy() for c in columns}, index=index)
    if ds.attrs.get(f"{name}.columns_name"):
        frame.columns.name = ds.attrs[f"{name}.columns_name"]
    return frame

"""Coverage of a loaded panel, joined with what the catalog says about each asset's file."""

from __future__ import annotations

import pandas as pd
import xarray as xr

from shocklab.data.catalog import Coverage
from shocklab.universe import load_universe


def coverage_table(panel: xr.Dataset, coverage: Coverage | None = None) -> pd.DataFrame:
    """Per asset: the file and its span (from the catalog, when ``coverage`` is given), first
    and last valid sample in the panel, samples, missing samples and missing source bars.

    Assets that ``coverage`` left out of the panel appear with their reason and no samples,
    so one table accounts for every requested asset.
    """
    close = panel["close"].load()
    rows = []
    for asset in panel["asset"].values:
        series = close.sel(asset=asset).to_series()
        valid = series.dropna()
        missing_bars = (
            int(panel["n_missing"].sel(asset=asset).sum())
            if "n_missing" in panel
            else int(panel["missing"].sel(asset=asset).sum())
            if "missing" in panel
            else int(series.isna().sum())
        )
        rows.append(
            {
                "asset": str(asset),
                "group": str(panel["group"].sel(asset=asset).values) if "group" in panel else "",
                "first_sample": valid.index.min(),
                "last_sample": valid.index.max(),
                "samples": int(series.size),
                "missing_samples": int(series.isna().sum()),
                "missing_source_bars": missing_bars,
            }
        )
    table = pd.DataFrame(rows).set_index("asset")
    if coverage is None:
        return table
    files = coverage.table.rename(
        columns={"first": "file_first", "last": "file_last", "reason": "left_out"}
    )
    files.index.name = "asset"
    out = files[["file", "file_first", "file_last", "span_from", "left_out"]].join(
        table, how="outer"
    )
    kept = [a for a in files.index if not files.loc[a, "left_out"]]
    gone = [a for a in files.index if files.loc[a, "left_out"]]
    out = out.loc[[*kept, *[a for a in table.index if a not in files.index], *gone]]
    universe = load_universe()
    out["group"] = [
        g if isinstance(g, str) and g else universe.group_of(str(a))
        for a, g in zip(out.index, out["group"], strict=True)
    ]
    span = [
        f"{_when(f)} .. {_when(last)}" if isinstance(f, pd.Timestamp) else ""
        for f, last in zip(out["file_first"], out["file_last"], strict=True)
    ]
    samples = [
        f"{_when(f)} .. {_when(last)}" if isinstance(f, pd.Timestamp) else ""
        for f, last in zip(out["first_sample"], out["last_sample"], strict=True)
    ]
    counts = ["samples", "missing_samples", "missing_source_bars"]
    return pd.DataFrame(
        {
            "group": out["group"],
            "file": out["file"].fillna(""),
            "file covers": span,
            "from": out["span_from"].fillna(""),
            "panel samples": samples,
            **{c.replace("_", " "): out[c].astype("Int64") for c in counts},
            "left out": out["left_out"].fillna(""),
        },
        index=pd.Index(out.index, name="asset"),
    )


def _when(stamp: pd.Timestamp) -> str:
    """A date for midnight stamps, else date and time (UTC)."""
    return (
        stamp.strftime("%Y-%m-%d")
        if stamp == stamp.normalize()
        else stamp.strftime("%Y-%m-%d %H:%M")
    )

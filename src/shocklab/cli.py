"""``shocklab`` command line.

``shocklab panel`` builds aligned panels for a set of assets and writes them, with a coverage
table and a provenance record, under ``build/panels/<name>/``::

    shocklab panel --start 2024-01-02 --end 2025-02-28                # whole universe, NYSE close
    shocklab panel --symbols NVDA QQQ BTCUSDT --calendar hourly --start 2025-01-20 --end 2025-02-03
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections.abc import Sequence

import pandas as pd
import xarray as xr

from shocklab.config import build_root, data_root
from shocklab.data import DataQualityWarning, ShocklabDataError, cached
from shocklab.data.align import hourly_panel, nyse_close_panel, returns
from shocklab.data.catalog import Catalog
from shocklab.provenance import provenance
from shocklab.universe import load_universe

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


def _available(symbols: Sequence[str], calendar: str) -> tuple[list[str], list[str]]:
    catalog = Catalog(data_root())
    keep: list[str] = []
    skipped: list[str] = []
    for s in symbols:
        found = catalog.locate(s, "1h") or (calendar == "nyse" and catalog.locate(s, "1d"))
        (keep if found else skipped).append(s)
    return keep, skipped


def coverage_table(panel: xr.Dataset) -> pd.DataFrame:
    """Per asset: first and last valid sample, samples, missing samples and missing source bars."""
    close = panel["close"].load()
    rows = []
    for asset in panel["asset"].values:
        series = close.sel(asset=asset).to_series()
        valid = series.dropna()
        rows.append(
            {
                "asset": str(asset),
                "group": str(panel["group"].sel(asset=asset).values),
                "first": valid.index.min(),
                "last": valid.index.max(),
                "samples": int(series.size),
                "missing_samples": int(series.isna().sum()),
                "missing_source_bars": int(panel["n_missing"].sel(asset=asset).sum()),
            }
        )
    return pd.DataFrame(rows).set_index("asset")


def cmd_panel(args: argparse.Namespace) -> int:
    if not _NAME.match(args.name):
        print(
            f"error: --name {args.name!r} may hold only letters, digits, '.', '_' and '-'",
            file=sys.stderr,
        )
        return 2
    universe = load_universe()
    groups = args.groups or [g for g in universe.groups if g != "macro"]
    symbols = args.symbols or list(dict.fromkeys(s for g in groups for s in universe.members(g)))
    symbols, skipped = _available(symbols, args.calendar)
    if skipped:
        print(f"not in the data root ({data_root()}), skipped: {' '.join(skipped)}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataQualityWarning)
        if args.calendar == "nyse":
            panel = nyse_close_panel(symbols, args.start, args.end)
        else:
            panel = hourly_panel(symbols, args.start, args.end)
        panel = cached(panel, f"{args.calendar}")
        panel["log_return"] = returns(panel, "log")
        table = coverage_table(panel)
    out = build_root() / "panels" / args.name
    out.mkdir(parents=True, exist_ok=True)
    panel.drop_attrs().to_netcdf(out / "panel.nc")
    table.to_csv(out / "coverage.csv")
    record = provenance(
        {
            "command": "panel",
            "symbols": symbols,
            "start": args.start,
            "end": args.end,
            "calendar": args.calendar,
        },
        {
            str(f): str(h)
            for f, h in zip(panel["source_file"].values, panel["sha256"].values, strict=True)
        },
    )
    record["data_quality"] = sorted({str(w.message) for w in caught})
    (out / "provenance.json").write_text(json.dumps(record, indent=2, default=str))
    with pd.option_context(
        "display.width", 160, "display.max_rows", 200, "display.max_columns", 10
    ):
        print(table)
    print(f"\nwrote {out}/panel.nc, coverage.csv, provenance.json")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shocklab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    panel = sub.add_parser("panel", help="build an aligned (time, asset) panel")
    panel.add_argument("--symbols", nargs="+", help="symbols (default: the universe groups)")
    panel.add_argument("--groups", nargs="+", help="universe groups (default: all but macro)")
    panel.add_argument("--start", default="2024-01-02", help="first date (ISO)")
    panel.add_argument("--end", default="2025-02-28", help="last date (ISO, inclusive)")
    panel.add_argument(
        "--calendar",
        choices=["nyse", "hourly"],
        default="nyse",
        help="nyse: prices at each NYSE close; hourly: UTC hourly grid",
    )
    panel.add_argument("--name", default="flagship", help="output folder under build/panels")
    panel.set_defaults(func=cmd_panel)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``shocklab`` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ShocklabDataError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

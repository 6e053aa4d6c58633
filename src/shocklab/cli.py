"""``shocklab`` command line.

``shocklab run`` regenerates the whole analysis of one event (a registry id or any ISO date)
into ``build/runs/<event id>/`` (executed notebooks, figures, results, summary.json,
report.html); ``shocklab batch`` does it for many events in parallel processes and writes
``build/runs/index.html``; ``shocklab panel`` builds aligned panels under
``build/panels/<name>/``::

    shocklab run --event deepseek-2025-01-27
    shocklab run --event 2024-04-15                          # any date, ad hoc
    shocklab run --event 2024-08-02T21:00Z                   # a UTC moment (after the close)
    shocklab run --event 2025-01-26 --non-trading error      # refuse a weekend date
    shocklab batch --workers 2                                # every event in research/events.yaml
    shocklab batch --workers 2 --scheduler local              # ... sharing one LocalCluster
    shocklab batch --events terra-2022-05-09 2024-04-15 --scheduler tcp://10.0.0.5:8786
    shocklab panel --start 2024-01-02 --end 2025-02-28        # whole universe, NYSE close
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from shocklab.config import BUILD_ENV, DATA_ENV, build_root, data_root
from shocklab.data.errors import DataQualityWarning, ShocklabDataError

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


def write_replacing(targets: dict[Path, Callable[[Path], object]]) -> None:
    """Write every ``path: writer`` pair to a temporary file beside its target, then move each
    into place with ``os.replace``: a failure while writing (disk full, a killed process)
    leaves the previous files whole and no temporary file behind."""
    done: dict[Path, Path] = {}
    try:
        for path, write in targets.items():
            tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
            done[path] = tmp
            write(tmp)
    except BaseException:
        for tmp in done.values():
            tmp.unlink(missing_ok=True)
        raise
    for path, tmp in done.items():
        tmp.replace(path)  # os.replace: atomic on one file system


def cmd_panel(args: argparse.Namespace) -> int:
    # the scientific stack loads only for the command that needs it
    import pandas as pd

    from shocklab.data import cached_call
    from shocklab.data.align import hourly_panel, nyse_close_panel, returns
    from shocklab.data.catalog import Catalog
    from shocklab.data.coverage import coverage_table
    from shocklab.data.loaders import window
    from shocklab.provenance import provenance
    from shocklab.universe import load_universe

    if not _NAME.match(args.name):
        print(
            f"error: --name {args.name!r} may hold only letters, digits, '.', '_' and '-'",
            file=sys.stderr,
        )
        return 2
    universe = load_universe()
    groups = args.groups or [g for g in universe.groups if g != "macro"]
    symbols = args.symbols or list(dict.fromkeys(s for g in groups for s in universe.members(g)))
    # the catalog decides which file feeds each symbol on this calendar and what it covers
    start, _ = window(args.start, args.end)  # a malformed date fails here, named
    cov = Catalog(data_root()).coverage(
        symbols, "nyse" if args.calendar == "nyse" else "hourly", start
    )
    absent = {s: r for s, r in cov.dropped.items() if not cov.table.loc[s, "file"]}
    symbols = [s for s in symbols if s not in absent]
    if absent:
        print(f"not in the data root ({data_root()}), skipped: {' '.join(absent)}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataQualityWarning)
        loader = nyse_close_panel if args.calendar == "nyse" else hourly_panel
        # a repeated request reopens the stored panel and replays its data-quality warnings
        panel = cached_call(loader, symbols, args.start, args.end, name=args.calendar)
        panel["log_return"] = returns(panel, "log")
        table = coverage_table(panel)
    out = build_root() / "panels" / args.name
    out.mkdir(parents=True, exist_ok=True)
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
    write_replacing(
        {
            out / "panel.nc": panel.drop_attrs().to_netcdf,
            out / "coverage.csv": table.to_csv,
            out / "provenance.json": lambda p: p.write_text(
                json.dumps(record, indent=2, default=str)
            ),
        }
    )
    with pd.option_context(
        "display.width", 160, "display.max_rows", 200, "display.max_columns", 10
    ):
        print(table)
    print(f"\nwrote {out}/panel.nc, coverage.csv, provenance.json")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from shocklab.runner import FAILED_SUFFIX, run_event, write_index

    print(f"{args.event}: running the notebooks (one line as each ends)", flush=True)
    record = run_event(
        args.event,
        data_dir=args.data_dir,
        scheduler=args.scheduler,
        non_trading=args.non_trading,
        progress=lambda line: print(f"  {line}", flush=True),
    )
    print(f"{record.event_id}: {record.status} in {record.seconds:.1f} s -> {record.output}")
    if record.error:
        print(f"error: {record.error}", file=sys.stderr)
    print(f"report: {record.output}/report.html")
    kept = Path(record.output.removesuffix(FAILED_SUFFIX))
    if record.status == "failed" and (kept / "summary.json").is_file():
        print(f"previous good run kept: {kept}")
    print(f"index: {write_index([record])}")  # every run under build/runs, this one included
    return 1 if record.status == "failed" else 0


def cmd_events(args: argparse.Namespace) -> int:
    from shocklab.events import load_events

    rows = [("id", "moment", "label")]
    rows += [(i, spec.moment_label, spec.label) for i, spec in load_events().items()]
    width = [max(len(r[k]) for r in rows) for k in (0, 1)]
    for event_id, moment, label in rows:
        print(f"{event_id:<{width[0]}}  {moment:<{width[1]}}  {label}".rstrip())
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from shocklab.runner import records_json, run_batch

    records = run_batch(
        args.events,
        workers=args.workers,
        scheduler=args.scheduler,
        data_dir=args.data_dir,
        non_trading=args.non_trading,
    )
    print(records_json(records))
    print(f"index: {build_root().resolve() / 'runs' / 'index.html'}")
    return 1 if any(r.status == "failed" for r in records) else 0


def _add_non_trading(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--non-trading",
        choices=["next", "previous", "error"],
        default="next",
        help="daily day 0 when the moment has no NYSE session of its own (weekend, holiday, "
        "after the close): the next session (default), the previous one, or stop with an error",
    )


_DESCRIPTION = """\
Regenerate the analysis of a market shock (event study, tech-crypto correlation regimes,
liquidation cascades) for any event moment, from the market-data root ($SHOCKLAB_DATA_DIR)."""

_EXAMPLES = """\
examples:
  shocklab events                                     list the registry (research/events.yaml)
  shocklab run --event deepseek-2025-01-27            a registry event
  shocklab run --event 2024-04-15                     any date (the start of that UTC day)
  shocklab run --event 2024-08-02T21:00Z              a UTC moment (here after the NYSE close)
  shocklab run --event 2025-01-26 --non-trading error refuse a weekend date
  shocklab batch --workers 2                          every registry event, 2 at a time
  shocklab panel --start 2024-01-02 --end 2025-02-28  NYSE-close panel of the universe

Output goes to build/runs/<event id>/ (report.html, summary.json, executed notebooks) and
build/runs/index.html lists every run. Set SHOCKLAB_OFFLINE=1 to never download."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shocklab",
        description=_DESCRIPTION,
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    events = sub.add_parser("events", help="list the registry events (id, moment, label)")
    events.set_defaults(func=cmd_events)
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

    run = sub.add_parser("run", help="regenerate the full analysis of one event")
    run.add_argument(
        "--event",
        required=True,
        help="registry id, ISO date (start of that UTC day) or UTC moment (2024-08-02T21:00Z)",
    )
    _add_non_trading(run)
    run.add_argument("--data-dir", default=None, help="market-data root (default: env/cache)")
    run.add_argument(
        "--scheduler",
        default="",
        help="'' local threads (default), 'local' a LocalCluster, or a scheduler address",
    )
    run.set_defaults(func=cmd_run)

    batch = sub.add_parser("batch", help="run many events; failures are recorded, not fatal")
    batch.add_argument("--events", nargs="+", help="ids or dates (default: the registry)")
    batch.add_argument("--workers", type=int, default=2, help="events run in parallel")
    batch.add_argument(
        "--scheduler",
        default="",
        help="'' local threads per notebook (default, fastest on one machine), 'local' one "
        "shared LocalCluster, or a scheduler address",
    )
    batch.add_argument("--data-dir", default=None, help="market-data root (default: env/cache)")
    _add_non_trading(batch)
    batch.set_defaults(func=cmd_batch)
    return parser


def _blocking_file(path: Path) -> Path | None:
    """The first part of ``path`` that exists but is not a folder (so nothing goes under it)."""
    for part in reversed([path, *path.parents]):
        if part.exists() and not part.is_dir():
            return part
    return None


def _inside(path: Path, root: Path) -> bool:
    path, root = path.absolute(), root.absolute()
    return path == root or root in path.parents


def os_error_message(exc: OSError) -> str:
    """One line for an error of the file system: what failed, on which path, and the fix."""
    if not exc.filename:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    path = Path(os.fsdecode(exc.filename))
    if _inside(path, build_root()):
        fix = f"or set {BUILD_ENV} to a folder you can write"
    elif _inside(path, data_root()):
        fix = f"or set {DATA_ENV} (or --data-dir) to another market-data root"
    else:
        fix = ""
    blocker = _blocking_file(path)
    if exc.errno in (errno.ENOTDIR, errno.EEXIST) and blocker is not None:
        text = f"cannot create {path}: {blocker} is a file, not a folder; move that file away"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        text = f"permission denied on {path}: give yourself access to it"
    elif exc.errno == errno.EROFS:
        text = f"cannot write {path}: the file system is read-only; use a writable place"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        text = f"disk full (or over quota) while writing {path}: free some space"
    else:
        text = f"{exc.strerror or exc}: {path}"
    return f"{text} {fix}".strip()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``shocklab`` command. Expected failures (bad input, missing data, a
    build folder that cannot be written, a full disk) end in one line on stderr."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ShocklabDataError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # permissions, disk full, a path through a file
        print(f"error: {os_error_message(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

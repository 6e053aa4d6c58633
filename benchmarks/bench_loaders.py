"""Benchmark: 20 crypto symbols x full hourly history + all daily US equities -> NYSE-aligned panel.

Reports wall time and peak RSS of (1) pyarrow's raw parse of the same files, (2) shocklab's
lazy open + alignment + compute, (3) writing the zarr cache, (4) reopening the cached panel and
loading it through ``cached_call`` (the request-keyed path users call). Each stage runs in a
fresh subprocess so peak RSS is its own.

Each stage reports its first call (which also pays module compilation: this machine sets
PYTHONDONTWRITEBYTECODE=1) and the best of ``REPEATS`` further calls; ratios use the best.
Before every timed build and every timed reopen shocklab's in-process caches (file hashes,
manifest, calendar schedules, universe) are cleared, so each pays for everything a new
request in a new session pays for.

    python benchmarks/bench_loaders.py            # needs SHOCKLAB_DATA_DIR (nox sets it)

Targets (issue 2): aligned panel <= 1.5x raw parse; cached reopen >= 10x faster than building;
peak RSS <= 1.5 GiB.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START, END = "2020-01-01", "2025-06-30"
REPEATS = 5


def best_of(fn, repeats: int = REPEATS, before=lambda: None) -> float:
    """Smallest wall time of ``repeats`` calls (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        before()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def crypto_symbols(root: Path) -> list[str]:
    return sorted(p.name.split(".")[0] for p in (root / "crypto/binance/spot/1h").glob("*.csv*"))[
        :20
    ]


def equity_symbols(root: Path) -> list[str]:
    return sorted(p.name.split(".")[0] for p in (root / "equities/us/1d").glob("*.csv"))


def stage_raw(root: Path) -> dict[str, float]:
    import pyarrow.csv as pacsv

    files = [
        next((root / "crypto/binance/spot/1h").glob(f"{s}.csv*")) for s in crypto_symbols(root)
    ]
    files += [root / "equities/us/1d" / f"{s}.csv" for s in equity_symbols(root)]
    t = time.perf_counter()
    rows = sum(pacsv.read_csv(f).num_rows for f in files)
    cold = time.perf_counter() - t
    best = best_of(lambda: [pacsv.read_csv(f) for f in files])
    return {"cold": cold, "seconds": best, "rows": rows, "files": len(files)}


def clear_caches() -> None:
    from shocklab import universe
    from shocklab.data import catalog, loaders

    for cached_fn in (
        catalog.file_sha256,
        catalog._read_manifest_cached,
        loaders._schedule,
        universe._load,
    ):
        cached_fn.cache_clear()


def _panel(root: Path):
    from shocklab.data import nyse_close_panel

    return nyse_close_panel(crypto_symbols(root) + equity_symbols(root), START, END)


def stage_build(root: Path) -> dict[str, float]:
    import shocklab.data  # noqa: F401  (imports are not part of the measurement)

    t = time.perf_counter()
    panel = _panel(root).compute()
    cold = time.perf_counter() - t
    return {
        "cold": cold,
        "seconds": best_of(lambda: _panel(root).compute(), before=clear_caches),
        "open_seconds": best_of(lambda: _panel(root), before=clear_caches),
        "shape": list(panel["close"].shape),
    }


def _cached_panel(root: Path, cache_dir: str):
    from shocklab.data import cached_call, nyse_close_panel

    symbols = crypto_symbols(root) + equity_symbols(root)
    return cached_call(nyse_close_panel, symbols, START, END, name="bench", cache_dir=cache_dir)


def stage_cache(root: Path, cache_dir: str) -> dict[str, float]:
    _panel(root)  # warm imports and calendars outside the timer
    t = time.perf_counter()
    _cached_panel(root, cache_dir)
    return {"seconds": time.perf_counter() - t}


def stage_reopen(root: Path, cache_dir: str) -> dict[str, float]:
    """A repeated request: key, one stat per source file, open the store, load it."""
    import xarray as xr
    import zarr  # noqa: F401

    import shocklab.data  # noqa: F401  (imports are not part of the measurement)

    t = time.perf_counter()
    ds = _cached_panel(root, cache_dir).load()
    cold = time.perf_counter() - t
    best = best_of(lambda: _cached_panel(root, cache_dir).load(), before=clear_caches)
    store = next(Path(cache_dir).glob("bench-*.zarr"))
    bare = best_of(lambda: xr.open_zarr(store).load())
    return {"cold": cold, "seconds": best, "store_seconds": bare, "shape": list(ds["close"].shape)}


def run_stage(name: str, *extra: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--stage", name, *extra],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if "--stage" in sys.argv:
        name = sys.argv[sys.argv.index("--stage") + 1]
        root = Path(os.environ["SHOCKLAB_DATA_DIR"])
        args = sys.argv[sys.argv.index("--stage") + 2 :]
        result = {
            "raw": stage_raw,
            "build": stage_build,
            "cache": stage_cache,
            "reopen": stage_reopen,
        }[name](root, *args)
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as cache_dir:
        raw = run_stage("raw")
        build = run_stage("build")
        cache = run_stage("cache", cache_dir)
        reopen = run_stage("reopen", cache_dir)
    print(f"files: {raw['files']}  rows: {raw['rows']:,}  panel: {build['shape']}")
    for name, r in (
        ("pyarrow raw parse", raw),
        ("shocklab build (open+align+compute)", build),
        ("build + write zarr cache", cache),
        ("reopen cached panel (cached_call hit)", reopen),
    ):
        cold = f"(first call {r['cold']:5.2f} s)" if "cold" in r else " " * 23
        print(f"{name:38s} {r['seconds']:7.3f} s {cold}  peak RSS {r['peak_rss_mib']:5.0f} MiB")
    print(f"lazy open only: {build['open_seconds']:.3f} s")
    print(f"bare store read (xr.open_zarr(...).load()): {reopen['store_seconds']:.3f} s")
    print(f"Ratios use the best of {REPEATS} calls after the first in each process; the first")
    print("also pays module compilation (this machine sets PYTHONDONTWRITEBYTECODE=1).")
    print(f"ratio build / raw parse: {build['seconds'] / raw['seconds']:.2f}x (target <= 1.5x)")
    print(f"reopen speed-up vs build: {build['seconds'] / reopen['seconds']:.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()

"""Benchmark of the notebook runner (issue 6).

1. Full regeneration of the flagship event (all notebooks) with a warm cache (a first run warms
   the OS file cache and the imports' bytecode): wall time and peak RSS of the kernels.
2. A batch of 4 registry events with 2 workers against the same batch run serially (1 worker):
   with local threads in each kernel (the default) and with one shared LocalCluster
   (``scheduler="local"``).

    python benchmarks/bench_runner.py        # needs SHOCKLAB_DATA_DIR (nox sets it)

Targets: flagship regeneration < 90 s; batch with 2 workers <= 0.65x serial.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

from shocklab.runner import run_batch, run_event

EVENTS = ["deepseek-2025-01-27", "yen-carry-2024-08-05", "ftx-2022-11-08", "terra-2022-05-09"]


def main() -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ["SHOCKLAB_OFFLINE"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SHOCKLAB_BUILD_DIR"] = str(Path(tmp) / "build")
        run_event(EVENTS[0])  # warm-up
        start = time.perf_counter()
        record = run_event(EVENTS[0])
        wall = time.perf_counter() - start
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        n_nb = len(record.notebooks)
        print(f"flagship regeneration ({n_nb} notebooks, warm): {wall:.1f} s, {record.status}")
        print(f"  peak RSS of a kernel process: {rss:.0f} MiB (target < 90 s)")

        start = time.perf_counter()
        serial = run_batch(EVENTS, workers=1, progress=False)
        t_serial = time.perf_counter() - start
        start = time.perf_counter()
        parallel = run_batch(EVENTS, workers=2, progress=False)
        t_parallel = time.perf_counter() - start
        start = time.perf_counter()
        clustered = run_batch(EVENTS, workers=2, scheduler="local", progress=False)
        t_cluster = time.perf_counter() - start
        print(f"batch of {len(EVENTS)} events: serial {t_serial:.1f} s")
        print(
            f"  2 workers, local threads (default) {t_parallel:.1f} s = "
            f"{t_parallel / t_serial:.2f}x serial (target <= 0.65x)"
        )
        print(
            f"  2 workers, shared LocalCluster     {t_cluster:.1f} s = "
            f"{t_cluster / t_serial:.2f}x serial"
        )
        for name, records in (("serial", serial), ("threads", parallel), ("cluster", clustered)):
            print(
                f"  {name}: "
                + ", ".join(f"{r.event_id} {r.status} {r.seconds:.0f} s" for r in records)
            )


if __name__ == "__main__":
    main()

"""Benchmark of start-up costs (issue 19): ``shocklab --help``, ``import shocklab.data``,
``import shocklab.models`` and each notebook's import cell, in fresh processes.

Two ways, because this machine sets ``PYTHONDONTWRITEBYTECODE=1``:

- *cached*: the bytecode the environment already holds is read (site-packages compiled at
  install, as ``nox`` does for the sessions that start kernels);
- *no bytecode*: ``PYTHONPYCACHEPREFIX`` points at an empty folder and nothing is written, so
  every module is compiled from source on every start (a fresh uv environment without
  ``UV_COMPILE_BYTECODE``, where each notebook kernel pays this).

    python benchmarks/bench_imports.py

Target: ``shocklab --help`` <= 0.5 s with bytecode cached. Median of 5 starts (3 without
bytecode).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def import_cell(notebook: Path) -> str:
    """The notebook's first code cell after the parameters: its imports (and no more)."""
    cells = re.split(r"^# %%.*$", notebook.read_text(), flags=re.MULTILINE)
    code = [c for c in cells[1:] if c.strip() and not c.lstrip().startswith("#")]
    body = code[1] if len(code) > 1 else code[0]  # code[0] is the parameters cell
    return "\n".join(
        line for line in body.splitlines() if line.startswith(("import ", "from ", "    ", ")"))
    )


def timed(argv: list[str], env: dict[str, str], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    cases = {
        "shocklab --help": [sys.executable, "-m", "shocklab.cli", "--help"],
        "import shocklab.data": [sys.executable, "-c", "import shocklab.data"],
        "import shocklab.models": [sys.executable, "-c", "import shocklab.models"],
        "from shocklab.models import event_study": [
            sys.executable,
            "-c",
            "from shocklab.models import event_study",
        ],
    }
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        cases[f"{nb.stem}: import cell"] = [sys.executable, "-c", import_cell(nb)]
    base = {**os.environ, "MPLBACKEND": "Agg"}
    cached = {k: v for k, v in base.items() if k != "PYTHONPYCACHEPREFIX"}
    with tempfile.TemporaryDirectory() as empty:
        cold = {**base, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": empty}
        print(f"{'start-up (fresh process)':<42} {'cached':>8} {'no bytecode':>12}")
        for name, argv in cases.items():
            timed(argv, cached, 1)  # warm the OS file cache
            warm = timed(argv, cached, 5)
            compiled = timed(argv, cold, 3)
            print(f"{name:<42} {warm:>7.2f}s {compiled:>11.2f}s")


if __name__ == "__main__":
    main()

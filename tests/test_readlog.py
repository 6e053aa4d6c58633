"""Provenance of every file read: what the loaders record against an audit of what was opened.

The audit is Python's ``sys.addaudithook`` ("open" events). pyarrow opens files in C++, which
raises no audit event, so while auditing, ``pyarrow.csv.read_csv`` is wrapped to raise the same
"open" event for the path it is handed (the loaders' fast path parses every well-formed file
there). Opens made by the SHA-256 hasher (``catalog.file_sha256``) are told apart: recording a
file hashes it, so counting those would make the comparison circular.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import dask
import numpy as np
import pyarrow.csv as pacsv
import pytest

from shocklab.data import (
    cached_call,
    hourly_panel,
    liquidation_panel,
    nyse_close_panel,
    open_funding,
    open_prices,
)
from shocklab.data import catalog as catalog_module
from shocklab.data.catalog import DERIVATIVE_FILES

LIQUIDATION_FILE = DERIVATIVE_FILES["liquidations"]
OPEN_INTEREST_FILE = DERIVATIVE_FILES["open_interest"]
from shocklab.data.readlog import (
    READ_LOG_ENV,
    capture_reads,
    load_read_log,
    read_log,
    reads,
    record_read,
)

# --- the audit: one hook for the whole session (hooks cannot be removed), active on demand ----

_OPENED: list[tuple[str, bool]] = []  # (path as opened, opened by the hasher)
_AUDITING = threading.Event()
_HOOK_INSTALLED: list[bool] = []
_HASHER = catalog_module.file_sha256.__wrapped__.__code__


def _by_hasher(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code is _HASHER:
            return True
        frame = frame.f_back
    return False


def _audit_hook(event: str, args: tuple[object, ...]) -> None:
    if event != "open" or not _AUDITING.is_set():
        return
    with contextlib.suppress(Exception):  # a hook must never break the open it watches
        path = args[0]
        if isinstance(path, str | bytes | os.PathLike):
            _OPENED.append((os.fsdecode(path), _by_hasher(sys._getframe(1))))


@pytest.fixture(scope="session")
def _audit_installed() -> None:
    if not _HOOK_INSTALLED:
        sys.addaudithook(_audit_hook)
        _HOOK_INSTALLED.append(True)


Audit = Callable[[Path], contextlib.AbstractContextManager[list[tuple[str, bool]]]]


@pytest.fixture
def audit(_audit_installed: None, monkeypatch: pytest.MonkeyPatch) -> Audit:
    """``with audit(root) as opened:`` -> ``(relpath, by_hasher)`` of each open under ``root``."""
    real = pacsv.read_csv

    def read_csv(input_file: object, *args: object, **kwargs: object) -> object:
        if isinstance(input_file, str | os.PathLike):  # C++ opens it: raise the event for it
            sys.audit("open", os.fspath(input_file), "rb", os.O_RDONLY)
        return real(input_file, *args, **kwargs)

    @contextlib.contextmanager
    def auditing(root: Path) -> Iterator[list[tuple[str, bool]]]:
        found: list[tuple[str, bool]] = []
        monkeypatch.setattr(pacsv, "read_csv", read_csv)
        _OPENED.clear()
        _AUDITING.set()
        try:
            yield found
        finally:
            _AUDITING.clear()
            monkeypatch.setattr(pacsv, "read_csv", real)
            for raw, by_hasher in _OPENED:
                path = Path(os.path.realpath(raw))
                if path.is_relative_to(root):
                    found.append((path.relative_to(root).as_posix(), by_hasher))
            _OPENED.clear()

    return auditing


@pytest.fixture(autouse=True)
def _no_outer_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """A log the developer's shell names is not this suite's to write."""
    monkeypatch.delenv(READ_LOG_ENV, raising=False)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- (a) what the loaders record is what they open ------------------------------------------


def test_recorded_files_are_the_files_opened(mirror: Path, audit: Audit) -> None:
    catalog_module._read_manifest_cached.cache_clear()  # read once per process: read it here
    with (
        dask.config.set(scheduler="threads"),  # tasks in this process, where the audit is
        audit(mirror) as opened,
        capture_reads() as recorded,
    ):
        open_prices(["BTCUSDT", "NVDA"], "2025-01-21", "2025-01-31", freq="1d").compute()
        open_prices(["ETHUSDT", "QQQ"], "2025-01-21", "2025-01-31", freq="1h").compute()
        nyse_close_panel(["AAPL", "SOLUSDT"], "2025-01-21", "2025-01-31").compute()
        hourly_panel(["XRPUSDT", "SPY"], "2025-01-27", "2025-01-29").compute()
        liquidation_panel(["BTC", "DOGE"], "2025-01-01", "2025-02-01")
        open_funding(["ADAUSDT"], "2025-01-21", "2025-01-31").compute()
    read = {rel for rel, by_hasher in opened if not by_hasher}
    assert read == set(recorded)
    assert {  # one of each kind: manifest, daily/hourly crypto and equities, derivatives
        "manifest.csv",
        "crypto/binance/spot/1d/BTCUSDT.csv",
        "crypto/binance/spot/1h/ETHUSDT.csv.gz",
        "equities/us/1d/NVDA.csv",
        "equities/us/1h/QQQ.csv",
        "equities/us/1h/SPY.csv",
        "crypto/binance/spot/1h/SOLUSDT.csv.gz",
        "crypto/binance/spot/1d/DOGEUSDT.csv",
        LIQUIDATION_FILE,
        OPEN_INTEREST_FILE,
        "crypto/binance/usdm-funding/BTCUSDT.csv",
        "crypto/binance/usdm-funding/ADAUSDT.csv",
    } <= read
    for rel, entry in recorded.items():
        assert entry["sha256"] == _sha256(mirror / rel), rel
        assert entry["size"] == (mirror / rel).stat().st_size
        assert entry["root"] == str(mirror)
    in_process = reads()
    assert {rel: in_process[rel]["sha256"] for rel in recorded} == {
        rel: entry["sha256"] for rel, entry in recorded.items()
    }


def test_a_cache_hit_records_the_files_without_reading_them(
    mirror: Path, audit: Audit, tmp_path: Path
) -> None:
    request = (["BTC"], "2025-01-01", "2025-02-01")
    with capture_reads() as built:
        cached_call(liquidation_panel, *request, name="liq", cache_dir=tmp_path)
    assert {LIQUIDATION_FILE, OPEN_INTEREST_FILE, "crypto/binance/usdm-funding/BTCUSDT.csv"} <= set(
        built
    )
    with audit(mirror) as opened, capture_reads() as hit:
        cached_call(liquidation_panel, *request, name="liq", cache_dir=tmp_path)
    assert opened == []  # the store answered: nothing opened, nothing hashed
    assert {k: v["sha256"] for k, v in hit.items()} == {k: v["sha256"] for k, v in built.items()}


def test_cached_call_rebuilds_when_a_file_outside_the_coordinates_changes(
    mirror: Path, tmp_path: Path
) -> None:
    """liquidation_panel names no source_file: its funding file is checked all the same."""
    root = tmp_path / "data"
    for rel in (
        LIQUIDATION_FILE,
        OPEN_INTEREST_FILE,
        "crypto/binance/spot/1d/BTCUSDT.csv",
        "crypto/binance/usdm-funding/BTCUSDT.csv",
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes((mirror / rel).read_bytes())
    kwargs: dict[str, Any] = {"data_dir": root, "name": "liq", "cache_dir": tmp_path / "cache"}
    before = cached_call(liquidation_panel, ["BTC"], "2025-01-20", "2025-02-01", **kwargs)
    funding = root / "crypto/binance/usdm-funding/BTCUSDT.csv"
    funding.write_text(
        funding.read_text().replace("2025-01-27T08:00:00Z,3.712e-05", "2025-01-27T08:00:00Z,0.01")
    )
    after = cached_call(liquidation_panel, ["BTC"], "2025-01-20", "2025-02-01", **kwargs)
    day = {"asset": "BTC", "time": "2025-01-27"}
    assert float(after["funding"].sel(day)) == pytest.approx(
        float(before["funding"].sel(day)) - 3.712e-05 + 0.01
    )
    assert np.isfinite(float(after["funding"].sel(day)))


# --- (b) one log, several processes ----------------------------------------------------------

_RECORD = (
    "import sys; from pathlib import Path; from shocklab.data.readlog import record_read; "
    "root = Path(sys.argv[1]); [record_read(root / name, root) for name in sys.argv[2:]]"
)


def test_processes_append_to_one_log(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    names = [f"a/{k:03d}.csv" for k in range(300)]
    for k, name in enumerate(names):
        (root / name).write_text(f"time,close\n2025-01-27T00:00:00Z,{k}\n")
    first, second = names[:200], names[100:]  # 100 files read by both
    before = os.environ.get(READ_LOG_ENV)
    with read_log(tmp_path / "run" / "reads.jsonl") as log:
        assert os.environ[READ_LOG_ENV] == str(log)
        procs = [  # children inherit the variable, as Jupyter kernels do
            subprocess.Popen([sys.executable, "-c", _RECORD, str(root), *part])
            for part in (first, second)
        ]
        (root / "parent.csv").write_text("time,close\n")
        record_read(root / "parent.csv", root)
        record_read(root / "parent.csv", root)  # once per file and content in a process
        assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert os.environ.get(READ_LOG_ENV) == before
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == len(first) + len(second) + 1  # whole lines, none torn or lost
    assert len({line["pid"] for line in lines}) == 3
    files = load_read_log(log)
    assert files == {rel: _sha256(root / rel) for rel in sorted([*names, "parent.csv"])}
    assert list(files) == sorted(files)


def test_a_file_read_with_two_contents_is_flagged(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    path = root / "x.csv"
    with read_log(tmp_path / "reads.jsonl") as log:
        path.write_text("time,close\n")
        record_read(path, root)
        path.write_text("time,close\n2025-01-27T00:00:00Z,1\n")
        record_read(path, root)
    with log.open("a") as fh:
        fh.write('{"path": "torn\n')
    with pytest.warns(RuntimeWarning) as caught:
        files = load_read_log(log)
    assert files == {"x.csv": _sha256(path)}  # the later content
    messages = " ".join(str(w.message) for w in caught)
    assert "two different contents" in messages
    assert "not a read record" in messages
    assert load_read_log(tmp_path / "absent.jsonl") == {}


def test_a_file_outside_the_root_is_recorded_by_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.csv").write_text("time,close\n")
    key = record_read(tmp_path / "elsewhere.csv", tmp_path / "root")
    assert key == (tmp_path / "elsewhere.csv").as_posix()
    assert reads()[key]["sha256"] == _sha256(tmp_path / "elsewhere.csv")

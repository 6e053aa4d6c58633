"""The zarr panel cache: identical round trip, reuse, invalidation, concurrent builders."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pytest
import xarray as xr
from helpers import cache_flagship_panel

from shocklab.data import cached, cached_call, nyse_close_panel, open_prices
from shocklab.data.cache import cache_key
from shocklab.data.errors import DataQualityWarning


def test_round_trip_is_identical(tmp_path: Path) -> None:
    panel = nyse_close_panel(["NVDA", "QQQ", "BTCUSDT"], "2024-12-02", "2025-01-31")
    stored = cached(panel, "nyse", cache_dir=tmp_path)
    xr.testing.assert_identical(stored.drop_attrs(), panel.compute().drop_attrs())
    assert stored["close"].chunks is not None  # reopened lazily
    assert stored.attrs["request"] == panel.attrs["request"]


def test_second_call_reuses_the_store(tmp_path: Path) -> None:
    panel = nyse_close_panel(["NVDA", "BTCUSDT"], "2025-01-21", "2025-01-31")
    first = Path(cached(panel, "nyse", cache_dir=tmp_path).attrs["cache_path"])
    stamp = first.stat().st_mtime_ns
    again = Path(cached(panel, "nyse", cache_dir=tmp_path).attrs["cache_path"])
    assert again == first
    assert first.stat().st_mtime_ns == stamp
    assert len(list(tmp_path.iterdir())) == 1


def test_key_depends_on_request_and_file_content(tmp_path: Path, mirror: Path) -> None:
    a = open_prices("NVDA", "2025-01-21", "2025-01-31", freq="1d")
    b = open_prices("NVDA", "2025-01-21", "2025-02-03", freq="1d")
    assert cache_key(a) != cache_key(b)
    assert cache_key(a) == cache_key(open_prices("NVDA", "2025-01-21", "2025-01-31", freq="1d"))
    root = tmp_path / "data"
    (root / "equities/us/1d").mkdir(parents=True)
    target = root / "equities/us/1d/NVDA.csv"
    shutil.copy(mirror / "equities/us/1d/NVDA.csv", target)
    before = cache_key(open_prices("NVDA", "2025-01-21", "2025-01-31", freq="1d", data_dir=root))
    target.write_text(target.read_text().replace("118.5,", "118.6,"))
    after = cache_key(open_prices("NVDA", "2025-01-21", "2025-01-31", freq="1d", data_dir=root))
    assert before != after


def test_two_processes_building_the_same_panel(tmp_path: Path, mirror: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        futures = [pool.submit(cache_flagship_panel, str(mirror), str(tmp_path)) for _ in range(4)]
        paths = {f.result() for f in futures}
    assert len(paths) == 1
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert leftovers == [Path(next(iter(paths))).name]  # no temporary folders left behind
    stored = xr.open_zarr(next(iter(paths)))
    expected = nyse_close_panel(["NVDA", "BTCUSDT"], "2025-01-21", "2025-01-31").compute()
    np.testing.assert_array_equal(stored["close"].values, expected["close"].values)


class CountingLoader:
    """nyse_close_panel, counting how often it is really called."""

    def __init__(self) -> None:
        self.calls = 0
        self.__module__ = "tests.test_cache"
        self.__qualname__ = "CountingLoader"

    def __call__(self, *args: Any, **kwargs: Any) -> xr.Dataset:
        self.calls += 1
        return nyse_close_panel(*args, **kwargs)


def test_cached_call_reopens_without_building(tmp_path: Path) -> None:
    loader = CountingLoader()
    request = (["NVDA", "BTCUSDT"], "2025-01-21", "2025-01-31")
    first = cached_call(loader, *request, name="nyse", cache_dir=tmp_path / "cache")
    again = cached_call(loader, *request, name="nyse", cache_dir=tmp_path / "cache")
    assert loader.calls == 1  # the hit never built the lazy panel
    assert again["close"].chunks is None  # a small panel comes back in memory ...
    with dask.config.set({"array.chunk-size": "64B"}):  # ... a large one lazily
        lazy = cached_call(loader, *request, name="nyse", cache_dir=tmp_path / "cache")
    assert lazy["close"].chunks is not None
    xr.testing.assert_identical(lazy.compute(), again)
    assert again.attrs["cache_path"] == first.attrs["cache_path"]
    direct = nyse_close_panel(*request).compute()
    xr.testing.assert_identical(again.drop_attrs(), direct.drop_attrs())
    other = cached_call(loader, ["NVDA"], *request[1:], name="nyse", cache_dir=tmp_path / "cache")
    assert loader.calls == 2
    assert other.attrs["cache_path"] != first.attrs["cache_path"]


def test_cached_call_rebuilds_when_a_source_file_changes(tmp_path: Path, mirror: Path) -> None:
    root = tmp_path / "data"
    (root / "equities/us/1d").mkdir(parents=True)
    target = root / "equities/us/1d/NVDA.csv"
    shutil.copy(mirror / "equities/us/1d/NVDA.csv", target)
    loader = CountingLoader()
    kwargs: dict[str, Any] = {"data_dir": root, "name": "nyse", "cache_dir": tmp_path / "cache"}
    before = cached_call(loader, ["NVDA"], "2025-01-21", "2025-01-31", **kwargs)
    assert float(before["close"].sel(time="2025-01-27").squeeze()) == 118.5
    os.utime(target)  # touched, same bytes: still a hit
    cached_call(loader, ["NVDA"], "2025-01-21", "2025-01-31", **kwargs)
    assert loader.calls == 1
    target.write_text(target.read_text().replace("118.5,", "118.6,"))  # new content
    after = cached_call(loader, ["NVDA"], "2025-01-21", "2025-01-31", **kwargs)
    assert loader.calls == 2
    assert float(after["close"].sel(time="2025-01-27").squeeze()) == 118.6
    assert after.attrs["cache_path"] == before.attrs["cache_path"]  # replaced in place
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [
        Path(after.attrs["cache_path"]).name
    ]


def test_cached_call_replays_data_quality_warnings(tmp_path: Path, mirror: Path) -> None:
    root = tmp_path / "data"
    (root / "equities/us/1d").mkdir(parents=True)
    lines = (mirror / "equities/us/1d/NVDA.csv").read_text().splitlines(keepends=True)
    row = next(line for line in lines if line.startswith("2025-01-24,"))
    (root / "equities/us/1d/NVDA.csv").write_text("".join([*lines, row]))  # a duplicate row
    loader = CountingLoader()
    kwargs: dict[str, Any] = {"data_dir": root, "name": "nyse", "cache_dir": tmp_path / "cache"}
    with pytest.warns(DataQualityWarning, match="1 exact duplicate row"):
        built = cached_call(loader, ["NVDA"], "2025-01-21", "2025-01-31", **kwargs)
    with pytest.warns(DataQualityWarning, match="duplicate row.*recorded when the cached panel"):
        hit = cached_call(loader, ["NVDA"], "2025-01-21", "2025-01-31", **kwargs)
    assert loader.calls == 1
    assert hit.attrs["data_quality"] == built.attrs["data_quality"]


# --- a cache that proves what it returns (issue 16) -------------------------------------------

DAMAGE_REQUEST = (["NVDA", "QQQ", "BTCUSDT"], "2024-12-02", "2025-01-31")


def _close_chunk(store: Path) -> Path:
    """The one chunk file of the stored ``close`` variable (42 x 3 closes)."""
    metadata = {"zarr.json", ".zarray", ".zattrs"}
    (chunk,) = [p for p in (store / "close").rglob("*") if p.is_file() and p.name not in metadata]
    return chunk


def _damage(store: Path, how: str) -> None:
    chunk = _close_chunk(store)
    if how == "flip":  # one bit-rotted byte in the middle of the chunk; mtime kept, as bit rot
        stat = chunk.stat()
        data = bytearray(chunk.read_bytes())
        data[len(data) // 2] ^= 0x40
        chunk.write_bytes(bytes(data))
        os.utime(chunk, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    elif how == "delete":  # zarr reads a missing chunk as fill values (NaN closes)
        chunk.unlink()
    elif how == "metadata":  # an attribute changed, still valid JSON
        meta = next(m for m in (store / "zarr.json", store / ".zmetadata") if m.exists())
        meta.write_text(meta.read_text().replace("nyse_close_panel", "nyse_close_panes", 1))
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["flip", "delete", "metadata"])
def test_cached_call_rebuilds_a_damaged_store(tmp_path: Path, how: str) -> None:
    loader = CountingLoader()
    first = cached_call(loader, *DAMAGE_REQUEST, name="nyse", cache_dir=tmp_path)
    store = Path(first.attrs["cache_path"])
    _damage(store, how)
    with pytest.warns(DataQualityWarning, match=rf"cache store .*{store.name} is damaged") as w:
        again = cached_call(loader, *DAMAGE_REQUEST, name="nyse", cache_dir=tmp_path)
    assert loader.calls == 2  # rebuilt from the source files
    if how != "metadata":
        assert "close/c/0/0" in str(w[0].message)
    direct = nyse_close_panel(*DAMAGE_REQUEST).compute()
    xr.testing.assert_identical(again.drop_attrs(), direct.drop_attrs())
    hit = cached_call(loader, *DAMAGE_REQUEST, name="nyse", cache_dir=tmp_path)  # no warning
    assert loader.calls == 2
    xr.testing.assert_identical(hit, again)


@pytest.mark.parametrize("how", ["flip", "delete"])
def test_cached_call_proves_a_lazy_store_at_reopen(tmp_path: Path, how: str) -> None:
    """A store above dask's chunk size reopens lazily: it is proven at reopen all the same."""
    loader = CountingLoader()
    first = cached_call(loader, *DAMAGE_REQUEST, name="nyse", cache_dir=tmp_path)
    _damage(Path(first.attrs["cache_path"]), how)
    lazy = dask.config.set({"array.chunk-size": "64B"})  # reopened (and rebuilt) lazily
    with lazy, pytest.warns(DataQualityWarning, match="close/c/0/0"):
        again = cached_call(loader, *DAMAGE_REQUEST, name="nyse", cache_dir=tmp_path)
    assert loader.calls == 2
    assert again["close"].chunks is not None
    direct = nyse_close_panel(*DAMAGE_REQUEST).compute()
    xr.testing.assert_identical(again.compute().drop_attrs(), direct.drop_attrs())


@pytest.mark.parametrize("how", ["flip", "delete"])
def test_cached_rewrites_a_damaged_store(tmp_path: Path, how: str) -> None:
    panel = nyse_close_panel(*DAMAGE_REQUEST)
    store = Path(cached(panel, "nyse", cache_dir=tmp_path).attrs["cache_path"])
    _damage(store, how)
    with pytest.warns(DataQualityWarning, match=rf"{store.name} is damaged: close/c/0/0"):
        again = cached(panel, "nyse", cache_dir=tmp_path)
    xr.testing.assert_identical(again.compute().drop_attrs(), panel.compute().drop_attrs())


def test_a_store_without_an_integrity_record_is_rebuilt(tmp_path: Path) -> None:
    loader = CountingLoader()
    first = cached_call(loader, *DAMAGE_REQUEST, name="nyse", cache_dir=tmp_path)
    (Path(first.attrs["cache_path"]) / "shocklab-integrity.json").unlink()
    with pytest.warns(DataQualityWarning, match="no integrity record"):
        cached_call(loader, *DAMAGE_REQUEST, name="nyse", cache_dir=tmp_path)
    assert loader.calls == 2


_KILLED_WRITER = """
import os, sys
from pathlib import Path
from shocklab.data import cache, nyse_close_panel

panel = nyse_close_panel(["NVDA", "BTCUSDT"], "2025-01-21", "2025-01-31")
rename = Path.rename

def killed(self, target):  # killed before the new store is renamed into place
    if self.name.endswith(".tmp"):
        os._exit(9)
    return rename(self, target)

Path.rename = killed
cache._write_store(panel, Path(sys.argv[1]))
"""


def test_stale_temporary_stores_are_removed(tmp_path: Path) -> None:
    loader = CountingLoader()
    request = (["NVDA", "BTCUSDT"], "2025-01-21", "2025-01-31")
    store = Path(cached_call(loader, *request, name="nyse", cache_dir=tmp_path).attrs["cache_path"])
    # a writer killed while replacing the store: its new copy (.tmp) and the old one (.stale)
    killed = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(store)], check=False)
    assert killed.returncode == 9
    left = sorted(p.suffix for p in tmp_path.iterdir() if p.name.startswith("."))
    assert left == [".stale", ".tmp"]
    assert not store.exists()
    # a live writer's temporary store (this process); two without a writer in the name, one
    # older than a day and one recent
    live = tmp_path / f".{store.name}.{'2' * 32}.{os.getpid()}@{socket.gethostname()}.tmp"
    old = tmp_path / f".{store.name}.{'0' * 32}.tmp"
    recent = tmp_path / f".{store.name}.{'1' * 32}.stale"
    for folder in (live, old, recent):
        (folder / "close").mkdir(parents=True)
    stamp = time.time() - 2 * 24 * 3600
    os.utime(old, (stamp, stamp))
    again = cached_call(loader, *request, name="nyse", cache_dir=tmp_path)
    assert loader.calls == 2  # the store was gone: rebuilt, without a warning
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [store.name, live.name, recent.name]
    )
    direct = nyse_close_panel(*request).compute()
    xr.testing.assert_identical(again.drop_attrs(), direct.drop_attrs())

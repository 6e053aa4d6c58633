"""The zarr panel cache: identical round trip, reuse, invalidation, concurrent builders."""

from __future__ import annotations

import multiprocessing
import os
import shutil
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

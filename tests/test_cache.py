"""The zarr panel cache: identical round trip, reuse, invalidation, concurrent builders."""

from __future__ import annotations

import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import xarray as xr
from helpers import cache_flagship_panel

from shocklab.data import cached, nyse_close_panel, open_prices
from shocklab.data.cache import cache_key


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

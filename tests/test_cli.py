"""The ``shocklab panel`` command end to end on the real mirror."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from shocklab.cli import main


def test_panel_command_writes_panel_coverage_and_provenance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "panel",
            "--symbols",
            "NVDA",
            "QQQ",
            "BTCUSDT",
            "NOSUCHUSDT",
            "--start",
            "2025-01-21",
            "--end",
            "2025-01-31",
            "--name",
            "t",
        ]
    )
    assert code == 0
    out = tmp_path / "build" / "panels" / "t"
    assert "skipped: NOSUCHUSDT" in capsys.readouterr().out
    panel = xr.open_dataset(out / "panel.nc")
    nvda = panel["log_return"].sel(asset="NVDA", time="2025-01-27").item()
    assert nvda == pytest.approx(math.log(118.50 / 142.59))
    assert np.isnan(panel["log_return"].isel(time=0)).all()
    record = json.loads((out / "provenance.json").read_text())
    assert record["parameters"]["symbols"] == ["NVDA", "QQQ", "BTCUSDT"]
    assert len(record["data_files"]["equities/us/1d/NVDA.csv"]) == 64
    assert record["packages"]["xarray"]
    assert "NVDA" in (out / "coverage.csv").read_text()


def test_panel_command_rejects_path_like_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["panel", "--symbols", "NVDA", "--name", "../x"]) == 2
    assert "--name" in capsys.readouterr().err


def test_bad_dates_give_an_error_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["panel", "--symbols", "NVDA", "--start", "2025-13-45", "--end", "2025-02-01"]) == 2
    assert "not a date" in capsys.readouterr().err

"""The ``shocklab panel`` command end to end on the real mirror."""

from __future__ import annotations

import errno
import json
import math
import subprocess
import sys
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


_PANEL = ["panel", "--symbols", "NVDA", "--start", "2025-01-21", "--end", "2025-01-31"]


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_panel_write_failure_keeps_the_previous_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The disk fills half way through panel.nc: the previous panel, coverage and provenance
    stay whole, no temporary file is left, and the error is one line."""
    assert main([*_PANEL, "--name", "t"]) == 0
    out = tmp_path / "build" / "panels" / "t"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == {"panel.nc", "coverage.csv", "provenance.json"}
    capsys.readouterr()

    def half_then_full(self: xr.Dataset, path: object, *args: object, **kwargs: object) -> None:
        data = before["panel.nc"]
        Path(str(path)).write_bytes(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(xr.Dataset, "to_netcdf", half_then_full)
    assert main([*_PANEL, "--name", "t"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("error: disk full")
    assert str(out) in line
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_unwritable_build_folder_is_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a build folder under a regular file: NotADirectoryError / FileExistsError (even as root)
    blocker = tmp_path / "somefile"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SHOCKLAB_BUILD_DIR", str(blocker / "build"))
    for argv in (["run", "--event", "2024-04-15"], [*_PANEL, "--name", "t"]):
        assert main(argv) == 1
        line = _one_line(capsys.readouterr().err)
        assert f"{blocker} is a file, not a folder" in line, line
        assert "SHOCKLAB_BUILD_DIR" in line

    # a folder without write permission (root ignores chmod: the refusal is simulated)
    build = tmp_path / "build"
    monkeypatch.setenv("SHOCKLAB_BUILD_DIR", str(build))
    mkdir = Path.mkdir

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        if self == build or build in self.parents:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", refuse)
    for argv in (["run", "--event", "2024-04-15"], [*_PANEL, "--name", "t"]):
        assert main(argv) == 1
        line = _one_line(capsys.readouterr().err)
        assert line.startswith(f"error: permission denied on {build}")
        assert "SHOCKLAB_BUILD_DIR" in line


def _python(code: str) -> str:
    """Standard output of ``code`` run in a fresh Python process (nothing imported yet)."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout


def test_help_loads_no_scientific_stack_and_shows_examples() -> None:
    """``shocklab --help`` answers without importing the scientific stack (it is loaded by the
    command that needs it), in plain text with examples."""
    code = (
        "import sys\n"
        "from shocklab.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = {'numpy', 'pandas', 'xarray', 'dask', 'scipy', 'statsmodels', 'arch',\n"
        "         'matplotlib', 'papermill', 'pydantic', 'yaml', 'requests', 'pooch', 'zarr'}\n"
        "print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    out = _python(code)
    assert "LOADED []" in out
    assert "``" not in out  # no raw reStructuredText markup
    assert "examples:" in out
    assert "shocklab run --event 2024-08-02T21:00Z" in out


def test_events_lists_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    from shocklab.events import load_events

    assert main(["events"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "moment", "label"]
    specs = load_events()
    assert len(lines) == 1 + len(specs)
    for line, (event_id, spec) in zip(lines[1:], specs.items(), strict=True):
        assert line.startswith(event_id)
        assert spec.moment_label in line
        assert line.endswith(spec.label)


@pytest.mark.parametrize("module", ["shocklab", "shocklab.data"])
def test_packages_import_the_scientific_stack_only_when_used(module: str) -> None:
    """(``shocklab.models`` imports its event study eagerly: the function ``event_study``
    shares its name with its submodule, and a lazy attribute would hand out the submodule
    once anything imported it.)"""
    code = (
        f"import sys, {module}\n"
        "heavy = {'xarray', 'dask', 'scipy', 'statsmodels', 'arch', 'matplotlib', 'pandas'}\n"
        "print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    out = _python(code)
    assert "LOADED []" in out


def test_models_event_study_is_the_function_whatever_was_imported_first() -> None:
    code = (
        "import shocklab.studies.event\n"  # imports the submodule shocklab.models.event_study
        "from shocklab.models import event_study\n"
        "print(callable(event_study), type(event_study).__name__)\n"
    )
    out = _python(code)
    assert out.split() == ["True", "function"]

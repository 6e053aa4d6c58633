"""Provenance of results: package versions, git commit, data files, parameters."""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = (
    "shocklab",
    "numpy",
    "pandas",
    "xarray",
    "dask",
    "distributed",
    "scipy",
    "statsmodels",
    "arch",
    "exchange-calendars",
    "pooch",
    "zarr",
    "matplotlib",
    "papermill",
)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages results depend on."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()


def git_commit(path: Path | None = None) -> str | None:
    """The commit of the working tree holding ``path`` (None outside git), '+dirty' if changed."""
    cwd = path or Path.cwd()
    try:
        sha = _git(cwd, "rev-parse", "HEAD")
        dirty = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


def provenance(parameters: dict[str, Any], files: dict[str, str]) -> dict[str, Any]:
    """A JSON-ready provenance record: versions, commit, data file hashes, parameters."""
    return {
        "packages": package_versions(),
        "git_commit": git_commit(),
        "data_files": dict(sorted(files.items())),
        "parameters": parameters,
    }

"""Shared fixtures: the real offline mirror and a local upstream server on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Upstream, serve_upstream

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The real market-data mirror (``$SHOCKLAB_DATA_DIR`` or ``../shared/market-data``)."""
    path = Path(os.environ.get("SHOCKLAB_DATA_DIR", ROOT.parent / "shared" / "market-data"))
    if not (path / "manifest.csv").is_file():
        pytest.fail(
            f"market-data mirror not found at {path}: set SHOCKLAB_DATA_DIR or place "
            "../shared/market-data beside the project"
        )
    return path.resolve()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mirror: Path) -> None:
    """Every test reads the mirror, writes build output under tmp and never goes online."""
    monkeypatch.setenv("SHOCKLAB_DATA_DIR", str(mirror))
    monkeypatch.setenv("SHOCKLAB_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("SHOCKLAB_OFFLINE", "1")
    for env in (
        "SHOCKLAB_BINANCE_DATA_URL",
        "SHOCKLAB_BINANCE_SPOT_API",
        "SHOCKLAB_BINANCE_FUTURES_API",
        "SHOCKLAB_FRED_URL",
        "SHOCKLAB_COINGLASS_URL",
    ):
        monkeypatch.setenv(env, "http://127.0.0.1:9")  # discard port: never the internet


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """A local HTTP server on 127.0.0.1 (ephemeral port) answering scripted routes."""
    with serve_upstream() as state:
        yield state

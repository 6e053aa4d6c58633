"""Project-level checks: the conda environment matches pyproject; the universe validates."""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path

import pytest
import yaml

from shocklab.universe import Universe, load_universe

ROOT = Path(__file__).resolve().parents[1]


def _split(requirement: str) -> tuple[str, str]:
    match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)$", requirement.strip())
    assert match, requirement
    return match.group(1).lower().replace("_", "-"), match.group(3).replace(" ", "")


def test_environment_yml_lists_the_runtime_set_of_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_side = dict(_split(r) for r in project["dependencies"])
    # dask[distributed] is two conda packages with the same floor
    pip_side["distributed"] = pip_side["dask"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_side = dict(
        _split(d)
        for d in env["dependencies"]
        if isinstance(d, str) and d.split(">")[0] not in ("python", "pip")
    )
    assert conda_side == pip_side


def test_universe_loads_and_has_the_flagship_groups() -> None:
    universe = load_universe(ROOT / "research" / "universe.yaml")
    assert set(universe.members("ai_tokens")) >= {"FETUSDT", "RENDERUSDT", "GRTUSDT", "NEARUSDT"}
    assert universe.group_of("NVDA") == "semis"
    assert universe.group_of("NOPE") == ""
    with pytest.raises(KeyError, match="unknown group 'semiconductors'"):
        universe.members("semiconductors")


def test_universe_rejects_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "universe.yaml"
    bad.write_text(yaml.safe_dump({"groups": {"x": {"label": "X", "members": ["A", "A"]}}}))
    with pytest.raises(ValueError, match="listed twice"):
        load_universe(bad)
    bad.write_text(yaml.safe_dump({"groups": {"x": {"label": "X", "members": []}}}))
    with pytest.raises(ValueError, match="invalid universe file"):
        load_universe(bad)
    assert Universe(groups={}).group_of("BTCUSDT") == ""


def test_functions_named_in_messages_exist() -> None:
    """Every ``shocklab.<module>.<function>`` an error message or docstring names exists (a
    message once sent users to ``fetch.fetch_coinglass``, which does not)."""
    import importlib

    named = set()
    for path in (ROOT / "src" / "shocklab").rglob("*.py"):
        named |= set(re.findall(r"shocklab(?:\.[A-Za-z_][A-Za-z0-9_]*)+", path.read_text()))
    assert "shocklab.data.fetch.fetch_coinglass_liquidations" in named
    for dotted in sorted(named):
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):  # the longest importable module prefix
            try:
                obj: object = importlib.import_module(".".join(parts[:cut]))
            except ModuleNotFoundError:
                continue
            for attr in parts[cut:]:
                assert hasattr(obj, attr), f"{dotted}: {attr} not found"
                obj = getattr(obj, attr)
            break


def test_jupyterlab_opens_py_notebooks_as_notebooks(tmp_path: Path) -> None:
    """The settings ``nox -s lab`` installs (etc/jupyterlab/overrides.json) make jupytext's
    notebook the default viewer of .py files: a JupyterLab server started with them reports it
    through its settings API."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    settings = tmp_path / "settings"
    settings.mkdir()
    shutil.copyfile(ROOT / "etc" / "jupyterlab" / "overrides.json", settings / "overrides.json")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
            f"--port={port}", "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=",
            f"--LabApp.app_settings_dir={settings}", f"--ServerApp.root_dir={tmp_path}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/docmanager-extension:plugin"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    answer = json.loads(resp.read())
                break
            except OSError:
                assert server.poll() is None, "jupyter lab exited"
                assert time.monotonic() < deadline, "jupyter lab did not answer in 90 s"
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)
    viewers = answer["schema"]["properties"]["defaultViewers"]["default"]
    assert viewers["python"] == "Jupytext Notebook"

"""nox sessions for shocklab: tests, lint, typecheck, notebooks, report, lab, benchmarks.

``nox`` alone runs the default sessions (tests, lint, typecheck, notebooks); ``nox -s report``
is the main job (the flagship analysis and its HTML report); ``nox -s lab`` opens JupyterLab on
the notebooks; ``nox -s benchmarks`` runs the performance measurements on demand. Every session finds the offline market-data mirror at
``../shared/market-data`` when it exists (or wherever ``SHOCKLAB_DATA_DIR`` already points).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.needs_version = ">=2024.4"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml("pyproject.toml")
MIRROR = (ROOT / ".." / "shared" / "market-data").resolve()


def _data_env() -> dict[str, str]:
    """Point shocklab at the offline mirror when one sits beside the project."""
    env = {"MPLBACKEND": "Agg"}
    if "SHOCKLAB_DATA_DIR" not in os.environ and MIRROR.is_dir():
        env["SHOCKLAB_DATA_DIR"] = str(MIRROR)
    return env


def _install(session: nox.Session, *groups: str, kernels: bool = False) -> None:
    """Install the package (and dependency ``groups``). ``kernels``: the session starts notebook
    kernels, fresh Python processes that import the scientific stack; compile its bytecode once
    at install (uv does not by default), or every kernel compiles it again where
    ``PYTHONDONTWRITEBYTECODE`` is set (measured: 14 s instead of 4 s per kernel)."""
    env = {"UV_COMPILE_BYTECODE": "1"} if kernels else {}
    session.install("-e", ".", env=env)
    for group in groups:
        session.install(*nox.project.dependency_groups(PYPROJECT, group), env=env)


@nox.session(default=True)
def tests(session: nox.Session) -> None:
    """Run the test suite (real mirror data + local HTTP servers on 127.0.0.1), offline."""
    if shutil.which("chromium") is None:  # in the first seconds, not after minutes of tests
        session.error(
            "the report test renders report.html in headless Chromium, which is not installed. "
            "Install it: sudo apt-get install -y chromium (Debian/Ubuntu), then run nox again"
        )
    _install(session, "test", kernels=True)
    session.run("pytest", *session.posargs, env={**_data_env(), "SHOCKLAB_OFFLINE": "1"})


@nox.session(default=True)
def lint(session: nox.Session) -> None:
    """Lint and check formatting with ruff."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", "src", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks", "noxfile.py")


@nox.session(default=True)
def typecheck(session: nox.Session) -> None:
    """Type-check the package with strict mypy."""
    _install(session, "typecheck")
    session.run("mypy")


@nox.session(default=False)
def report(session: nox.Session) -> None:
    """Main job: regenerate the flagship analysis and its HTML report (build/runs/<event>/)."""
    _install(session, kernels=True)
    event = session.posargs[0] if session.posargs else "deepseek-2025-01-27"
    session.run("shocklab", "run", "--event", event, env=_data_env())


@nox.session(default=True)
def notebooks(session: nox.Session) -> None:
    """Execute every notebook for the flagship event with papermill (fails on any cell error),
    offline: the notebooks are checked against the local mirror, never the network."""
    _install(session, kernels=True)
    env = {**_data_env(), "SHOCKLAB_OFFLINE": "1"}
    session.run("shocklab", "run", "--event", "deepseek-2025-01-27", env=env)


@nox.session(default=False)
def lab(session: nox.Session) -> None:
    """JupyterLab on notebooks/: the .py notebooks open as notebooks on double-click (jupytext's
    default-viewer setting, etc/jupyterlab/overrides.json, installed into the session's
    environment); works as root too."""
    _install(session, kernels=True)
    settings = Path(session.virtualenv.location) / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "etc" / "jupyterlab" / "overrides.json", settings / "overrides.json")
    root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    session.run("jupyter", "lab", "notebooks", *root, *session.posargs, env=_data_env())


@nox.session(default=False)
def panel(session: nox.Session) -> None:
    """Main job: build the NYSE-close aligned panel of the whole universe into build/panels/."""
    _install(session)
    session.run("shocklab", "panel", *session.posargs, env=_data_env())


@nox.session(default=False)
def benchmarks(session: nox.Session) -> None:
    """Run the performance measurements in benchmarks/ and print their reports."""
    _install(session)
    # the reference the event-study speed is compared with (benchmarks only, not a dependency)
    session.install("eventstudy==0.1a12")
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs, env=_data_env())

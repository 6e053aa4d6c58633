"""Where shocklab reads data and writes output.

* Data root: ``data_dir=`` argument, else ``$SHOCKLAB_DATA_DIR``, else a per-user cache
  (``pooch.os_cache("shocklab")/market-data``) that online fetches fill. The layout is the one of
  the offline mirror (see ``shocklab.data.catalog``).
* Build root (generated output, git-ignored): ``$SHOCKLAB_BUILD_DIR``, else ``./build``.
* ``$SHOCKLAB_OFFLINE=1`` forbids any network access: a missing file is then an error that names
  the file and how to get it.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "SHOCKLAB_DATA_DIR"
BUILD_ENV = "SHOCKLAB_BUILD_DIR"
OFFLINE_ENV = "SHOCKLAB_OFFLINE"
LOCAL_CLUSTER = "local"
"""``scheduler`` value that starts a dask ``LocalCluster`` (runner and notebooks alike)."""


def data_root(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the market-data root: argument > ``$SHOCKLAB_DATA_DIR`` > user cache."""
    if data_dir is not None:
        return Path(data_dir).expanduser().resolve()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser().resolve()
    import pooch  # only for the default root: the command line starts without it

    return Path(pooch.os_cache("shocklab")) / "market-data"


def build_root(build_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder for generated output: argument > ``$SHOCKLAB_BUILD_DIR`` > ./build."""
    if build_dir is not None:
        return Path(build_dir).expanduser().resolve()
    return Path(os.environ.get(BUILD_ENV, "build")).expanduser().resolve()


def offline() -> bool:
    """True when ``$SHOCKLAB_OFFLINE`` forbids network access."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}

"""Aligned panels stored as zarr under ``build/cache``, keyed by what produced them.

The key hashes the panel's provenance: its loader request, the SHA-256 of every source file,
its variables, coordinates and the shocklab version, so a changed input file or a new release
never reuses a stale panel. Writes go to a private temporary folder first and are renamed into
place, which is atomic on POSIX: when two processes build the same panel, one rename wins, the
other discards its copy, and readers never see a half-written store.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

import xarray as xr

from shocklab import __version__
from shocklab.config import build_root


def cache_key(ds: xr.Dataset) -> str:
    """A stable hex key for a (lazy) dataset from its provenance, not its values."""
    coords = {
        name: [str(v) for v in ds[name].values]
        for name in sorted(map(str, ds.coords))
        if ds[name].dtype.kind in "OUS" or name in ("time", "asset")
    }
    payload = {
        "attrs": {k: str(v) for k, v in sorted(ds.attrs.items())},
        "coords": coords,
        "vars": {str(k): [str(ds[k].dtype), [str(d) for d in ds[k].dims]] for k in ds.data_vars},
        "sizes": {str(k): int(v) for k, v in ds.sizes.items()},
        "shocklab": __version__,
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def cache_path(ds: xr.Dataset, name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where :func:`cached` stores ``ds``."""
    folder = Path(cache_dir) if cache_dir is not None else build_root() / "cache"
    return folder / f"{name}-{cache_key(ds)}.zarr"


def _for_store(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` as the cache writes it: numeric variables in dask's target chunk size (128 MiB)
    rather than the loaders' one chunk per file, so that a daily panel reopens in a handful of
    reads; datetimes computed, so that xarray picks units that round-trip in any backend
    (chunked times would be stored as int64 nanoseconds, which netCDF3 cannot hold)."""
    times = {n: ds[n].compute() for n in ds.variables if ds[n].dtype.kind == "M"}
    out = ds.assign_coords({n: v for n, v in times.items() if n in ds.coords})
    return out.assign(
        {n: times[n] if n in times else ds[n].chunk("auto") for n in map(str, ds.data_vars)}
    )


def cached(
    ds: xr.Dataset, name: str = "panel", cache_dir: str | os.PathLike[str] | None = None
) -> xr.Dataset:
    """Materialise a lazy panel once and reopen it lazily from zarr afterwards.

    Returns the dataset opened from the store (dask-backed, chunked like ``ds``), with
    ``attrs['cache_path']`` and ``attrs['cache_key']`` added.
    """
    path = cache_path(ds, name, cache_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        try:
            _for_store(ds).to_zarr(tmp, mode="w", consolidated=True, zarr_format=2)
            try:
                tmp.rename(path)
            except OSError:  # another process finished first: theirs is identical by key
                if not path.exists():
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    out: xr.Dataset = xr.open_zarr(path, consolidated=True)
    lazy = [str(c) for c in out.coords if c not in out.indexes]
    if lazy:  # small per-asset / per-time labels: load them in one pass, not one per coord
        out = out.assign_coords(out.reset_coords(lazy)[lazy].compute().variables)
    out.attrs.update({"cache_path": str(path), "cache_key": path.stem.rsplit("-", 1)[-1]})
    return out

"""Aligned panels stored as zarr under ``build/cache``, keyed by what produced them.

Two entry points:

* :func:`cached_call` — ``cached_call(nyse_close_panel, symbols, start, end)``: keyed by the
  **request** (loader, arguments, data root, shocklab version). A hit reopens the store without
  building the lazy panel at all; the store records the size, mtime and SHA-256 of every file
  the loader read (``shocklab.data.readlog``: price files, funding, CoinGlass files, the
  manifest), and a hit re-checks them with one ``stat`` per file (a file whose size or mtime
  moved is re-hashed; changed content rebuilds the panel, a touched but identical file does
  not). A hit records those files as read, with the stored digests: they are the data the
  reopened panel holds.
* :func:`cached` — for a dataset already in hand: keyed by its provenance (loader request, the
  SHA-256 of every source file, variables, coordinates, shocklab version).

Writes go to a private temporary folder first and are renamed into place, which is atomic on
POSIX: when two processes build the same panel, one rename wins, the other discards its copy,
and readers never see a half-written store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dask
import xarray as xr
import zarr
from dask.utils import parse_bytes

from shocklab import __version__
from shocklab.config import build_root, data_root
from shocklab.data.catalog import path_sha256
from shocklab.data.errors import DataQualityWarning
from shocklab.data.readlog import FileRead, capture_reads, record_read


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
    return _folder(cache_dir) / f"{name}-{cache_key(ds)}.zarr"


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


def _write_store(
    ds: xr.Dataset, path: Path, late_attrs: Callable[[], dict[str, str]] | None = None
) -> None:
    """Write ``ds`` atomically to ``path``; a store already there is replaced as a whole.

    ``late_attrs`` adds attributes known only once the panel has been computed (before the
    store becomes visible)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    stale = path.parent / f".{path.name}.{uuid.uuid4().hex}.stale"
    try:
        _for_store(ds).to_zarr(tmp, mode="w", consolidated=True, zarr_format=2)
        if late_attrs is not None:
            zarr.open_group(tmp, mode="r+", zarr_format=2).attrs.update(late_attrs())
            zarr.consolidate_metadata(tmp, zarr_format=2)
        if path.exists():  # an outdated store: move it aside, then swap the new one in
            with contextlib.suppress(OSError):  # another process moved it first
                path.rename(stale)
        try:
            tmp.rename(path)
        except OSError:  # another process finished first: theirs is identical by key
            if not path.exists():
                raise
    finally:
        for leftover in (tmp, stale):
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)


def _open_store(path: Path, *, small_in_memory: bool = False) -> xr.Dataset:
    """Open a store lazily (dask); with ``small_in_memory``, a store below dask's chunk size
    is read straight into memory instead (no dask graph: a daily panel loads in ~20 ms)."""
    tags = {"cache_path": str(path), "cache_key": path.stem.rsplit("-", 1)[-1]}
    if small_in_memory:
        plain: xr.Dataset = xr.open_zarr(path, consolidated=True, chunks=None)
        if plain.nbytes <= parse_bytes(str(dask.config.get("array.chunk-size"))):
            return plain.load().assign_attrs(tags)
    out: xr.Dataset = xr.open_zarr(path, consolidated=True)
    lazy = [str(c) for c in out.coords if c not in out.indexes]
    if lazy:  # small per-asset / per-time labels: load them in one pass, not one per coord
        out = out.assign_coords(out.reset_coords(lazy)[lazy].compute().variables)
    return out.assign_attrs(tags)


def _folder(cache_dir: str | os.PathLike[str] | None) -> Path:
    return Path(cache_dir) if cache_dir is not None else build_root() / "cache"


def cached(
    ds: xr.Dataset, name: str = "panel", cache_dir: str | os.PathLike[str] | None = None
) -> xr.Dataset:
    """Materialise a lazy panel once and reopen it lazily from zarr afterwards.

    Returns the dataset opened from the store (dask-backed, chunked like ``ds``), with
    ``attrs['cache_path']`` and ``attrs['cache_key']`` added.
    """
    path = cache_path(ds, name, cache_dir)
    if not path.exists():
        _write_store(ds, path)
    return _open_store(path)


def request_key(
    loader: Callable[..., xr.Dataset], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str:
    """A stable hex key for a loader call: what was asked for, not what the files hold."""
    data_dir = kwargs.get("data_dir")
    payload = {
        "loader": f"{loader.__module__}.{loader.__qualname__}",
        "args": list(args),
        "kwargs": dict(sorted(kwargs.items())),
        "data_root": str(
            data_root(data_dir) if isinstance(data_dir, str | os.PathLike) else data_root()
        ),
        "shocklab": __version__,
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def _source_record(
    ds: xr.Dataset, read: dict[str, FileRead] | None = None
) -> dict[str, list[object]]:
    """``{relative path: [size, mtime_ns, sha256]}`` of the files behind ``ds``: those recorded
    as ``read`` while it was built, and those its ``source_file`` coordinate names."""
    root = Path(str(ds.attrs["data_root"])) if "data_root" in ds.attrs else None
    record: dict[str, list[object]] = {}
    for rel, f in (read or {}).items():
        path = Path(f["root"]) / rel  # an absolute ``rel`` (outside the root) stays absolute
        if root is not None and path.is_relative_to(root):
            path = path.relative_to(root)
        record[path.as_posix()] = [f["size"], f["mtime_ns"], f["sha256"]]
    if "source_file" not in ds.coords or root is None:
        return record
    for rel, digest in zip(ds["source_file"].values, ds["sha256"].values, strict=True):
        stat = (root / str(rel)).stat()
        record[str(rel)] = [stat.st_size, stat.st_mtime_ns, str(digest)]
    return record


def _sources_unchanged(ds: xr.Dataset) -> bool:
    """True if every recorded source file still has its recorded content."""
    record = json.loads(str(ds.attrs.get("source_record", "{}")))
    root = Path(str(ds.attrs.get("data_root", ".")))
    for rel, (size, mtime_ns, digest) in record.items():
        path = root / rel
        try:
            stat = path.stat()
        except OSError:
            return False
        if (stat.st_size, stat.st_mtime_ns) != (size, mtime_ns) and path_sha256(path) != digest:
            return False
    return True


def cached_call(
    loader: Callable[..., xr.Dataset],
    *args: Any,
    name: str = "panel",
    cache_dir: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> xr.Dataset:
    """``loader(*args, **kwargs)`` through the cache, keyed by the request.

    ``cached_call(nyse_close_panel, ["NVDA", "BTCUSDT"], "2025-01-02", "2025-01-31")`` builds
    and stores the panel on the first call. Later calls reopen the store without calling the
    loader, after one ``stat`` per source file; if a file's content changed (new size or mtime
    *and* a new SHA-256), the panel is rebuilt and the store replaced. Data-quality warnings
    raised while building are stored (``attrs['data_quality']``) and re-issued on every hit.
    Returns the dataset read from the store, with ``attrs['cache_path']`` and
    ``attrs['cache_key']``: in memory when it is smaller than dask's chunk size
    (``array.chunk-size``, 128 MiB by default; daily panels are), dask-backed and lazy otherwise.
    """
    path = _folder(cache_dir) / f"{name}-{request_key(loader, args, kwargs)}.zarr"
    if path.exists():
        try:
            hit = _open_store(path, small_in_memory=True)
        except (OSError, ValueError, KeyError):  # unreadable store: rebuild it
            hit = None
        if hit is not None and _sources_unchanged(hit):
            _record_sources(hit)
            _replay(hit)
            return hit
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataQualityWarning)
        with capture_reads() as read:
            ds = loader(*args, **kwargs)
        roots = {f["root"] for f in read.values()}
        if "data_root" not in ds.attrs and len(roots) == 1:  # e.g. liquidation_panel's attrs
            ds = ds.assign_attrs(data_root=roots.pop())
        ds = ds.assign_attrs(source_record=json.dumps(_source_record(ds, read), sort_keys=True))

        def quality() -> dict[str, str]:  # the readers warn while the panel is computed
            found = [str(w.message) for w in caught if issubclass(w.category, DataQualityWarning)]
            return {"data_quality": json.dumps(list(dict.fromkeys(found)))}

        _write_store(ds, path, quality)
        out = _open_store(path, small_in_memory=True)
    for w in caught:  # hand every warning on, data-quality ones included
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return out


def _record_sources(ds: xr.Dataset) -> None:
    """Record the files a reopened panel was built from as read (``shocklab.data.readlog``)."""
    record = json.loads(str(ds.attrs.get("source_record", "{}")))
    root = Path(str(ds.attrs.get("data_root", ".")))
    for rel, (_size, _mtime_ns, digest) in record.items():
        record_read(root / rel, root, sha256=str(digest))


def _replay(ds: xr.Dataset) -> None:
    """Re-issue the data-quality warnings recorded when the stored panel was built."""
    for message in json.loads(str(ds.attrs.get("data_quality", "[]"))):
        warnings.warn(
            f"{message} (recorded when the cached panel was built)",
            DataQualityWarning,
            stacklevel=3,
        )

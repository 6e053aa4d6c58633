"""Which data files were read, with which content: the provenance of every file a loader opens.

Loaders call :func:`record_read` for every file they resolve, in the **client** process, while
the lazy panel is built (dask tasks may run on remote workers; the client decides which files
they read). Each record keys the file by its path relative to the data root and stores its
SHA-256 (:func:`file_sha256`, cached per path, size and mtime) and size.

Records go to

* this process's registry: :func:`reads`;
* every :func:`capture_reads` block active in the calling context (``cached_call`` uses one to
  store the files a panel was built from);
* the JSON-lines file named by ``$SHOCKLAB_READ_LOG``, if set: one line per file and content,
  appended with a single ``os.write`` on a descriptor opened with ``O_APPEND``, so several
  processes (Jupyter kernels of one run) can share one log. :func:`read_log` sets the variable
  for a block (child processes started in it inherit it); :func:`load_read_log` collects the
  union afterwards::

      with read_log(out / "data_reads.jsonl") as log:
          ...  # start kernels, run notebooks
      files = load_read_log(log)  # {"crypto/binance/spot/1h/BTCUSDT.csv.gz": "<sha256>", ...}
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import json
import os
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict

from shocklab.config import data_root

READ_LOG_ENV = "SHOCKLAB_READ_LOG"
"""Environment variable naming the JSON-lines file that every process appends its reads to."""


class FileRead(TypedDict):
    """What was read: content hash, size and mtime (ns) when recorded, and the data root."""

    sha256: str
    size: int
    mtime_ns: int
    root: str


_lock = threading.Lock()
_reads: dict[str, FileRead] = {}
_logged: set[tuple[str, str, str]] = set()  # (log file, relpath, sha256) this process appended
_captures: contextvars.ContextVar[tuple[dict[str, FileRead], ...]] = contextvars.ContextVar(
    "shocklab_read_captures", default=()
)


def path_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, cached while its size and mtime are unchanged."""
    stat = path.stat()
    return file_sha256(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def file_sha256(path: Path, size: int, mtime_ns: int) -> str:
    """SHA-256 hex digest of a file; ``size``/``mtime_ns`` key the cache."""
    del size, mtime_ns
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _key(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` (POSIX), or its absolute path when it lies outside.

    Lexical, as ``Path.relative_to`` (a tenth of its cost: loaders call this once per file)."""
    text, base = str(path), str(root)
    prefix = base if base.endswith(os.sep) else base + os.sep
    if text.startswith(prefix) and len(text) > len(prefix):
        rel = text[len(prefix) :]
        return rel if os.sep == "/" else rel.replace(os.sep, "/")
    return path.absolute().as_posix()


def record_read(path: Path, root: Path | None = None, *, sha256: str | None = None) -> str:
    """Record that ``path`` (under the data ``root``, default :func:`~shocklab.config.data_root`)
    is read. Returns the key it is recorded under (the path relative to ``root``).

    ``sha256`` is a digest already known for the file's current content (the zarr cache passes
    the one it stored); otherwise the file is hashed (cached while its size and mtime hold).
    Raises :class:`OSError` if the file cannot be read.
    """
    root = data_root() if root is None else root
    stat = path.stat()
    digest = sha256 or file_sha256(path, stat.st_size, stat.st_mtime_ns)
    key = _key(path, root)
    entry = FileRead(sha256=digest, size=stat.st_size, mtime_ns=stat.st_mtime_ns, root=str(root))
    log = os.environ.get(READ_LOG_ENV, "")
    with _lock:
        _reads[key] = entry
        for capture in _captures.get():
            capture[key] = entry
        if not log or (log, key, digest) in _logged:
            return key
        _logged.add((log, key, digest))
    try:
        _append(Path(log), {"path": key, "pid": os.getpid(), **entry})
    except OSError:
        with _lock:
            _logged.discard((log, key, digest))
        raise
    return key


def _append(log: Path, record: dict[str, object]) -> None:
    """One line, one ``write`` on an ``O_APPEND`` descriptor: concurrent writers never interleave
    within a line."""
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, line)
    finally:
        os.close(fd)
    if written != len(line):  # a full disk; a short regular-file write is not otherwise expected
        msg = f"{log}: only {written} of {len(line)} bytes of a read record were written"
        raise OSError(msg)


def reads() -> dict[str, FileRead]:
    """Every file this process recorded: relative path -> :class:`FileRead` (sorted by path)."""
    with _lock:
        return {k: FileRead(**_reads[k]) for k in sorted(_reads)}


@contextlib.contextmanager
def capture_reads() -> Iterator[dict[str, FileRead]]:
    """The files recorded by this thread (context) inside the block, filled as they are read."""
    got: dict[str, FileRead] = {}
    token = _captures.set((*_captures.get(), got))
    try:
        yield got
    finally:
        _captures.reset(token)


@contextlib.contextmanager
def read_log(file: str | os.PathLike[str]) -> Iterator[Path]:
    """Log every read in this process, and in processes started inside the block, to ``file``.

    Starts ``file`` empty, sets ``$SHOCKLAB_READ_LOG`` to its absolute path for the block
    (children such as Jupyter kernels inherit it) and restores the previous value afterwards.
    Collect the result with :func:`load_read_log`. The variable is process-wide: run one such
    block per process at a time.
    """
    path = Path(file).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    previous = os.environ.get(READ_LOG_ENV)
    os.environ[READ_LOG_ENV] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(READ_LOG_ENV, None)
        else:
            os.environ[READ_LOG_ENV] = previous


def load_read_log(file: str | os.PathLike[str]) -> dict[str, str]:
    """Relative path -> SHA-256 of every file in a read log (deduplicated, sorted by path).

    A file recorded with two different contents (it changed while the run read it) keeps the
    later record and raises a :class:`RuntimeWarning` naming it; so does a line that is not a
    record (it is skipped). A missing log means nothing was read: ``{}``.
    """
    path = Path(file)
    if not path.is_file():
        return {}
    files: dict[str, str] = {}
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key, digest = str(record["path"]), str(record["sha256"])
            except (ValueError, KeyError, TypeError):
                warnings.warn(
                    f"{path}:{number}: not a read record, skipped: {line.strip()[:80]!r}",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            if files.get(key, digest) != digest:
                warnings.warn(
                    f"{path}: {key} was read with two different contents ({files[key][:12]} "
                    f"and {digest[:12]}); the later one is kept. Did the file change during "
                    "the run?",
                    RuntimeWarning,
                    stacklevel=2,
                )
            files[key] = digest
    return dict(sorted(files.items()))

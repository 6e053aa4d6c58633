"""One way to replace a file so that no reader ever sees half of it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path


def replace_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """``write(tmp)`` to a temporary file beside ``path``, then move it into place with
    ``os.replace``. A failure while writing (a full disk, an exception, a killed process before
    the rename) leaves the previous file whole; the temporary file is removed on an exception."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path

"""What online fetches found, per file of the layout: ``<root>/_downloads/ledger.json``.

- ``spans``: the first and last bar a fetch left in a file. The catalog trusts this span over
  the mirror's ``manifest.csv`` (which does not know about later fetches), so a series that a
  fetch extended is seen as extended by the coverage authority.
- ``empty``: request spans for which the upstream answered "no data" (a symbol before its
  listing, a venue that does not carry it). They are never written as header-only files (which
  would look like "the file" to every later call); a later request inside a recorded empty
  span is answered without asking again, a request outside it fetches.

The file is small JSON, rewritten atomically (temporary file + rename).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from shocklab.data.atomic import replace_atomically

LEDGER = "_downloads/ledger.json"


def _path(root: Path) -> Path:
    return root / LEDGER


def load(root: Path) -> dict[str, dict[str, Any]]:
    """The ledger of ``root`` (empty sections when there is none or it is unreadable)."""
    path = _path(root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"spans": {}, "empty": {}}
    return {"spans": dict(data.get("spans", {})), "empty": dict(data.get("empty", {}))}


def _save(root: Path, data: dict[str, dict[str, Any]]) -> None:
    text = json.dumps(data, indent=1, sort_keys=True)
    replace_atomically(_path(root), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _iso(stamp: pd.Timestamp) -> str:
    return pd.Timestamp(stamp).strftime("%Y-%m-%dT%H:%M:%S")


def record_span(root: Path, relpath: str, first: pd.Timestamp, last: pd.Timestamp) -> None:
    """A fetch left bars ``first`` .. ``last`` (labels, naive UTC) in ``relpath``."""
    data = load(root)
    data["spans"][relpath] = [_iso(first), _iso(last)]
    _save(root, data)


def span(root: Path, relpath: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The span a fetch recorded for ``relpath``, if any."""
    got = load(root)["spans"].get(relpath)
    if not got or len(got) != 2:
        return None
    return pd.Timestamp(str(got[0])), pd.Timestamp(str(got[1]))


def record_empty(root: Path, relpath: str, start: pd.Timestamp, end: pd.Timestamp) -> None:
    """The upstream had no data for ``relpath`` in ``[start, end)``."""
    data = load(root)
    spans = list(data["empty"].get(relpath, []))
    spans.append([_iso(start), _iso(end)])
    data["empty"][relpath] = spans
    _save(root, data)


def known_empty(root: Path, relpath: str, start: pd.Timestamp, end: pd.Timestamp) -> bool:
    """True when ``[start, end)`` lies inside a span recorded as empty for ``relpath``."""
    for lo, hi in load(root)["empty"].get(relpath, []):
        if pd.Timestamp(str(lo)) <= start and end <= pd.Timestamp(str(hi)):
            return True
    return False

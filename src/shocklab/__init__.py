"""shocklab: how a market shock propagates across tech stocks and crypto.

Layers (each imports only those before it): ``shocklab.data`` (fetch -> sources -> loaders ->
calendar alignment) -> ``shocklab.models`` -> ``shocklab.plots`` -> ``shocklab.runner``.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """``__version__`` on first use: importlib.metadata costs ~0.1 s that ``shocklab --help``
    and a pre-flight check need not pay (PEP 562)."""
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("shocklab")
        except PackageNotFoundError:  # pragma: no cover - a source tree without install
            value = "0+unknown"
        globals()[name] = value
        return value
    msg = f"module 'shocklab' has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = ["__version__"]

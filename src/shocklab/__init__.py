"""shocklab: how a market shock propagates across tech stocks and crypto.

Layers (each imports only those before it): ``shocklab.data`` (fetch -> sources -> loaders ->
calendar alignment) -> ``shocklab.models`` -> ``shocklab.plots`` -> ``shocklab.runner``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("shocklab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__"]

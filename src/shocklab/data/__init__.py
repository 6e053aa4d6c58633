"""Data layer: fetch (network, cache, checksums) -> sources (one upstream format each) ->
loaders (files -> lazy ``xr.Dataset``) -> calendar alignment -> zarr cache.

Typical use::

    from shocklab.data import nyse_close_panel, returns
    panel = nyse_close_panel(["NVDA", "QQQ", "BTCUSDT"], "2024-01-02", "2025-02-28")
    r = returns(panel, "log")          # lazy (time, asset); Monday's crypto return spans Fri->Mon
"""

from typing import TYPE_CHECKING, Any

from shocklab.data.errors import (
    ChecksumError,
    CoverageError,
    DataFileError,
    DataQualityWarning,
    FetchError,
    NonTradingDayError,
    ShocklabDataError,
    UnknownSymbolError,
)

if TYPE_CHECKING:
    from shocklab.data.align import hourly_panel, nyse_close_panel, returns, sample_at
    from shocklab.data.cache import cached, cached_call
    from shocklab.data.derivatives import liquidation_panel
    from shocklab.data.loaders import (
        open_funding,
        open_liquidations,
        open_open_interest,
        open_prices,
    )

# the loaders pull in dask and xarray: import them when first used, so that the catalog,
# the calendar and the errors (what a pre-flight check needs) stay light (PEP 562)
_LAZY = {
    "hourly_panel": "align",
    "nyse_close_panel": "align",
    "returns": "align",
    "sample_at": "align",
    "cached": "cache",
    "cached_call": "cache",
    "liquidation_panel": "derivatives",
    "open_funding": "loaders",
    "open_liquidations": "loaders",
    "open_open_interest": "loaders",
    "open_prices": "loaders",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"shocklab.data.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    msg = f"module 'shocklab.data' has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
    "ChecksumError",
    "CoverageError",
    "DataFileError",
    "DataQualityWarning",
    "FetchError",
    "NonTradingDayError",
    "ShocklabDataError",
    "UnknownSymbolError",
    "cached",
    "cached_call",
    "hourly_panel",
    "liquidation_panel",
    "nyse_close_panel",
    "open_funding",
    "open_liquidations",
    "open_open_interest",
    "open_prices",
    "returns",
    "sample_at",
]

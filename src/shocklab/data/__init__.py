"""Data layer: fetch (network, cache, checksums) -> sources (one upstream format each) ->
loaders (files -> lazy ``xr.Dataset``) -> calendar alignment -> zarr cache.

Typical use::

    from shocklab.data import nyse_close_panel, returns
    panel = nyse_close_panel(["NVDA", "QQQ", "BTCUSDT"], "2024-01-02", "2025-02-28")
    r = returns(panel, "log")          # lazy (time, asset); Monday's crypto return spans Fri->Mon
"""

from shocklab.data.align import hourly_panel, nyse_close_panel, returns, sample_at
from shocklab.data.cache import cached, cached_call
from shocklab.data.derivatives import liquidation_panel
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
from shocklab.data.loaders import (
    open_funding,
    open_liquidations,
    open_open_interest,
    open_prices,
)

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

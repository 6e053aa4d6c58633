"""Econometric models: numpy kernels wrapped for ``(time, asset)`` xarray panels.

- :func:`event_study` -- abnormal returns, CAR/BHAR and every standard test (see
  ``docs/methods/event_study.md``);
- :func:`car_regression` -- cross-sectional regression of CARs on asset characteristics;
- :mod:`shocklab.models.liquidation` -- liquidation elasticities (OLS/HAC, panel FE with
  Driscoll-Kraay, IV), reverse elasticity, local projections, VAR feedback and attribution.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shocklab.models.event_study import (
        ConfoundingEventWarning,
        EventStudyResult,
        car_regression,
        equal_weight_index,
        event_study,
    )

# the estimators pull in statsmodels, scipy and xarray: import them when first used, so that
# ``import shocklab.models.correlation`` (or the package itself) pays only for what it uses
_LAZY = dict.fromkeys(
    (
        "ConfoundingEventWarning",
        "EventStudyResult",
        "car_regression",
        "equal_weight_index",
        "event_study",
    ),
    "event_study",
)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"shocklab.models.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    msg = f"module 'shocklab.models' has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
    "ConfoundingEventWarning",
    "EventStudyResult",
    "car_regression",
    "equal_weight_index",
    "event_study",
]

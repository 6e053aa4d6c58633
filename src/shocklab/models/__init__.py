"""Econometric models: numpy kernels wrapped for ``(time, asset)`` xarray panels.

- :func:`event_study` -- abnormal returns, CAR/BHAR and every standard test (see
  ``docs/methods/event_study.md``);
- :func:`car_regression` -- cross-sectional regression of CARs on asset characteristics;
- :mod:`shocklab.models.liquidation` -- liquidation elasticities (OLS/HAC, panel FE with
  Driscoll-Kraay, IV), reverse elasticity, local projections, VAR feedback and attribution.
"""

from shocklab.models.event_study import (
    ConfoundingEventWarning,
    EventStudyResult,
    car_regression,
    equal_weight_index,
    event_study,
)

__all__ = [
    "ConfoundingEventWarning",
    "EventStudyResult",
    "car_regression",
    "equal_weight_index",
    "event_study",
]

"""Liquidation elasticity and cascades (notebook 30): the daily panel around the event's UTC
day (coverage from the catalog: CoinGlass liquidations and open interest overlapped with
Binance daily prices), and the headline built from the estimates."""

from __future__ import annotations

from typing import Any

import pandas as pd
import xarray as xr

from shocklab.data import CoverageError
from shocklab.data.catalog import DERIVATIVE_FILES
from shocklab.data.derivatives import liquidation_panel
from shocklab.formatting import format_p
from shocklab.studies.preflight import liquidation_day_coverage
from shocklab.studies.run import RunContext
from shocklab.universe import load_universe


def coverage(ctx: RunContext) -> pd.DataFrame:
    """Per asset: liquidation, open-interest and price spans, their overlap, and whether the
    overlap contains the event's UTC day (``reason`` empty when it does)."""
    return liquidation_day_coverage(ctx.day0, ctx.catalog)


def liquidation_data(ctx: RunContext, after_days: int = 60) -> xr.Dataset:
    """The daily CoinGlass/Binance panel from the data's start to ``after_days`` days after the
    event's UTC day (or the data's end); a clear error when no asset covers that day."""
    table = coverage(ctx)
    usable = table[table["reason"] == ""]
    day = ctx.day0.utc_day
    if usable.empty:
        why = "; ".join(f"{a}: {r}" for a, r in table["reason"].items()) or (
            f"{DERIVATIVE_FILES['liquidations']} is not in the data root"
        )
        msg = (
            f"no asset has liquidations, open interest and daily prices on the event's UTC day "
            f"({day.date()}) in {ctx.catalog.root}: {why}. Pick a moment inside that coverage, "
            "or fetch CoinGlass history (shocklab.data.fetch.fetch_coinglass_liquidations, "
            "needs COINGLASS_API_KEY) and Binance daily klines"
        )
        raise CoverageError(msg)
    end = min(day + pd.Timedelta(days=after_days), usable["last"].max())
    return liquidation_panel(
        start=str(usable["first"].min().date()), end=str(end.date()), data_dir=ctx.data_dir
    )


def elasticities(panel: xr.Dataset) -> Any:
    """Per-asset elasticity of returns to liquidations (HAC)."""
    from shocklab.models import liquidation

    return liquidation.elasticity(panel)


def pooled_elasticity(panel: xr.Dataset) -> Any:
    """Pooled elasticity with asset fixed effects and Driscoll-Kraay errors."""
    from shocklab.models import liquidation

    return liquidation.panel_elasticity(panel)


def iv_elasticity(panel: xr.Dataset) -> Any:
    """2SLS elasticity (previous-day and cross-asset instruments) with first-stage F."""
    from shocklab.models import liquidation

    return liquidation.iv_elasticity(panel)


def reverse_elasticity(panel: xr.Dataset) -> Any:
    """Liquidations (% of open interest) for a given move."""
    from shocklab.models import liquidation

    return liquidation.reverse_elasticity(panel)


def feedback(panel: xr.Dataset) -> Any:
    """The liquidation-return VAR of the chart asset (:func:`chart_asset`)."""
    from shocklab.models import liquidation

    return liquidation.var_feedback(panel.sel(asset=chart_asset()).to_dataframe())


def attribution(ctx: RunContext, panel: xr.Dataset) -> pd.DataFrame:
    """Observed vs predicted liquidations on the event's UTC day, per asset."""
    from shocklab.models import liquidation

    return liquidation.attribute_event(panel, ctx.day0.utc_day.date().isoformat())


def chart_asset() -> str:
    """The base asset of the liquidation chart and the feedback VAR (``report`` in the
    universe file)."""
    return load_universe().report.liquidation_asset


def dates_around(ctx: RunContext, before: int, after: int) -> tuple[str, str]:
    """ISO dates ``before`` days before and ``after`` days after the event's UTC day."""
    day = ctx.day0.utc_day
    return (
        (day - pd.Timedelta(days=before)).date().isoformat(),
        (day + pd.Timedelta(days=after)).date().isoformat(),
    )


def liquidation_headline(
    ctx: RunContext, panel_fit: Any, attribution: pd.DataFrame, feedback: Any
) -> str:
    """Markdown paragraph with the pooled elasticity, the event's excess liquidations and the
    VAR feedback share -- every number read from the estimates."""
    coef, se, p = (
        panel_fit.params["long"],
        panel_fit.std_errors["long"],
        panel_fit.pvalues["long"],
    )
    worst_asset = str(attribution["excess"].idxmax())
    worst = attribution.loc[worst_asset]
    beyond = attribution[~attribution["within_noise"].astype(bool)]
    noise = (
        "within the day's noise (its 95 % prediction interval covers the observation)"
        if bool(worst["within_noise"])
        else "beyond the day's noise (above its 95 % prediction interval)"
    )
    bands = feedback.conf_int(0.90)
    share, mult = feedback.params["feedback_share"], feedback.params["multiplier"]
    share_ci, mult_ci = bands.loc["feedback_share"], bands.loc["multiplier"]
    asset = chart_asset()
    return (
        f"Pooled elasticity (asset fixed effects, Driscoll-Kraay): {coef:+.1f} bp per 1 % "
        f"of open interest liquidated (se {se:.1f}, p {format_p(p)}). On the UTC day "
        f"{ctx.day0.utc_day.date()}, {worst_asset} saw the largest excess "
        f"long liquidations over what its return predicts: {worst['excess']:+.3f} % of OI "
        f"(observed {worst['observed']:.3f}, predicted {worst['predicted']:.3f}, 95 % "
        f"prediction interval {worst['pred_lo']:.3f}-{worst['pred_hi']:.3f}): {noise}; "
        f"{len(beyond)} of {len(attribution)} assets are beyond theirs. {asset}'s VAR amplification multiplier is {mult:.2f} "
        f"(90 %: {mult_ci['lower']:.2f}-{mult_ci['upper']:.2f}); the feedback loop accounts for "
        f"{share * 100:.1f} % of the cumulative move (90 %: "
        f"{share_ci['lower'] * 100:.1f} to {share_ci['upper'] * 100:.1f} %)."
    )

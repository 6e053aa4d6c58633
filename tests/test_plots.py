"""Every figure reads at a glance: the properties each plot must have, checked on the drawn axes.

- y-limits set by the estimates, not by a band (a wide band is clipped);
- legends outside the axes (they never cover data);
- an event marker on every time axis;
- a unit on every response axis; titles that say what they show.
"""

from __future__ import annotations

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.axes import Axes

from shocklab.models import event_study
from shocklab.models import liquidation as liq
from shocklab.models.breaks import structural_breaks
from shocklab.models.markov import fit_markov
from shocklab.models.simulate import simulate_market_model_panel, simulate_switching_regression
from shocklab.plots import (
    plot_breaks,
    plot_car_paths,
    plot_correlation_paths,
    plot_dcc_paths,
    plot_elasticities,
    plot_irf,
    plot_liquidations,
    plot_price_paths,
    plot_regimes_zoom,
    plot_test_table,
)


@pytest.fixture(autouse=True)
def _close() -> None:
    yield
    plt.close("all")


def legend_outside(ax: Axes) -> bool:
    ax.figure.canvas.draw()
    legend = ax.get_legend()
    assert legend is not None
    box, frame = legend.get_window_extent(), ax.get_window_extent()
    return bool(box.x0 >= frame.x1 - 1 or box.y0 >= frame.y1 - 1 or box.x1 <= frame.x0 + 1)


def has_marker(ax: Axes, when: object) -> bool:
    x = mdates.date2num(pd.Timestamp(when)) if not isinstance(when, int | float) else when
    for line in ax.get_lines():
        xs = np.asarray(line.get_xdata(), dtype=object)
        if xs.size == 2:
            vals = [mdates.date2num(v) if not isinstance(v, int | float) else v for v in xs]
            if vals[0] == vals[1] == pytest.approx(x):
                return True
    return False


def test_car_paths_scale_comes_from_the_estimates_not_a_wide_band() -> None:
    # five noisy assets: the group's cross-sectional band is far wider than its CAAR path
    panel = simulate_market_model_panel(1, 5, 300, effect=-0.02, event_at=280, seed=3)
    panel[:, 0] = panel[:, 0] * 6.0  # one asset with six times the volatility
    res = event_study(
        panel, panel["time"].values[280], market="MKT", estimation=200, window=(-3, 5)
    )
    _, ax = plt.subplots()
    plot_car_paths(res, assets=["g0_1"], groups=["all"], ax=ax)
    band = res.conf_int(what="caar_path").xs("all", level="group") * 100
    lines = np.concatenate(
        [np.asarray(l.get_ydata(), float) for l in ax.get_lines() if np.size(l.get_ydata()) > 2]
    )
    lo, hi = ax.get_ylim()
    assert lo <= np.nanmin(lines)
    assert np.nanmax(lines) <= hi
    span = np.nanmax(lines) - np.nanmin(lines)
    assert hi - lo <= span * 1.2 + 1e-9  # 8 % padding each side, no more
    assert (band["upper"].max() > hi) or (band["lower"].min() < lo)  # the band is clipped
    assert legend_outside(ax)
    assert has_marker(ax, 0)


def test_test_table_never_prints_p_as_zero() -> None:
    panel = simulate_market_model_panel(1, 8, 300, effect=-0.05, event_at=280, seed=4)
    res = event_study(
        panel, panel["time"].values[280], market="MKT", estimation=200, window=(-2, 2)
    )
    _, ax = plt.subplots()
    plot_test_table(res, ax=ax)
    texts = [c.get_text().get_text() for c in ax.tables[0].get_celld().values()]
    assert not any("(0.000)" in t for t in texts)
    assert any("< 0.0001" in t for t in texts)


def _corr_ds(n: int = 200) -> xr.Dataset:
    time = pd.date_range("2024-01-01", periods=n, freq="D")
    pairs = ["A~Q", "B~Q", "C~Q"]
    rng = np.random.default_rng(0)
    corr = np.clip(0.3 + 0.1 * rng.standard_normal((n, 3)).cumsum(axis=0) / 10, -0.9, 0.9)
    return xr.Dataset(
        {
            "corr": (("time", "pair"), corr),
            "lo": (("time", "pair"), corr - 0.1),
            "hi": (("time", "pair"), corr + 0.1),
        },
        coords={"time": time, "pair": pairs},
        attrs={"method": "rolling", "window": 60},
    )


def test_correlation_and_dcc_paths_legend_outside_with_event_marker() -> None:
    ds = _corr_ds()
    event = ds["time"].values[150]
    _, ax = plt.subplots()
    plot_correlation_paths(ds, event=event, ax=ax)
    assert legend_outside(ax)
    assert has_marker(ax, event)
    _, ax = plt.subplots()
    plot_dcc_paths(ds["corr"], event=event, ax=ax)
    assert legend_outside(ax)
    assert has_marker(ax, event)
    drawn = ax.get_lines()[:3]  # A~Q, B~Q, C~Q: one colour per crypto asset, one style per partner
    assert len({line.get_color() for line in drawn}) == 3
    assert len({line.get_linestyle() for line in drawn}) == 1


def test_regime_figure_zooms_on_the_event_beside_the_full_history() -> None:
    data, _ = simulate_switching_regression(600, seed=3)
    data.index = pd.bdate_range("2021-01-04", periods=len(data))
    fit = fit_markov(data["y"], data["x"], restarts=1)
    event = data.index[400]
    fig = plot_regimes_zoom(fit, event, around=30)
    full, zoom = fig.axes[:2]
    assert has_marker(full, event)
    assert has_marker(zoom, event)
    lo, hi = (mdates.num2date(v).replace(tzinfo=None) for v in zoom.get_xlim())
    assert data.index[370] <= pd.Timestamp(lo)
    assert pd.Timestamp(hi) <= data.index[430]
    assert "either side of the event" in zoom.get_title()
    assert legend_outside(zoom)


def test_breaks_title_says_how_many_breaks() -> None:
    rng = np.random.default_rng(4)
    x = pd.Series(rng.normal(size=300), index=pd.bdate_range("2022-01-03", periods=300))
    y = pd.Series(0.5 * x.to_numpy() + rng.normal(0, 0.5, 300), index=x.index)
    fit = structural_breaks(y, x, max_breaks=2)
    _, ax = plt.subplots()
    plot_breaks(y.rolling(20).mean(), fit, event=x.index[200], ax=ax)
    title = ax.get_title()
    assert f"{fit.n_breaks} break" in title
    assert "BIC: " not in title
    assert has_marker(ax, x.index[200])
    assert legend_outside(ax)


def _liq_panel() -> xr.Dataset:
    rng = np.random.default_rng(5)
    days = pd.date_range("2023-01-01", periods=300, freq="D")
    ret = 0.03 * rng.standard_t(3, (300, 2))
    long = rng.gamma(2.0, 0.001, (300, 2))
    short = rng.gamma(2.0, 0.0005, (300, 2))
    return xr.Dataset(
        {
            "ret": (("time", "asset"), ret),
            "long_share": (("time", "asset"), long),
            "short_share": (("time", "asset"), short),
            "long_usd": (("time", "asset"), long * 1e10),
            "short_usd": (("time", "asset"), short * 1e10),
        },
        coords={"time": days, "asset": ["BTC", "ETH"]},
    )


def test_liquidation_figures_mark_the_event_and_state_units() -> None:
    panel = _liq_panel()
    event = pd.Timestamp("2023-06-15")
    _, ax = plt.subplots()
    plot_liquidations(panel, "BTC", "2023-06-01", "2023-06-30", event=event, ax=ax)
    assert has_marker(ax, event)
    assert "M USD" in ax.get_ylabel()
    assert legend_outside(ax)
    _, ax = plt.subplots()
    plot_elasticities(liq.elasticity(panel), ax=ax)
    assert "bp per" in ax.get_ylabel()
    assert legend_outside(ax)
    var = liq.var_feedback(panel.sel(asset="BTC").to_dataframe(), draws=50, horizon=5)
    _, ax = plt.subplots()
    plot_irf(var, ax=ax)
    assert "log return" in ax.get_ylabel()
    assert has_marker(ax, 0)
    assert legend_outside(ax)


def test_price_paths_mark_day_zero_with_legend_outside() -> None:
    time = pd.date_range("2025-01-20", periods=10, freq="D")
    prices = pd.DataFrame(
        {"A": np.linspace(100, 90, 10), "B": np.linspace(100, 95, 10)}, index=time
    )
    _, ax = plt.subplots()
    plot_price_paths(prices, event=time[5], ax=ax)
    assert has_marker(ax, time[5])
    assert legend_outside(ax)

# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10 · Event study: abnormal returns, groups and tests
#
# Daily: market model on NYSE-close-synchronous log returns (equities against QQQ, crypto
# against the equal-weighted majors index, as `research/universe.yaml` says). Hourly: constant
# mean on UTC hourly returns, so the common crypto crash stays visible. Every asset shares the
# event date, so read the Kolari–Pynnönen-adjusted BMP, GRANK and Brown–Warner columns; formulas
# in `docs/methods/event_study.md`.

# %% tags=["parameters"]
event = "deepseek-2025-01-27"  # registry id (research/events.yaml), ISO date or UTC moment
data_dir = ""  # empty: $SHOCKLAB_DATA_DIR, else the download cache
output_dir = "build/runs/deepseek-2025-01-27"  # must lie inside build/
scheduler = ""  # dask.distributed scheduler address; empty: local threads
non_trading = "next"  # daily day 0 when the moment has no session of its own: next|previous|error

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown

from shocklab.formatting import show_table
from shocklab.plots import plot_car_paths, plot_test_table
from shocklab.studies import event as study
from shocklab.studies import summary
from shocklab.studies.run import save_result, save_table, setup, show_figure
from shocklab.universe import load_universe

ctx = setup(event, output_dir, scheduler, non_trading, data_dir or None)
report = load_universe().report
Markdown(ctx.header() + f"\n\nWindows: {ctx.spec.windows}")

# %% [markdown]
# ## Daily study
#
# Day 0 is the NYSE session stated above. An asset whose file does not cover day 0 is left out
# before the study; an asset without an abnormal return on every bar of the event window gets a
# status that says why (never `ok`). The headline counts both.

# %%
selection = study.select_assets(ctx, "daily")
prices = study.daily_prices(ctx, selection)
daily = study.daily_event_study(ctx, prices)
save_result(daily, ctx.out, "event_study_daily")
Markdown(study.headline(daily, ctx, selection))

# %% [markdown]
# ### What happened: raw moves of the key assets
#
# The first two members of every group (as listed in `research/universe.yaml`) that have a
# day-0 return: the day-0 return (session close to close, simple) and the fall from the last
# price before the event moment to the lowest low after it, from the finest bars in the data
# root (5-minute, else hourly within 24 h of the moment, else day 0's session low).

# %%
moves = summary.raw_moves(ctx, daily)
save_table(moves, ctx.out, "raw_moves")
show_table(moves)

# %% [markdown]
# ### Every asset: return, benchmark return and abnormal return on day 0
#
# Returns are simple (%); the abnormal return (AR) is in log points, against the benchmark in
# `market`. p-values: raw, and adjusted across the usable assets (Holm, Benjamini–Hochberg).

# %%
save_table(daily.asset_table(), ctx.out, "assets_daily")
show_table(daily.asset_table())

# %% [markdown]
# ### Two views of crypto: against crypto, against tech
#
# The study above measures crypto against the other majors (no asset against an index that
# contains it): that benchmark absorbs the common crypto shock, so it asks which coins fell
# *more than crypto did*. Against QQQ, the benchmark absorbs only what crypto's beta to tech
# predicts, so a shock that hit tech and spilled into crypto shows up in the AR. Returns are
# simple, ARs in log points.

# %%
views = study.crypto_views(ctx, prices, daily)
save_table(views, ctx.out, "crypto_views_daily")
show_table(views) if not views.empty else Markdown(views.attrs["note"])

# %%
save_table(daily.group_table(), ctx.out, "groups_daily")
summary.save_facts(
    ctx.out,
    "event",
    [
        *summary.move_facts(moves, "results/raw_moves.csv"),
        *summary.event_facts(daily, "results/groups_daily.csv", "results/assets_daily.csv"),
    ],
    {"Raw moves of the key assets": ("results/raw_moves.csv", moves)},
)
show_table(daily.group_table())

# %%
save_table(study.left_out(selection, daily), ctx.out, "left_out_daily")
show_table(study.left_out(selection, daily))

# %%
fig, ax = plt.subplots(figsize=(9, 5), layout="constrained")
plot_car_paths(
    daily, groups=[g for g in report.daily_car_groups if g in daily.dataset["group"].values], ax=ax
)
show_figure(fig, ctx.out, "car_paths_daily")

# %%
fig, ax = plt.subplots(figsize=(12, 5), layout="constrained")
plot_test_table(daily, group="all", ax=ax)
show_figure(fig, ctx.out, "tests_daily")

# %% [markdown]
# ## Hourly study (UTC)
#
# Day 0 is the UTC hour bar that contains the event moment.

# %%
hourly_selection = study.select_assets(ctx, "hourly")
hourly_prices = study.hourly_prices(ctx, hourly_selection)
hourly = study.hourly_event_study(ctx, hourly_prices)
save_result(hourly, ctx.out, "event_study_hourly")
Markdown(
    study.headline(
        hourly, ctx, hourly_selection, horizon=f"CAR(+0,{ctx.spec.windows.hourly_event[1]:+d})"
    )
)

# %%
fig, ax = plt.subplots(figsize=(9, 5), layout="constrained")
plot_car_paths(
    hourly,
    assets=[a for a in report.hourly_car_assets if a in hourly.dataset["asset"].values],
    groups=["all"],
    ax=ax,
)
show_figure(fig, ctx.out, "car_paths_hourly")

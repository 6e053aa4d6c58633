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
# # 00 · Data overview around the event
#
# Which assets have data around the event, where the gaps are, and how prices moved. Run it for
# any event with `shocklab run --event <id, date or UTC moment>`; papermill fills the parameters
# below. The first output states how the event moment maps to day 0 on each calendar: a moment
# after the NYSE close, on a weekend or on a holiday falls on the next session of the daily
# study (`non_trading`).

# %% tags=["parameters"]
event = "deepseek-2025-01-27"  # registry id (research/events.yaml), ISO date or UTC moment
data_dir = ""  # empty: $SHOCKLAB_DATA_DIR, else the download cache
output_dir = "build/runs/deepseek-2025-01-27"  # must lie inside build/
scheduler = ""  # dask.distributed scheduler address; empty: local threads
non_trading = "next"  # daily day 0 when the moment has no session of its own: next|previous|error

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown

from shocklab.plots import plot_price_paths
from shocklab.studies import event as study
from shocklab.studies.run import save_table, setup, show_figure

ctx = setup(event, output_dir, scheduler, non_trading, data_dir or None)
Markdown(ctx.header())

# %% [markdown]
# ## Assets with data at day 0
#
# The catalog decides which file feeds each asset and what it covers (the manifest, or the file
# itself when the manifest has no usable row); the table lists every asset of the event's groups,
# with its file, its span, why it was left out, and its samples in the panel.

# %%
selection = study.select_assets(ctx, "daily")
Markdown(study.selection_note(selection))

# %%
prices = study.daily_prices(ctx, selection)
coverage = study.coverage(selection, prices)
save_table(coverage, ctx.out, "coverage_daily")
coverage

# %% [markdown]
# ## Prices around the event (NYSE closes; crypto sampled at the close)

# %%
rebased = study.normalised_prices(prices, ctx.day0_label("daily"), before=10, after=10)
fig, ax = plt.subplots(figsize=(9, 5), layout="constrained")
plot_price_paths(
    rebased,
    dict(zip(prices["asset"].values, prices["group"].values, strict=True)),
    title=f"{ctx.spec.id}: group means, 100 = session before day 0",
    event=ctx.day0_label("daily"),
    ax=ax,
)
show_figure(fig, ctx.out, "price_paths_daily")

# %% [markdown]
# ## Hourly prices (UTC) of the crypto assets

# %%
hourly_selection = study.select_assets(ctx, "hourly")
Markdown(study.selection_note(hourly_selection))

# %%
hourly = study.hourly_prices(ctx, hourly_selection)
rebased_hourly = study.normalised_prices(hourly, ctx.day0_label("hourly"), before=24, after=30)
fig, ax = plt.subplots(figsize=(9, 5), layout="constrained")
plot_price_paths(
    rebased_hourly,
    title=f"{ctx.spec.id}: hourly closes, 100 = hour before day 0",
    event=ctx.day0_label("hourly"),
    ax=ax,
)
show_figure(fig, ctx.out, "price_paths_hourly")

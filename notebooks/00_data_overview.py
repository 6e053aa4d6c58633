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
# any event with `shocklab run --event <id or date>`; papermill fills the parameters below.

# %% tags=["parameters"]
event = "deepseek-2025-01-27"  # registry id (research/events.yaml) or any ISO date
data_dir = ""  # empty: $SHOCKLAB_DATA_DIR, else the download cache
output_dir = "build/runs/deepseek-2025-01-27"  # must lie inside build/
scheduler = ""  # dask.distributed scheduler address; empty: local threads

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown

from shocklab import study
from shocklab.plots import plot_price_paths

spec, out, client = study.setup(event, output_dir, scheduler)
Markdown(f"**{spec.label}** — {spec.date.isoformat()}: {spec.description}")

# %% [markdown]
# ## Assets with data on the event date

# %%
selection = study.select_assets(spec, "daily", data_dir or None)
Markdown(
    f"{len(selection.symbols)} assets have data on {spec.date}; left out: "
    + (", ".join(f"{s} ({why})" for s, why in selection.skipped.items()) or "none")
)

# %%
prices = study.daily_prices(spec, selection, data_dir or None)
coverage = study.coverage_table(prices)
study.save_table(coverage, out, "coverage_daily")
coverage

# %% [markdown]
# ## Prices around the event (NYSE closes; crypto sampled at the close)

# %%
rebased = study.normalised_prices(prices, spec.date, before=10, after=10)
fig, ax = plt.subplots(figsize=(9, 5), layout="constrained")
plot_price_paths(rebased, dict(zip(prices["asset"].values, prices["group"].values)), title=f"{spec.id}: group means", ax=ax)
study.show_figure(fig, out, "price_paths_daily")

# %% [markdown]
# ## Hourly prices (UTC) of the crypto assets

# %%
hourly_selection = study.select_assets(spec, "hourly", data_dir or None)
hourly = study.hourly_prices(spec, hourly_selection, data_dir or None)
rebased_hourly = study.normalised_prices(hourly, spec.hourly_start.replace(tzinfo=None), before=24, after=30)
fig, ax = plt.subplots(figsize=(9, 5), layout="constrained")
plot_price_paths(rebased_hourly, title=f"{spec.id}: hourly closes, 100 = hour before day 0", ax=ax)
study.show_figure(fig, out, "price_paths_hourly")

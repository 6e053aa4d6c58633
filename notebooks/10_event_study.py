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
event = "deepseek-2025-01-27"  # registry id (research/events.yaml) or any ISO date
data_dir = ""  # empty: $SHOCKLAB_DATA_DIR, else the download cache
output_dir = "build/runs/deepseek-2025-01-27"  # must lie inside build/
scheduler = ""  # dask.distributed scheduler address; empty: local threads

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown

from shocklab import study
from shocklab.plots import plot_car_paths, plot_test_table

spec, out, client = study.setup(event, output_dir, scheduler)
Markdown(f"**{spec.label}** — {spec.date.isoformat()}, windows: {spec.windows}")

# %% [markdown]
# ## Daily study

# %%
selection = study.select_assets(spec, "daily", data_dir or None)
prices = study.daily_prices(spec, selection, data_dir or None)
daily = study.daily_event_study(spec, prices)
study.save_result(daily, out, "event_study_daily")
Markdown(study.headline(daily, spec))

# %%
study.save_table(study.asset_table(daily), out, "assets_daily")
study.asset_table(daily)

# %%
study.save_table(study.group_table(daily), out, "groups_daily")
study.group_table(daily)

# %%
fig, ax = plt.subplots(figsize=(9, 5), layout="constrained")
plot_car_paths(daily, groups=[g for g in ("semis", "ai_power", "ai_tokens", "majors") if g in daily.dataset["group"].values], ax=ax)
study.show_figure(fig, out, "car_paths_daily")

# %%
fig, ax = plt.subplots(figsize=(12, 5), layout="constrained")
plot_test_table(daily, group="all", ax=ax)
study.show_figure(fig, out, "tests_daily")

# %% [markdown]
# ## Hourly study (UTC)

# %%
hourly_selection = study.select_assets(spec, "hourly", data_dir or None)
hourly_prices = study.hourly_prices(spec, hourly_selection, data_dir or None)
hourly = study.hourly_event_study(spec, hourly_prices)
study.save_result(hourly, out, "event_study_hourly")
Markdown(study.headline(hourly, spec, horizon=f"CAR(+0,{spec.windows.hourly_event[1]:+d})"))

# %%
fig, ax = plt.subplots(figsize=(9, 5), layout="constrained")
plot_car_paths(hourly, assets=[a for a in ("BTCUSDT", "ETHUSDT") if a in hourly.dataset["asset"].values], groups=["all"], ax=ax)
study.show_figure(fig, out, "car_paths_hourly")

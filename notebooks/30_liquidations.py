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
# # 30 · Liquidation elasticity and cascades
#
# How strongly do prices respond to forced liquidations, and liquidations to prices? Daily
# CoinGlass long/short liquidations and open interest (a lower bound: a subset of exchanges)
# for BTC, ETH, SOL, XRP, DOGE, BNB and ADA, joined with Binance UTC-daily returns. Methods and
# units in `docs/methods/liquidation.md`.

# %% tags=["parameters"]
event = "deepseek-2025-01-27"  # registry id (research/events.yaml) or any ISO date
data_dir = ""  # empty: $SHOCKLAB_DATA_DIR, else the download cache
output_dir = "build/runs/deepseek-2025-01-27"  # must lie inside build/
scheduler = ""  # dask.distributed scheduler address; empty: local threads

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown

from shocklab import study
from shocklab.models import liquidation
from shocklab.plots import plot_elasticities, plot_irf, plot_liquidations

spec, out, client = study.setup(event, output_dir, scheduler)
panel = study.liquidation_data(spec, data_dir or None)

# %% [markdown]
# ## Liquidations around the event

# %%
fig, ax = plt.subplots(figsize=(10, 4.5), layout="constrained")
plot_liquidations(panel, "BTC", *study.dates_around(spec, before=20, after=10), ax=ax)
study.show_figure(fig, out, "liquidations_btc")

# %% [markdown]
# ## Elasticity of returns to liquidations (per asset, HAC) and pooled (Driscoll–Kraay)

# %%
per_asset = liquidation.elasticity(panel)
study.save_table(per_asset.table, out, "liquidation_elasticity_assets")
fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
plot_elasticities(per_asset, ax=ax)
study.show_figure(fig, out, "liquidation_elasticity")

# %%
pooled = liquidation.panel_elasticity(panel)
study.save_table(pooled.table, out, "liquidation_elasticity_pooled")
pooled.table

# %% [markdown]
# Same-day OLS mixes the price impact of liquidations with the reverse channel (falling prices
# liquidate longs). The IV estimate instruments each side with its previous-day value and the
# other assets' same-day liquidations; the first-stage F says whether they are strong.

# %%
iv = liquidation.iv_elasticity(panel)
study.save_table(iv.table, out, "liquidation_elasticity_iv")
iv.table

# %% [markdown]
# ## Reverse elasticity: liquidations for a given move (% of open interest)

# %%
reverse = liquidation.reverse_elasticity(panel)
study.save_table(reverse.table, out, "liquidation_reverse")
reverse.table

# %% [markdown]
# ## Feedback loop (VAR on BTC) and the event's attribution

# %%
feedback = liquidation.var_feedback(panel.sel(asset="BTC").to_dataframe())
study.save_table(feedback.table, out, "liquidation_var_btc")
fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
plot_irf(feedback, ax=ax)
study.show_figure(fig, out, "liquidation_irf_btc")

# %%
attribution = liquidation.attribute_event(panel, spec.date.isoformat())
study.save_table(attribution, out, "liquidation_attribution")
Markdown(study.liquidation_headline(spec, pooled, attribution, feedback))

# %%
attribution

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
event = "deepseek-2025-01-27"  # registry id (research/events.yaml), ISO date or UTC moment
data_dir = ""  # empty: $SHOCKLAB_DATA_DIR, else the download cache
output_dir = "build/runs/deepseek-2025-01-27"  # must lie inside build/
scheduler = ""  # dask.distributed scheduler address; empty: local threads
non_trading = "next"  # daily day 0 when the moment has no session of its own: next|previous|error

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown

from shocklab.formatting import show_table
from shocklab.plots import plot_elasticities, plot_irf, plot_liquidations
from shocklab.studies import liquidations as study
from shocklab.studies import summary
from shocklab.studies.run import save_table, setup, show_figure

ctx = setup(event, output_dir, scheduler, non_trading, data_dir or None)
asset = study.chart_asset()  # research/universe.yaml: report.liquidation_asset
Markdown(ctx.header())

# %% [markdown]
# ## Coverage
#
# Liquidations and open interest (CoinGlass) and daily prices (Binance) per asset, and the days
# all three cover; the study needs the event's UTC day inside that overlap.

# %%
liquidation_coverage = study.coverage(ctx)
save_table(liquidation_coverage, ctx.out, "liquidation_coverage")
liquidation_coverage

# %% [markdown]
# ## How much was liquidated
#
# USD liquidated on the UTC day(s) covering the event moment, long (longs forced to sell) and
# short, per asset. CoinGlass aggregates a subset of exchanges, so these are lower bounds.

# %%
totals, totals_facts = summary.liquidation_totals(ctx, "results/liquidation_totals_usd.csv")
save_table(totals, ctx.out, "liquidation_totals_usd")
summary.save_facts(
    ctx.out,
    "liquidations",
    totals_facts,
    {"USD liquidated per asset": ("results/liquidation_totals_usd.csv", totals)}
    if len(totals)
    else {},
)
show_table(totals) if len(totals) else Markdown(totals_facts[0]["value"])

# %%
panel = study.liquidation_data(ctx)

# %% [markdown]
# ## Liquidations around the event

# %%
fig, ax = plt.subplots(figsize=(10, 4.5), layout="constrained")
plot_liquidations(
    panel, asset, *study.dates_around(ctx, before=20, after=10), event=ctx.day0.utc_day, ax=ax
)
show_figure(fig, ctx.out, f"liquidations_{asset.lower()}")

# %% [markdown]
# ## Elasticity of returns to liquidations (per asset, HAC) and pooled (Driscoll–Kraay)

# %%
per_asset = study.elasticities(panel)
save_table(per_asset.table, ctx.out, "liquidation_elasticity_assets")
fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
plot_elasticities(per_asset, ax=ax)
show_figure(fig, ctx.out, "liquidation_elasticity")

# %%
pooled = study.pooled_elasticity(panel)
save_table(pooled.table, ctx.out, "liquidation_elasticity_pooled")
pooled

# %% [markdown]
# Same-day OLS mixes the price impact of liquidations with the reverse channel (falling prices
# liquidate longs). The IV estimate instruments each side with its previous-day value and the
# other assets' same-day liquidations; the first-stage F says whether they are strong.

# %%
iv = study.iv_elasticity(panel)
save_table(iv.table, ctx.out, "liquidation_elasticity_iv")
iv

# %% [markdown]
# ## Reverse elasticity: liquidations for a given move (% of open interest)
#
# Poisson pseudo-maximum likelihood with a log link and asset fixed effects (errors clustered by
# day): liquidations are a spline in the day's return, so predicted levels cannot be negative.
# `estimate` is the average asset's predicted liquidation level for the move (with its 95 %
# interval, built on the log scale so it stays positive), `flat` a day without a move,
# `extra = estimate - flat`. The second table checks the curve against binned
# means of the same data (mean observed vs mean fitted per return bin).

# %%
reverse = study.reverse_elasticity(panel)
save_table(reverse.summary(), ctx.out, "liquidation_reverse")
save_table(reverse.extra["binned"], ctx.out, "liquidation_reverse_binned")
reverse

# %%
reverse.extra["binned"]

# %% [markdown]
# ## Feedback loop (VAR on the chart asset) and the event's attribution
#
# The attribution compares each asset's liquidations on the event's UTC day with what its return
# that day predicts.

# %%
feedback = study.feedback(panel)
save_table(feedback.summary(), ctx.out, f"liquidation_var_{asset.lower()}")
fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
plot_irf(feedback, ax=ax)
show_figure(fig, ctx.out, f"liquidation_irf_{asset.lower()}")

# %%
attribution = study.attribution(ctx, panel)
save_table(attribution, ctx.out, "liquidation_attribution")
Markdown(study.liquidation_headline(ctx, pooled, attribution, feedback))

# %%
show_table(attribution)

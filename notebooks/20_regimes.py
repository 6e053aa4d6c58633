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
# # 20 · Tech–crypto correlation regimes
#
# How tightly was crypto coupled to tech stocks going into the shock, did the shock switch the
# coupling regime, and was the co-movement contagion or plain interdependence? Daily returns
# are NYSE-close-synchronous (crypto sampled at each 16:00 New York close), so a crypto return
# and a stock return cover the same hours. Pairs, the DCC system and the regime pair come from
# `coupling` in `research/universe.yaml`; windows from `research/events.yaml`. Methods and
# formulas: `docs/methods/regimes.md`.

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
from shocklab.plots import (
    plot_breaks,
    plot_correlation_paths,
    plot_dcc_paths,
    plot_regimes_zoom,
)
from shocklab.studies import regimes as study
from shocklab.studies import summary
from shocklab.studies.run import save_dataset, save_result, save_table, setup, show_figure

ctx = setup(event, output_dir, scheduler, non_trading, data_dir or None)
day0 = ctx.day0_label("daily")  # the NYSE session of the event (stated below)
Markdown(ctx.header())

# %%
rets = study.coupling_returns(ctx)
x, y = study.coupling_pairs(rets)

# %% [markdown]
# ## Rolling and EWMA correlations with Fisher-z bands
#
# Rolling: Pearson correlation over the last `windows.rolling` sessions. EWMA: RiskMetrics
# (λ = 0.94, zero mean); its band uses the effective sample size (1 + λ)/(1 − λ).

# %%
rolling = study.rolling(ctx, x, y)
ewma = study.ewma(x, y)
save_dataset(rolling, ctx.out, "coupling_rolling")
save_dataset(ewma, ctx.out, "coupling_ewma")
fig, axes = plt.subplots(2, 1, figsize=(11, 8), layout="constrained", sharex=True)
plot_correlation_paths(rolling, pairs=list(rolling["pair"].values[::3]), event=day0, ax=axes[0])
plot_correlation_paths(ewma, pairs=list(ewma["pair"].values[::3]), event=day0, ax=axes[1])
show_figure(fig, ctx.out, "coupling_rolling_ewma")

# %% [markdown]
# Correlation of daily returns by calendar year (the IMF reported BTC–S&P 500 rising from
# about 0.01 in 2017–19 to 0.36 in 2020–21):

# %%
by_year = study.correlation_by_year(x, y)
save_table(by_year, ctx.out, "coupling_by_year")
show_table(by_year)

# %% [markdown]
# ## Realized correlation from overlapping trading hours
#
# Hourly crypto and ETF returns in the hours both markets trade (NYSE regular session), pooled
# over 20 trading days. Hourly ETF bars start in July 2023 in the local mirror; earlier events
# show the reason instead of a figure.

# %%
realized = study.realized_coupling(ctx)
Markdown(realized.attrs["note"])

# %%
save_dataset(realized, ctx.out, "coupling_realized")
fig, ax = plt.subplots(figsize=(11, 4), layout="constrained")
plot_correlation_paths(realized, event=day0, ax=ax)
show_figure(fig, ctx.out, "coupling_realized")

# %% [markdown]
# ## Contagion or interdependence? Forbes–Rigobon
#
# Correlations rise mechanically when the source market's variance rises. The adjusted
# correlation ρ* = ρ / √(1 + δ(1 − ρ²)) removes that; contagion only if ρ* in the event window
# exceeds the baseline significantly (one-sided Fisher-z test, 5 %).

# %%
contagion = study.contagion_table(ctx, x, y)
save_table(contagion, ctx.out, "coupling_forbes_rigobon")
show_table(contagion)

# %% [markdown]
# ## Dynamic conditional correlation (corrected DCC, Aielli 2013)

# %%
dcc = study.dcc_coupling(rets)
save_table(dcc.summary(), ctx.out, "coupling_dcc_params")
save_result(dcc, ctx.out, "coupling_dcc")
fig, ax = plt.subplots(figsize=(11, 4.5), layout="constrained")
plot_dcc_paths(study.dcc_figure_pairs(dcc), event=day0, ax=ax)
show_figure(fig, ctx.out, "coupling_dcc")

# %%
dcc

# %% [markdown]
# ## Markov-switching coupling regimes
#
# Crypto return on tech return (percent) with switching intercept, beta and variance, two
# regimes sorted by beta; ten random restarts. The table below the figure lists the regime
# probabilities forecast for day 0 from the session before (statsmodels has no such forecast):
# in real time (a refit on data up to day -1 only, warm-started from the full-sample fit) and
# with the full-sample parameters (which see up to 90 days after the event: not ex ante); then
# filtered and smoothed on day 0 (full-sample fit; smoothing uses later data by design). The
# DCC, tail thresholds and breaks also use the full sample.

# %%
regimes = study.markov_coupling(rets)
save_table(regimes.summary(), ctx.out, "coupling_markov_params")
save_result(regimes, ctx.out, "coupling_markov")
save_table(regimes.transition, ctx.out, "coupling_markov_transition")
save_table(regimes.smoothed, ctx.out, "coupling_markov_smoothed")
fig = plot_regimes_zoom(regimes, day0)
show_figure(fig, ctx.out, "coupling_regimes")

# %%
around = study.regime_around_event(ctx, regimes, rets)
save_table(around, ctx.out, "coupling_regime_at_event")
summary.save_facts(
    ctx.out,
    "regimes",
    summary.regime_facts(
        ctx,
        contagion,
        around,
        "results/coupling_forbes_rigobon.csv",
        "results/coupling_regime_at_event.csv",
    ),
)
show_table(around)

# %%
regimes

# %%
show_table(regimes.restarts)

# %% [markdown]
# ## Structural breaks in the coupling (Bai–Perron)
#
# Breaks in intercept and beta of the same regression, chosen by BIC with 15 % trimming;
# shaded: 95 % intervals for each break date (Bai 1997).

# %%
breaks = study.coupling_breaks(rets)
save_table(breaks.segments, ctx.out, "coupling_break_segments")
save_result(breaks, ctx.out, "coupling_breaks")
fig, ax = plt.subplots(figsize=(11, 4), layout="constrained")
plot_breaks(study.rolling_beta(rets, ctx.spec.windows.rolling), breaks, event=day0, ax=ax)
show_figure(fig, ctx.out, "coupling_breaks")

# %%
breaks

# %%
show_table(breaks.selection)

# %% [markdown]
# ## Tail co-exceedance by regime
#
# Days on which both the crypto and the tech return fall below their own 5 % / 1 % quantile,
# against the count expected under independence (Bae, Karolyi and Stulz 2003).

# %%
tails = study.coexceedance(rets, regimes)
save_table(tails, ctx.out, "coupling_coexceedance")
show_table(tails)

# %% [markdown]
# ## Summary

# %%
Markdown(study.regimes_headline(ctx, by_year, contagion, around, dcc))

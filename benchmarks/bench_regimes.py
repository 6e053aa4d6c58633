"""Benchmark of the coupling models (issue 4).

1. DCC and cDCC fit on 5 years of NYSE-synchronous daily returns for 10 assets of the real
   mirror (BTC, ETH, SOL, XRP, ADA, QQQ, NVDA, SOXX, SPY, AMD): wall time (univariate GARCH steps
   and the correlation step) and peak traced memory.
2. Rolling correlations of 50 pairs (5 crypto x 10 equity-like series) on 5 years of hourly
   returns (43,800 bars; synthetic with holes, so the size is exact): shocklab's one-pass
   cumulative-sum kernel vs a pandas loop of ``Series.rolling(w).corr`` per pair; time, peak
   memory and the ratio. Results agree to 1e-9.

    python benchmarks/bench_regimes.py [--quick]
"""

from __future__ import annotations

import sys
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from shocklab.models import correlation as co
from shocklab.models.dcc import fit_dcc

DCC_ASSETS = [
    "BTCUSDT",
    "ETHUSDT",
    "SOLUSDT",
    "XRPUSDT",
    "ADAUSDT",
    "QQQ",
    "NVDA",
    "SOXX",
    "SPY",
    "AMD",
]


def _peak(fn, repeat: int = 1):  # type: ignore[no-untyped-def]
    """Result, best wall time of ``repeat`` runs (untraced), peak traced MiB of one more run."""
    seconds = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        seconds = min(seconds, time.perf_counter() - start)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return out, seconds, peak


def bench_dcc() -> None:
    from shocklab.data import nyse_close_panel, returns

    panel = nyse_close_panel(DCC_ASSETS, "2020-02-25", "2025-02-28").compute()
    frame = returns(panel).to_pandas().dropna()
    print(f"DCC data: {frame.shape[0]} complete sessions x {frame.shape[1]} assets")
    for method in ("dcc", "cdcc"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit, seconds, peak = _peak(lambda m=method: fit_dcc(frame, m), repeat=2)
        p = fit.params["estimate"]
        print(
            f"  {method:4s}: {seconds:6.2f} s, peak {peak:6.1f} MiB traced; a = {p['a']:.4f}, "
            f"b = {p['b']:.4f}, loglik {fit.loglik_total:.1f}"
        )


def bench_rolling(quick: bool) -> None:
    n_bars = 24 * 365 * (1 if quick else 5)
    rng = np.random.default_rng(0)
    common = rng.standard_normal(n_bars)
    data = 0.5 * common[:, None] + rng.standard_normal((n_bars, 15))
    data[rng.random(data.shape) < 0.01] = np.nan
    names = [f"C{i}" for i in range(5)] + [f"E{i}" for i in range(10)]
    panel = xr.DataArray(
        data,
        dims=("time", "asset"),
        coords={"time": pd.date_range("2020-01-01", periods=n_bars, freq="h"), "asset": names},
    )
    x, y = co.pair_returns(panel, names[:5], names[5:])
    window, min_periods = 24 * 30, 24 * 15
    ours, t_ours, m_ours = _peak(
        lambda: co.rolling_correlation(x, y, window, min_periods=min_periods), repeat=3
    )

    def pandas_loop() -> dict[str, pd.Series]:
        out = {}
        for pair in x["pair"].values:
            a = pd.Series(x.sel(pair=pair).values)
            b = pd.Series(y.sel(pair=pair).values)
            joint = a.notna() & b.notna()
            roll = a.where(joint).rolling(window, min_periods=min_periods)
            out[str(pair)] = roll.corr(b.where(joint))
        return out

    def pandas_loop_same_outputs() -> dict[str, pd.DataFrame]:
        """corr, beta, count and Fisher band per pair, as shocklab returns them."""
        out = {}
        for pair in x["pair"].values:
            a = pd.Series(x.sel(pair=pair).values)
            b = pd.Series(y.sel(pair=pair).values)
            joint = a.notna() & b.notna()
            a, b = a.where(joint), b.where(joint)
            ra, rb = a.rolling(window, min_periods=min_periods), b.rolling(window, min_periods)
            corr = ra.corr(b)
            n = joint.astype(float).rolling(window, min_periods=1).sum()
            lo, hi = co.fisher_band(corr.to_numpy(), n.to_numpy())
            out[str(pair)] = pd.DataFrame(
                {"corr": corr, "beta": ra.cov(b) / rb.var(), "n": n, "lo": lo, "hi": hi}
            )
        return out

    ref, t_pd, m_pd = _peak(pandas_loop, repeat=3)
    _, t_pd2, m_pd2 = _peak(pandas_loop_same_outputs, repeat=3)
    worst = max(np.nanmax(np.abs(ours["corr"].sel(pair=p).values - ref[p].to_numpy())) for p in ref)
    print(
        f"rolling {len(ref)} pairs x {n_bars} hourly bars, window {window}: shocklab "
        f"{t_ours:.2f} s ({m_ours:.0f} MiB), pandas loop {t_pd:.2f} s ({m_pd:.0f} MiB): "
        f"{t_pd / t_ours:.1f}x; max |diff| {worst:.1e}"
    )
    print(
        f"  pandas loop with the same outputs (corr, beta, n, Fisher band): {t_pd2:.2f} s "
        f"({m_pd2:.0f} MiB): {t_pd2 / t_ours:.1f}x"
    )
    _, t_ewma, m_ewma = _peak(lambda: co.ewma_correlation(x, y, lam=0.99), repeat=3)
    print(f"EWMA same pairs: {t_ewma:.2f} s ({m_ewma:.0f} MiB)")


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    bench_rolling(quick)
    bench_dcc()

"""Size of the event-study tests under the null (issue 17), for docs/methods/event_study.md.

N assets share one event date; returns follow the market model of
:func:`shocklab.models.simulate.simulate_market_model_panel` (beta ~ U(0.5, 1.5), residual sd
~ U(1 %, 3 %)), with no event effect, either iid or with a common residual factor giving
pairwise correlation r = 0.3. Each replication is one independent cross-section (a group of
the panel), so one ``event_study`` call runs hundreds of replications. Rejection rate at 5 %,
with its Monte Carlo standard error sqrt(0.05 * 0.95 / R) = 0.22 pp for R = 10,000.

1. Every test, N = 30, L1 = 250, R = 10,000, iid and r = 0.3, AR(0) and CAR(-1,+1).
2. GRANK, KP-Patell and KP-BMP as N and L1 grow (R = 1,500 each, se 0.56 pp).

    python benchmarks/bench_test_size.py            # about 30 minutes on 2 cores
    python benchmarks/bench_test_size.py --quick    # R = 1,000: a smoke run
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from shocklab.models import event_study
from shocklab.models.simulate import simulate_market_model_panel

CHUNK = 500  # replications per event_study call


def rejection_rates(
    n_rep: int, n_assets: int, estimation: int, rho: float, seed: int
) -> pd.DataFrame:
    """Share of replications rejecting at 5 %: rows test, columns horizon."""
    counts = None
    done = 0
    k = 0
    while done < n_rep:
        groups = min(CHUNK, n_rep - done)
        panel = simulate_market_model_panel(
            groups, n_assets, estimation + 30, rho=rho, seed=seed + 1000 * k
        )
        res = event_study(
            panel,
            {"h0": panel["time"].values[-6]},
            market="MKT",
            estimation=estimation,
            gap=0,
            window=(-5, 5),
            car_windows=[(-1, 1)],
        )
        p = (
            res.dataset["test_p_value"]
            .sel(event="h0", horizon=["AR(+0)", "CAR(-1,+1)"])
            .drop_sel(group="all")
        )
        rejected = (p < 0.05).sum("group").transpose("test", "horizon").to_pandas()
        counts = rejected if counts is None else counts + rejected
        done += groups
        k += 1
    assert counts is not None
    return counts / n_rep


def main() -> None:
    quick = "--quick" in sys.argv
    reps = 1_000 if quick else 10_000
    began = time.perf_counter()
    table = {}
    for rho in (0.0, 0.3):
        rates = rejection_rates(reps, 30, 250, rho, seed=7)
        for horizon in rates.columns:
            table[(f"r={rho:g}", horizon)] = rates[horizon]
    frame = pd.DataFrame(table)
    se = np.sqrt(0.05 * 0.95 / reps)
    print(f"1. Size at 5 %: N = 30, L1 = 250, R = {reps:,} (Monte Carlo se {se * 100:.2f} pp)")
    print(frame.round(4).to_string())

    reps2 = 500 if quick else 1_500
    rows = []
    for rho in (0.0, 0.3):
        for n_assets, estimation in ((10, 250), (100, 250), (30, 100), (30, 500)):
            rates = rejection_rates(reps2, n_assets, estimation, rho, seed=11)
            rows.append(
                {
                    "r": rho,
                    "N": n_assets,
                    "L1": estimation,
                    **{
                        f"{t} {h}": rates.loc[t, h]
                        for t in ("grank", "kp_patell", "kp_bmp")
                        for h in ("AR(+0)", "CAR(-1,+1)")
                    },
                }
            )
    se2 = np.sqrt(0.05 * 0.95 / reps2)
    print(f"\n2. GRANK, KP-Patell, KP-BMP as N and L1 grow: R = {reps2:,} (se {se2 * 100:.2f} pp)")
    print(pd.DataFrame(rows).round(4).to_string(index=False))
    print(f"\n{time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()

"""Coverage of calib's 95% intervals for binned calibration errors, by simulation (not a timed test).

For each scenario (binary and 4-class, calibrated and miscalibrated) and each
n in (2,000, 20,000), draw ``--sims`` data sets from a known model, measure them
with calib's states and count how often each interval covers the *population*
value of the same binned quantity (15 equal-width bins): the value at infinite n,
computed here without outcome noise (``E[y | p]`` fed as the outcome of 4e6 draws
of the scores; exactly 0 for calibrated models).

Intervals compared (200 replicates each):
- ``row-pct``: per-row Poisson(1) bootstrap, percentile interval: the gate's
  interval before intervals became the default (``before``);
- ``grp-pct``: the grouped Poisson bootstrap (128 groups), percentile interval:
  checks that grouping rows reproduces the per-row bootstrap;
- ``grp-basic``: the grouped bootstrap, basic interval ``(2t - q97.5, 2t - q2.5)``
  clipped at 0;
- ``calib``: the interval calib reports (``after``): ``grp-basic`` with its lower end
  at 0 when the plug-in is within the 95% quantile of a perfectly calibrated model's.
``up`` columns give one-sided coverage of the upper end (what ``--on upper`` compares).
``sd`` is the mean ratio of the replicate standard deviations, grouped / per-row.

Run: ``python benchmarks/coverage_sim.py [--sims 200] [--skip-row]`` (about 10 minutes with the per-row bootstrap).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from calibcli.engine.batches import InMemorySource
from calibcli.measure import BinEdges, measure_state
from calibcli.predictions import Predictions, ScoreKind, Task
from calibcli.stats.bins import BinStats
from calibcli.stats.intervals import basic_interval, percentile_interval

N_BINS = 15
R = 200
BLOCKS = 128
METRICS = ("ece", "mce", "classwise_ece")


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def draw(scenario: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Scores (n, K) and the true class probabilities (n, K) of a scenario."""
    if scenario.startswith("binary"):
        p = rng.beta(1.2, 2.5, n)
        logit = np.log(p) - np.log1p(-p)
        true = p if scenario == "binary-calibrated" else 1.0 / (1.0 + np.exp(-(0.6 * logit - 0.3)))
        return np.column_stack([1 - p, p]), np.column_stack([1 - true, true])
    z = rng.normal(0.0, 1.6, (n, 4))
    p = softmax(z)
    true = p if scenario == "multi-calibrated" else softmax(z / 1.6)
    return p, true


def labels_from(true: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(true.shape[0])
    return np.minimum((u[:, None] > np.cumsum(true, axis=1)).sum(axis=1), true.shape[1] - 1)


def population(scenario: str) -> dict[str, float]:
    """Binned errors at infinite n: outcomes replaced by their expectation."""
    rng = np.random.default_rng(12345)
    p, true = draw(scenario, 4_000_000, rng)
    k = p.shape[1]
    top = np.argmax(p, axis=1)
    rows = np.arange(p.shape[0])
    cls = BinStats.uniform(N_BINS, k).update(p, true).finalize()
    if k == 2:  # the headline: the positive class's curve
        ece, mce = float(cls.ece[1]), float(cls.mce[1])
    else:
        r = BinStats.uniform(N_BINS).update(p[rows, top], true[rows, top]).finalize()
        ece, mce = float(r.ece[0]), float(r.mce[0])
    return {"ece": ece, "mce": mce, "classwise_ece": float(cls.ece.mean())}


def one_sim(scenario: str, n: int, seed: int, with_rows: bool) -> dict:
    rng = np.random.default_rng(seed)
    p, true = draw(scenario, n, rng)
    y = labels_from(true, rng)
    k = p.shape[1]
    task = Task.BINARY if k == 2 else Task.MULTICLASS
    preds = Predictions(p, y, tuple(str(i) for i in range(k)), task, ScoreKind.PROBS)
    src = InMemorySource.from_predictions(preds, n)
    edges = BinEdges.uniform(N_BINS)
    grouped = measure_state(src, edges, R, seed, n_blocks=BLOCKS)
    m = grouped.finalize()
    reps_g = grouped.replicate_metrics()
    reps_r = measure_state(src, edges, R, seed, replicate_classes=True).replicate_metrics() if with_rows else None
    out = {}
    for name in METRICS:
        point = getattr(m.metrics, name)
        out[name] = {
            "point": point,
            "grp-pct": percentile_interval(reps_g[name]),
            "grp-basic": basic_interval(point, reps_g[name], 0.0, 1.0),
            "row-pct": percentile_interval(reps_r[name]) if with_rows else None,
            "calib": m.intervals[name],
            "sd": float(np.nanstd(reps_g[name]) / np.nanstd(reps_r[name])) if with_rows else np.nan,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=200)
    ap.add_argument("--skip-row", action="store_true", help="skip the (slow) per-row bootstrap")
    ap.add_argument("--n", type=int, nargs="*", default=[2000, 20000])
    args = ap.parse_args()
    methods = ("row-pct", "grp-pct", "grp-basic", "calib")
    print(f"{args.sims} simulations per cell; 95% intervals; coverage two-sided / upper end only")
    print(f"{'scenario':<18} {'n':>6} {'metric':<14} {'truth':>7} {'plug-in':>8} {'floor':>7} "
          + " ".join(f"{m:>12}" for m in methods) + f" {'sd g/r':>7}")
    for scenario in ("binary-calibrated", "binary-miscal", "multi-calibrated", "multi-miscal"):
        truth = population(scenario)
        for n in args.n:
            t0 = time.perf_counter()
            res = [one_sim(scenario, n, 1000 + i, not args.skip_row) for i in range(args.sims)]
            floor = np.mean([_floor(scenario, n, 1000 + i) for i in range(min(args.sims, 20))])
            for name in METRICS:
                if scenario.startswith("binary") and name == "classwise_ece":
                    continue
                t = truth[name]
                cells = []
                for meth in methods:
                    ivs = [r[name][meth] for r in res]
                    if any(iv is None for iv in ivs):
                        cells.append(f"{'-':>12}")
                        continue
                    two = np.mean([lo - 1e-12 <= t <= hi + 1e-12 for lo, hi in ivs])
                    up = np.mean([t <= hi + 1e-12 for _, hi in ivs])
                    cells.append(f"{two:>6.1%}/{up:>4.0%}")
                plug = np.mean([r[name]["point"] for r in res])
                sd = np.mean([r[name]["sd"] for r in res]) if not args.skip_row else np.nan
                print(f"{scenario:<18} {n:>6} {name:<14} {t:>7.4f} {plug:>8.4f} {floor if name == 'ece' else np.nan:>7.4f} "
                      + " ".join(cells) + f" {sd:>7.2f}", flush=True)
            print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)


def _floor(scenario: str, n: int, seed: int) -> float:
    """The reported noise floor of the headline ECE for one simulated data set."""
    rng = np.random.default_rng(seed)
    p, true = draw(scenario, n, rng)
    y = labels_from(true, rng)
    k = p.shape[1]
    preds = Predictions(p, y, tuple(str(i) for i in range(k)), Task.BINARY if k == 2 else Task.MULTICLASS, ScoreKind.PROBS)
    m = measure_state(InMemorySource.from_predictions(preds, n), BinEdges.uniform(N_BINS), R, 0, n_blocks=BLOCKS).finalize()
    return m.noise_floor["ece"]


if __name__ == "__main__":
    main()

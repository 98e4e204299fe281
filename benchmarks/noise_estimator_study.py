"""A study for the next change to the regression detector: its between-run noise estimate.

Not a product figure: a simplified nightly loop (no emulator, no store) that calls the
product's own `estimate_noise` and `compare_samples` (imxbench/analysis/regression.py) the way
verdicts.py does — baseline window:5 of the good runs, noise history the last 30 good runs,
a good run is one judged neither regressed nor improved, alpha 1% per night over 4 cells — on
one series: 5 repetitions a night with a 0.5% within-run spread and a night-to-night offset.

It compares the current estimator (mean of squared successive differences) with one that
trims differences beyond 2.5 robust standard deviations (MAD), corrected for the trim, in:
* transient slowdowns: 12.5% of nights 5% slower, 1% normal night noise (recall, false alarms);
* no slowdown, normal noise: the false alarm rate (nominal: at most 0.25% for one cell);
* no slowdown, heavy-tailed night noise (Student t, 3 degrees of freedom, same scale).

    .venv/bin/python benchmarks/noise_estimator_study.py      (~10 s)
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imxbench.analysis import regression

Estimator = Callable[[Sequence[Sequence[float]]], regression.Noise]
TRIM_SD = 2.5
TRIM_VARIANCE_KEPT = 0.911  # E[D^2 | |D| < 2.5 sd] / sd^2 for a normal D


def trimmed_noise(runs: Sequence[Sequence[float]]) -> regression.Noise:
    """estimate_noise, with successive differences beyond TRIM_SD robust sds left out of the
    between-run part (the within-run part is estimate_noise's own)."""
    noise = regression.estimate_noise(runs)
    logs = [np.log(np.asarray(r, dtype=float)) for r in runs if len(r)]
    if len(logs) < 3:
        return noise
    means = np.array([y.mean() for y in logs])
    inv_n = np.array([1.0 / len(y) for y in logs])
    diffs = np.diff(means)
    within = noise.within_var * (inv_n[:-1] + inv_n[1:])
    scale = float(np.median(np.abs(diffs))) / 0.6745
    keep = np.abs(diffs) <= TRIM_SD * scale if scale > 0 else np.ones(len(diffs), bool)
    mean_square = float(np.mean(diffs[keep] ** 2)) / TRIM_VARIANCE_KEPT
    m = int(keep.sum()) + 1
    return replace(
        noise,
        between_var=max(0.0, (mean_square - float(np.mean(within[keep]))) / 2.0),
        between_df=2.0 * (m - 1) ** 2 / (3.0 * m - 4.0) if m > 2 else 1.0,
    )


def simulate(
    estimator: Estimator, night_pct: float, slow_share: float, heavy_tails: bool, seed: int
) -> tuple[int, int, int, int]:
    """(slowed nights caught, slowed nights, quiet nights alarmed, quiet nights)."""
    rng = np.random.default_rng(seed)
    thresholds = regression.Thresholds().per_comparison(4)
    history: list[list[float]] = []
    verdicts: list[str] = []
    caught = slowed_n = alarms = quiet = 0
    for night in range(410):
        slowed = night >= 10 and rng.random() < slow_share
        scale = night_pct / 100
        offset = rng.standard_t(3) * scale / math.sqrt(3) if heavy_tails else rng.normal(0, scale)
        level = 1000.0 * math.exp(offset) * (1.05 if slowed else 1.0)
        reps = list(level * np.exp(rng.normal(0, 0.005, 5)))
        good = [
            r for r, v in zip(history, verdicts, strict=True) if v not in ("regressed", "improved")
        ]
        verdict = "new"
        if good:
            noise = estimator(good[-30:])
            verdict = regression.compare_samples(good[-5:], reps, noise, thresholds).verdict
        if night >= 10 and slowed:
            slowed_n += 1
            caught += verdict == "regressed"
        elif night >= 10:
            quiet += 1
            alarms += verdict in ("regressed", "improved")
        history.append(reps)
        verdicts.append(verdict)
    return caught, slowed_n, alarms, quiet


def main() -> None:
    cases = [
        ("12.5% of nights 5% slower, normal 1%", 1.0, 0.125, False),
        ("no slowdown, normal 1%", 1.0, 0.0, False),
        ("no slowdown, heavy-tailed 1%", 1.0, 0.0, True),
        ("no slowdown, heavy-tailed 2%", 2.0, 0.0, True),
    ]
    for label, night_pct, share, tails in cases:
        for name, estimator in (("current", regression.estimate_noise), ("trimmed", trimmed_noise)):
            totals = np.sum([simulate(estimator, night_pct, share, tails, s) for s in range(6)], 0)
            caught, slowed, alarms, quiet = (int(t) for t in totals)
            recall = f"recall {caught / slowed:.2f} ({caught}/{slowed}), " if slowed else ""
            print(f"{label:40s} {name:8s} {recall}false alarms {alarms}/{quiet} nights")


if __name__ == "__main__":
    main()

"""Regression verdicts: is tonight's latency (or accuracy) of a series different from its
baseline? Pure: frozen dataclasses and functions, no I/O, nothing of SSH, files or the DB.

A *series* is (board, emulated or real, cell, model, settings): cell is the delegate and
variant (`cpu@1t`, `vx`); settings are those that change what is measured (everything but the
repetition count). An emulated board and a real one of the same name never share a series.

Latency: the detector of detector.py (`judge`: a series' earlier nights and tonight's
repetitions in, a `Judgement` out) is the one method; `latency_verdict` here runs it and turns
its Judgement into the LatencyVerdict that the stores and reports keep. The statistic is one
number per repetition, its `inference_avg_us` (a repetition is a separate benchmark_model
process averaging `num_runs` inferences). The dominant noise is per *process* and per night
(core placement, frequency, cache and DDR state, boot); detector.py's docstring says how it
is learned and tested.

Verdicts (VERDICTS), most alarming first in SEVERITY:
* failed: the cell did not run, or its timings are impossible (not finite, <= 0);
* regressed / improved: slower / faster by at least the minimum effect, tonight (a step) or
  over the last nights (a drift), with the detector's confidence;
* missing: a cell of the baseline that did not run tonight;
* inconclusive: too noisy tonight to tell a change of the minimum effect either way;
* no baseline: the series has no earlier night: nothing was compared;
* skipped: the cell's delegate cannot run the model (a float model on an integer-only NPU):
  nothing ran, nothing is judged, nothing failed;
* unchanged: any change is below the minimum effect (an equivalence test).

Accuracy (correct out of total images, per metric) is judged with the CI of the difference of
two proportions (Newcombe's hybrid score interval from Wilson intervals): regressed when the
interval lies below 0 and the drop is at least `min_drop`; unchanged when the change is below
`min_drop`; inconclusive when a larger change is not confirmed by the interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # numpy and scipy load with the detector, in the functions that judge:
    # `imxbench run` and `history` only need the records and the names defined here
    from imxbench.analysis.detector import DetectorConfig, Judgement, Night, PooledNoise

VerdictName = Literal[
    "regressed",
    "improved",
    "unchanged",
    "inconclusive",
    "no baseline",
    "missing",
    "failed",
    "skipped",
]
VERDICTS: tuple[VerdictName, ...] = (
    "regressed",
    "improved",
    "unchanged",
    "inconclusive",
    "no baseline",
    "missing",
    "failed",
    "skipped",
)
SEVERITY: dict[str, int] = {
    "failed": 6,
    "regressed": 5,
    "missing": 4,
    "inconclusive": 3,
    "no baseline": 2,
    "new": 2,
    "skipped": 1,  # what older histories stored for "no baseline"
    "improved": 1,
    "unchanged": 0,
}
"""Order for combining verdicts and sorting reports: the most alarming first."""
NOT_JUDGED: tuple[str, ...] = ("no baseline", "missing", "failed", "skipped")
"""Verdicts that say nothing was compared."""

DEFAULT_ALPHA = 0.01
"""False-alarm budget per cell-night (`--alpha`): the detector's validated alphas at 1%."""
DEFAULT_MIN_EFFECT = 0.03
"""Smallest latency change (ratio - 1) worth a verdict."""
DEFAULT_MIN_DROP = 0.01
"""Smallest accuracy change (fraction, 0.01 = one percentage point) worth a verdict."""


# ---------------------------------------------------------------------------------------------
# Latency


@dataclass(frozen=True)
class Thresholds:
    """How demanding a comparison is: `alpha` is the false-alarm budget of one cell-night
    (the detector's three one-sided alphas scale with it; at the default 1% they are the
    validated regressed 0.6%, improved 0.1%, drift 0.2%), `min_effect` the smallest latency
    change and `min_drop` the smallest accuracy change worth a verdict."""

    alpha: float = DEFAULT_ALPHA
    min_effect: float = DEFAULT_MIN_EFFECT
    min_drop: float = DEFAULT_MIN_DROP

    def detector_config(self) -> DetectorConfig:
        """The detector's configuration for these thresholds."""
        from imxbench.analysis.detector import DetectorConfig

        base = DetectorConfig()
        scale = self.alpha / DEFAULT_ALPHA
        return replace(
            base,
            min_effect=self.min_effect,
            alpha_regressed=min(0.5, base.alpha_regressed * scale),
            alpha_improved=min(0.5, base.alpha_improved * scale),
            alpha_drift=min(0.5, base.alpha_drift * scale),
            alpha_pair=min(0.5, base.alpha_pair * scale),
        )


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class LatencyVerdict:
    """One series tonight against its baseline."""

    verdict: VerdictName
    change: float | None = None
    """tonight / baseline - 1 (levels on the log scale); +0.05 = 5% slower. For a drift: the
    level of the last nights against the baseline."""
    ci: tuple[float, float] | None = None
    """Confidence interval of `change` (two-sided, 1 - 2 alpha of the regressed test)."""
    p_value: float | None = None
    """One-sided p-value in the direction of the change, of the deciding test."""
    alpha: float | None = None
    """The one-sided alpha that p_value is compared with."""
    current_reps: int = 0
    baseline_nights: int = 0
    reps_needed: int | None = None
    """Kept for the documents' shape; the detector does not estimate it (always None)."""
    detail: str = ""
    judgement: Judgement | None = None
    """The detector's whole answer (None: not judged)."""


def latency_verdict(
    history: Sequence[Night],
    tonight: Sequence[float],
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    pooled: PooledNoise | None = None,
) -> LatencyVerdict:
    """detector.judge on a series' history (oldest first) and tonight's repetitions (µs), as a
    LatencyVerdict. No repetition tonight, or an impossible timing (not finite, <= 0): failed."""
    from imxbench.analysis.detector import judge

    if not tonight:
        return LatencyVerdict("failed", detail="no successful repetition tonight")
    cfg = thresholds.detector_config()
    try:
        found = judge(history, tonight, cfg, pooled)
    except ValueError as exc:
        return LatencyVerdict(
            "failed", current_reps=len(tonight), detail=f"impossible timing: {exc}"
        )
    if found.verdict == "no baseline" or found.step is None:
        return LatencyVerdict(
            "no baseline",
            current_reps=len(tonight),
            detail="no baseline: no earlier night of this series, nothing compared",
            judgement=found,
        )
    test = found.step
    if found.reason == "drift" and found.drift is not None:
        test = found.drift
    elif found.reason == "pair" and found.pair is not None:
        test = found.pair
    slower = test.change >= 0
    if found.reason == "drift":
        alpha = cfg.alpha_drift
    elif found.reason == "pair":
        alpha = cfg.alpha_pair
    else:
        alpha = cfg.alpha_regressed if slower else cfg.alpha_improved
    return LatencyVerdict(
        found.verdict,
        change=test.change,
        ci=test.ci,
        p_value=test.p_slower if slower else test.p_faster,
        alpha=alpha,
        current_reps=len(tonight),
        baseline_nights=len(found.baseline_nights),
        detail=found.detail,
        judgement=found,
    )


# ---------------------------------------------------------------------------------------------
# Accuracy


@dataclass(frozen=True)
class AccuracyVerdict:
    metric: str
    verdict: VerdictName
    baseline: float | None = None
    current: float | None = None
    change: float | None = None
    """current - baseline, fraction (-0.02 = two points lower)."""
    ci: tuple[float, float] | None = None
    detail: str = ""


def compare_accuracy(
    metric: str,
    baseline: tuple[int, int] | None,
    current: tuple[int, int] | None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> AccuracyVerdict:
    """(correct, total) tonight against the baseline's, for one metric (top1, top5)."""
    from scipy import stats

    if current is None or current[1] <= 0:
        return AccuracyVerdict(metric, "failed", detail="no accuracy result tonight")
    p_c = current[0] / current[1]
    if baseline is None or baseline[1] <= 0:
        return AccuracyVerdict(metric, "no baseline", current=p_c, detail="no baseline accuracy")
    p_b = baseline[0] / baseline[1]
    z = float(stats.norm.ppf(1.0 - thresholds.alpha / 2.0))
    l1, u1 = wilson_interval(current[0], current[1], z)
    l2, u2 = wilson_interval(baseline[0], baseline[1], z)
    delta = p_c - p_b
    low = delta - math.sqrt((p_c - l1) ** 2 + (u2 - p_b) ** 2)
    high = delta + math.sqrt((u1 - p_c) ** 2 + (p_b - l2) ** 2)
    points = f"{metric} {100 * delta:+.2f} points (CI {100 * low:+.2f}..{100 * high:+.2f})"
    result = AccuracyVerdict(
        metric, "inconclusive", baseline=p_b, current=p_c, change=delta, ci=(low, high)
    )
    if high < 0 and -delta >= thresholds.min_drop:
        return replace(result, verdict="regressed", detail=points)
    if low > 0 and delta >= thresholds.min_drop:
        return replace(result, verdict="improved", detail=points)
    if abs(delta) < thresholds.min_drop:
        return replace(result, verdict="unchanged", detail=points)
    return replace(
        result, detail=f"{points}: not confirmed; a larger evaluation set would settle it"
    )


def wilson_interval(successes: int, n: int, z: float) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


# ---------------------------------------------------------------------------------------------
# A cell's verdict


@dataclass(frozen=True)
class CellVerdict:
    """Everything said about one (board, cell) tonight."""

    board: str
    cell: str
    delegate: str
    latency: LatencyVerdict
    accuracy: tuple[AccuracyVerdict, ...] = ()
    baseline_run_ids: tuple[str, ...] = ()
    fingerprint_changes: tuple[str, ...] = ()
    """'kernel: 6.12.34 -> 6.12.40' lines: the board is not the one the baseline ran on."""
    baseline_latency_us: float | None = None
    current_latency_us: float | None = None
    note: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> VerdictName:
        """The most alarming of the latency and accuracy verdicts (no baseline, missing,
        failed: as is)."""
        names: list[VerdictName] = [self.latency.verdict]
        if self.latency.verdict not in NOT_JUDGED:
            names += [
                a.verdict for a in self.accuracy if a.verdict not in ("no baseline", "failed")
            ]
        return max(names, key=lambda v: SEVERITY[v])

    @property
    def detail(self) -> str:
        parts = [self.latency.detail, *(a.detail for a in self.accuracy if a.detail)]
        if self.fingerprint_changes:
            parts.append("board changed since the baseline: " + "; ".join(self.fingerprint_changes))
        if self.note:
            parts.append(self.note)
        return "; ".join(p for p in parts if p)

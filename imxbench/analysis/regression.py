"""Regression verdicts: is tonight's latency (or accuracy) of a series different from its
baseline? Pure: frozen dataclasses and functions, no I/O, nothing of SSH, files or the DB.

A *series* is (board, cell, model, settings): cell is the delegate and variant (`cpu@1t`, `vx`);
settings are those that change what is measured (everything but the repetition count).

The statistic: one number per repetition, its `inference_avg_us` (a repetition is a separate
benchmark_model process averaging `num_runs` inferences). The mean, not the per-process median:
every benchmark_model version prints it, it is the figure `imxbench run` reports, and the
dominant noise is per *process* (core placement, frequency, cache and DDR state), which moves a
process's mean and median alike; within-process outliers are damped by averaging >= 50 runs.
Work is on y = ln(latency): noise is multiplicative, and a change is a ratio.

Noise, per series, from its history (the good runs before tonight, oldest first):
* within-run variance s_w^2: the pooled variance of y between repetitions of one run
  (df_w = sum(n_i - 1)), tonight's repetitions pooled in;
* between-run variance s_b^2: the extra night-to-night variance of a run's mean that
  repetitions cannot average away. From the successive differences D_i of run means
  (E[D_i^2] = 2 s_b^2 + s_w^2 (1/n_i + 1/n_i+1)): s_b^2 = max(0, (mean D^2 - s_w^2 mean(1/n_i +
  1/n_i+1)) / 2), effective df 2(m-1)^2/(3m-4) for m run means (von Neumann). Successive
  differences, not the plain variance of the means, so that one past step (an accepted
  regression) inflates one difference only. With fewer than 3 history runs s_b^2 cannot be
  estimated; it is then taken equal to s_w^2 (a conservative prior: nights are assumed to
  differ as much as processes do), so the first nights do not page on night-to-night noise.

The test: d = mean(y tonight) - mean of the baseline runs' means (K runs: a rolling window of
the last K good runs, the default K = 5; the previous good run, K = 1; or a named baseline run),
with
    Var(d) = s_b^2 (1 + 1/K) + s_w^2 (1/n + sum(1/n_k) / K^2)
and a Welch-Satterthwaite t statistic (df from df_w and df_b). Two-sided p-value and a
(1 - alpha) confidence interval on the ratio exp(d). `alpha` is per comparison: the caller
divides the night's family-wise rate by the number of cells compared (Bonferroni), so a whole
unchanged night raises a false alarm with probability <= the family rate.

Verdict, with a minimum effect m (default 3%, log-symmetric: a ratio >= 1+m or <= 1/(1+m)):
* regressed / improved: significant (p < alpha) and the change is at least m;
* unchanged: an equivalence test (two one-sided tests at 5%): the 90% confidence interval
  lies inside (1/(1+m), 1+m), so any change is below m;
* inconclusive: neither. It says how many repetitions tonight would settle it (an 80% chance to
  detect a change of m at this alpha, given the baseline as it is), or that no number would
  (run-to-run noise or the baseline's own uncertainty is too large).
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

if TYPE_CHECKING:  # numpy and scipy load in the functions that compute: `imxbench run` and
    import numpy as np  # `history` only need the records and the names defined here

VerdictName = Literal[
    "regressed", "improved", "unchanged", "inconclusive", "new", "missing", "failed"
]
VERDICTS: tuple[VerdictName, ...] = (
    "regressed",
    "improved",
    "unchanged",
    "inconclusive",
    "new",
    "missing",
    "failed",
)
SEVERITY: dict[str, int] = {
    "failed": 6,
    "regressed": 5,
    "missing": 4,
    "inconclusive": 3,
    "new": 2,
    "improved": 1,
    "unchanged": 0,
}
"""Order for combining verdicts and sorting reports: the most alarming first."""

DEFAULT_ALPHA = 0.01
"""Family-wise false-alarm rate of one night (divided among its cells by the caller)."""
DEFAULT_MIN_EFFECT = 0.03
"""Smallest latency change (ratio - 1) worth a verdict."""
DEFAULT_MIN_DROP = 0.01
"""Smallest accuracy change (fraction, 0.01 = one percentage point) worth a verdict."""
DEFAULT_POWER = 0.8
EQUIVALENCE_ALPHA = 0.05
"""'unchanged' is an equivalence test (TOST) at this level: the 90% CI inside +-m."""
MIN_RUNS_FOR_BETWEEN = 3
"""History runs needed to estimate the run-to-run noise; below, it is taken = within-run."""
MAX_REPETITIONS = 1000
"""Above this, 'repetitions needed' is reported as not reachable."""


# ---------------------------------------------------------------------------------------------
# Series


# ---------------------------------------------------------------------------------------------
# Noise


@dataclass(frozen=True)
class Noise:
    """A series' noise on the log scale (variance of ln latency)."""

    within_var: float = 0.0
    within_df: float = 0.0
    between_var: float = 0.0
    between_df: float = 0.0
    runs: int = 0

    @property
    def within_pct(self) -> float:
        """Typical repetition-to-repetition spread, percent (coefficient of variation)."""
        return 100.0 * math.sqrt(self.within_var)

    @property
    def between_pct(self) -> float:
        """Typical extra run-to-run spread of a run's mean, percent."""
        return 100.0 * math.sqrt(self.between_var)


def estimate_noise(runs: Sequence[Sequence[float]]) -> Noise:
    """The noise of a series from its history: latency samples (µs) of each run, oldest first.
    Runs without samples are skipped; values <= 0 are ignored."""
    import numpy as np

    logs = [y for y in (_logs(r) for r in runs) if len(y)]
    if not logs:
        return Noise()
    ss = sum(float(((y - y.mean()) ** 2).sum()) for y in logs)
    df_w = float(sum(len(y) - 1 for y in logs))
    var_w = ss / df_w if df_w > 0 else 0.0
    var_b, df_b = 0.0, 0.0
    if len(logs) >= 3:
        means = np.array([y.mean() for y in logs])
        inv_n = np.array([1.0 / len(y) for y in logs])
        diffs = np.diff(means)
        within_part = var_w * float(np.mean(inv_n[:-1] + inv_n[1:]))
        var_b = max(0.0, (float(np.mean(diffs**2)) - within_part) / 2.0)
        m = len(means)
        df_b = 2.0 * (m - 1) ** 2 / (3.0 * m - 4.0)
    return Noise(var_w, df_w, var_b, df_b, len(logs))


def _logs(values: Sequence[float]) -> np.ndarray:
    import numpy as np

    arr = np.asarray([v for v in values if v is not None and v > 0], dtype=float)
    return np.log(arr) if len(arr) else np.zeros(0)


# ---------------------------------------------------------------------------------------------
# Latency


@dataclass(frozen=True)
class Thresholds:
    """How demanding a comparison is. `alpha` is per comparison (already divided)."""

    alpha: float = DEFAULT_ALPHA
    min_effect: float = DEFAULT_MIN_EFFECT
    min_drop: float = DEFAULT_MIN_DROP
    power: float = DEFAULT_POWER

    def per_comparison(self, comparisons: int) -> Thresholds:
        """Bonferroni: the family rate divided among `comparisons` cells."""
        n = max(1, comparisons)
        return Thresholds(self.alpha / n, self.min_effect, self.min_drop, self.power)


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class LatencyVerdict:
    """One series tonight against its baseline."""

    verdict: VerdictName
    change: float | None = None
    """current / baseline - 1 (ratio of geometric means); +0.05 = 5% slower."""
    ci: tuple[float, float] | None = None
    """(1 - alpha) confidence interval of `change`."""
    p_value: float | None = None
    alpha: float | None = None
    current_reps: int = 0
    baseline_reps: int = 0
    baseline_runs: int = 0
    noise: Noise | None = None
    reps_needed: int | None = None
    """For inconclusive verdicts: repetitions tonight that would settle it (None: none would)."""
    detail: str = ""


def compare_samples(
    baseline_runs: Sequence[Sequence[float]],
    current: Sequence[float],
    noise: Noise,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> LatencyVerdict:
    """Tonight's latency samples (µs, one per repetition) against the baseline runs' samples.

    `noise` is the series' history noise (estimate_noise over the good runs before tonight,
    the baseline runs among them); tonight's own repetition spread is pooled in here.
    """
    import numpy as np
    from scipy import stats

    cur = _logs(current)
    base = [y for y in (_logs(r) for r in baseline_runs) if len(y)]
    if not len(cur):
        return LatencyVerdict("failed", detail="no successful repetition tonight")
    if not base:
        return LatencyVerdict("new", current_reps=len(cur), detail="no baseline for this series")
    n_c, k = len(cur), len(base)
    df_w = noise.within_df + (n_c - 1)
    ss_w = noise.within_var * noise.within_df + float(((cur - cur.mean()) ** 2).sum())
    var_w = ss_w / df_w if df_w > 0 else 0.0
    base_inv = sum(1.0 / len(y) for y in base) / k**2
    var_b, df_b = noise.between_var, noise.between_df
    if noise.runs < MIN_RUNS_FOR_BETWEEN:
        var_b, df_b = var_w, df_w  # unknown yet: assume nights vary as much as processes do
    between = var_b * (1.0 + 1.0 / k)
    d = float(cur.mean() - np.mean([y.mean() for y in base]))
    within = var_w * (1.0 / n_c + base_inv)
    se2 = between + within
    df = _satterthwaite(between, df_b, within, df_w)
    result = LatencyVerdict(
        "inconclusive",
        change=math.expm1(d),
        alpha=thresholds.alpha,
        current_reps=n_c,
        baseline_reps=sum(len(y) for y in base),
        baseline_runs=k,
        noise=Noise(var_w, df_w, var_b, df_b, noise.runs),
    )
    if se2 > 0 and df <= 0:
        return replace(
            result,
            reps_needed=2,
            detail="no noise estimate yet: one repetition per run and no history",
        )
    if se2 <= 0:  # a noiseless board (the emulator at noise 0): the change is exact
        p, se, t_crit, t_equiv = (0.0 if d != 0 else 1.0), 0.0, 0.0, 0.0
    else:
        se = math.sqrt(se2)
        p = float(2.0 * stats.t.sf(abs(d) / se, df))
        t_crit = float(stats.t.ppf(1.0 - thresholds.alpha / 2.0, df))
        t_equiv = float(stats.t.ppf(1.0 - EQUIVALENCE_ALPHA, df))
    low, high = d - t_crit * se, d + t_crit * se
    limit = math.log1p(thresholds.min_effect)
    significant = p < thresholds.alpha
    result = replace(result, ci=(math.expm1(low), math.expm1(high)), p_value=p)
    change_pct, m_pct = 100.0 * math.expm1(d), 100.0 * thresholds.min_effect
    if significant and d >= limit:
        detail = f"{change_pct:+.1f}% slower (p={p:.2g}, threshold {m_pct:.0f}%)"
        return replace(result, verdict="regressed", detail=detail)
    if significant and d <= -limit:
        detail = f"{-change_pct:.1f}% faster (p={p:.2g}, threshold {m_pct:.0f}%)"
        return replace(result, verdict="improved", detail=detail)
    if abs(d) + t_equiv * se < limit:
        detail = f"{change_pct:+.1f}%, any change below {m_pct:.0f}%"
        return replace(result, verdict="unchanged", detail=detail)
    reps = _reps_needed(
        between,
        var_w,
        base_inv,
        t_crit,
        float(stats.norm.ppf(thresholds.power)),
        limit,
        abs(d),
        n_c,
    )
    how = (
        f"{reps} repetitions would settle it"
        if reps is not None
        else "more repetitions tonight will not settle it (run-to-run noise, or the baseline's "
        "own uncertainty: a longer window:K baseline helps with that)"
    )
    ci_low, ci_high = (100.0 * math.expm1(low), 100.0 * math.expm1(high))
    detail = (
        f"{change_pct:+.1f}% (CI {ci_low:+.1f}%..{ci_high:+.1f}%): too noisy to tell a "
        f"{m_pct:.0f}% change; {how}"
    )
    return replace(result, reps_needed=reps, detail=detail)


def _satterthwaite(a: float, df_a: float, b: float, df_b: float) -> float:
    """Welch-Satterthwaite degrees of freedom of a + b (variance parts with their df)."""
    if a <= 0:
        return df_b
    if b <= 0:
        return df_a
    if df_a <= 0 or df_b <= 0:
        return 0.0
    return (a + b) ** 2 / (a * a / df_a + b * b / df_b)


def _reps_needed(
    between: float,
    var_w: float,
    base_inv: float,
    t_crit: float,
    z_power: float,
    limit: float,
    observed: float,
    n_now: int,
) -> int | None:
    """Smallest repetition count tonight with (t_crit + z_power) * SE <= limit (an 80% chance
    to detect a change of the minimum effect); if that is already met, the count that makes
    the interval clear the threshold at the observed change. None when no count reaches it."""

    def smallest(half_width: float) -> int | None:
        room = half_width**2 - between - var_w * base_inv
        if var_w <= 0:
            return None if room < 0 else n_now + 1
        if room <= 0:
            return None
        n = math.ceil(var_w / room)
        return n if n <= MAX_REPETITIONS else None

    n = smallest(limit / (t_crit + z_power))
    if n is not None and n <= n_now:
        gap = abs(limit - observed)
        n = smallest(gap / t_crit) if gap > 0 else None
    return None if n is None else max(n, n_now + 1)


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
        return AccuracyVerdict(metric, "new", current=p_c, detail="no baseline accuracy")
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
        """The most alarming of the latency and accuracy verdicts (new/missing/failed: as is)."""
        names: list[VerdictName] = [self.latency.verdict]
        if self.latency.verdict not in ("new", "missing", "failed"):
            names += [a.verdict for a in self.accuracy if a.verdict not in ("new", "failed")]
        return max(names, key=lambda v: SEVERITY[v])

    @property
    def detail(self) -> str:
        parts = [self.latency.detail, *(a.detail for a in self.accuracy if a.detail)]
        if self.fingerprint_changes:
            parts.append("board changed since the baseline: " + "; ".join(self.fingerprint_changes))
        if self.note:
            parts.append(self.note)
        return "; ".join(p for p in parts if p)

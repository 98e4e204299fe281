"""The nightly latency regression detector: one pure entry point, `judge`.

    judge(history: Sequence[Night], tonight: Sequence[float],
          config: DetectorConfig | None = None, pooled: PooledNoise | None = None) -> Judgement

The nightly (history/baselines.py), `imxbench compare` and benchmarks/regression_power.py all
call it. Pure: frozen dataclasses and functions, no I/O; imports only the standard library,
numpy and (lazily, inside functions) scipy. The measured figures below come from
benchmarks/regression_power.py (docs/PERFORMANCE.md, "Regression power") and from the study
that chose the per-night location (issue 14). Work is on y = ln(latency): noise is
multiplicative.

Input: the series' earlier nights (`Night`: repetition latencies in µs, the verdict `judge` gave
that night, `accepted` = a human ran `baseline set` on it), tonight's repetitions, a config and
optionally a `PooledNoise` prior from the board's other cells.

1. Per-night location: the CLIPPED MEAN, the mean of the night's ln latencies within `clip_sd`
   (4) robust repetition SDs of the night's median (the repetition SD is pooled robustly over
   the last 60 nights: the median of per-night variances over the median of chi2_df/df).
   A location study, 5 repetitions, error of the night's location (SD; 99.5% quantile):
   Gaussian 2%: mean 0.89/2.30, median 1.07/2.76, HL 0.93/2.40, clipped 0.90/2.30;
   5% of repetitions 30% slower: mean -/10.7, HL -/13.0, median -/1.76, clipped -/1.24;
   Student-t(3): mean 0.90/2.78, median 0.74/2.10, clipped 0.74/2.07; bimodal per process:
   mean 0.71, median 1.25, clipped 0.71. The clipped mean is as good as the best everywhere.
2. Night noise V = variance of a night's location (repetition noise plus night-to-night
   noise), learned from EVERY night of the last `noise_nights` (60), whatever its verdict, from
   successive differences D of night locations (E D^2 = 2V; a step inflates one difference, a
   drift barely any). |D| beyond `trim_sd` (4) robust SDs (1.4826 median|D|) are trimmed only
   if they are rare (<= `trim_max_share`, 15%, of the differences): more are a second mode
   (per-boot bimodality), not outliers, and all are kept. df: von Neumann 2(m-1)^2/(3m-4).
3. Short histories: V is pooled with a prior (night SD `prior_night_noise` 1%, `prior_df` 2
   pseudo-df; or a `PooledNoise` from the other cells with its own df), quantiles from
   Student t with the summed df, and with fewer than `short_history_nights` (10) nights and no
   pooled prior the night SD is floored at `short_history_floor` (2%). Measured on series of
   1% repetitions + 2% night noise, nights 1-3: prior+floor 0.00% false alarms, recall +10%
   7.8%; pooled prior 0.68% false alarms, recall +10% 83.5%. Without the floor (prior 1%,
   df 2) bimodal-per-boot series reached 0.86-1.1% false alarms, nearly all born in nights
   5-9. Recall is deliberately low for the first nights. Once the history carries as many df
   as the prior, the pooled V is never below the history's own (a prior may raise the noise
   estimate, never lower what the nights show).
4. Change points instead of verdict gating. A segment starts at the last accepted night, or at
   the first of `improve_confirm_nights` (2) consecutive nights judged improved (rule: an
   improvement is reported, and accepted automatically once it held 2 nights in a row). The
   baseline is ANCHORED: the first `baseline_nights` (30) eligible nights of the segment
   (eligible: not judged regressed or improved; after the segment's first regressed night only
   nights judged unchanged), its level the Hodges-Lehmann estimate of their locations. So an
   unaccepted regression never enters the baseline however many nights pass. A regressed night
   that did not persist (the last `release_nights` (3) nights not regressed and the HL level
   since it within m/2 of the baseline) is a transient: the freeze is released.
5. Tests, one-sided per comparison (alpha per cell-night; the caller's Bonferroni over cells is
   on top if wanted), minimum effect m = 3%:
   * step: d = tonight - baseline, SE^2 = V_tonight + 1.1 V / k; regressed if d >= ln(1 + m)
     and p < `alpha_regressed` (0.006); improved if d <= -ln(1 + m), p < `alpha_improved`
     (0.001);
   * pair: a step that began last night. The mean of last night's and tonight's locations
     against the baseline without last night: regressed if >= m, p < `alpha_pair` (0.003) and
     tonight not faster than the baseline. Two nights halve the night-to-night noise that
     limits one night: with 5 repetitions of 2% and 1% night noise a +5% step is caught on its
     first night on ~80% of series, by its second on ~97% (one night alone cannot do better
     at this false-alarm rate: see docs/PERFORMANCE.md). Not after a regressed night (a
     transient is never paired with the next night);
   * drift (long horizon): HL level of the last `drift_window` (7) segment nights after the
     baseline (tonight included, >= 3) against the baseline: regressed if >= m, p <
     `alpha_drift` (0.002) and tonight not faster than the baseline; +0.1%/night is flagged on
     100% of series by drift night 60 (median first flag: drift night 18);
   * unchanged: the step's 90% CI lies inside +-m (TOST); otherwise inconclusive.
   Measured false alarms per unchanged cell-night: 0.00-0.95% in every family.
6. Paging: `Judgement.page` is True when tonight is regressed and the `confirm_nights - 1` (1)
   previous nights were too: confirm_nights = 2 delays a page by exactly one night.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

VerdictName = Literal["regressed", "improved", "unchanged", "inconclusive", "no baseline"]
Reason = Literal["step", "pair", "drift", "equivalence", "none"]

LOCATION_VARIANCE_FACTOR = 1.05
"""Var(clipped mean of n) ~ 1.05 s^2 / n for Gaussian repetitions (1.003 measured at n = 5)."""
HL_VARIANCE_FACTOR = 1.1
"""Var(HL of k night locations) ~ 1.1 V / k (asymptotically 1.047; a margin for small k)."""


@dataclass(frozen=True)
class Night:
    """One earlier night of a series."""

    latencies_us: tuple[float, ...]
    """One latency per repetition, microseconds. Empty: the cell failed that night (skipped)."""
    verdict: str | None = None
    """What `judge` said that night (None: not judged)."""
    accepted: bool = False
    """A human ran `baseline set` on this night: a new segment (baseline) starts here."""


@dataclass(frozen=True)
class PooledNoise:
    """A prior for the night-to-night noise from the board's other cells (`pooled_noise`)."""

    night_sd: float
    """Night-to-night SD beyond repetition noise, on the ln scale (0.01 = 1%)."""
    df: float
    """Degrees of freedom it carries."""


@dataclass(frozen=True)
class DetectorConfig:
    """Thresholds. Alphas are one-sided and per comparison (per cell-night)."""

    min_effect: float = 0.03
    alpha_regressed: float = 0.006
    alpha_improved: float = 0.001
    alpha_drift: float = 0.002
    alpha_pair: float = 0.003
    equivalence_alpha: float = 0.05
    baseline_nights: int = 30
    noise_nights: int = 60
    drift_window: int = 7
    prior_night_noise: float = 0.01
    prior_df: float = 2.0
    short_history_nights: int = 10
    short_history_floor: float = 0.02
    trim_sd: float = 4.0
    trim_max_share: float = 0.15
    clip_sd: float = 4.0
    release_nights: int = 3
    improve_confirm_nights: int = 2
    confirm_nights: int = 2
    pooled_min_nights: int = 2


@dataclass(frozen=True)
class Comparison:
    """One test of tonight (step) or of the last nights (drift) against the baseline, on the
    ratio scale."""

    change: float
    """level / baseline - 1 (+0.05: 5% slower)."""
    ci: tuple[float, float]
    """Two-sided (1 - 2 alpha_regressed) interval of `change`."""
    p_slower: float
    """One-sided p-value against 'not slower'."""
    p_faster: float
    nights: int
    """Nights in the compared level (1 for the step test)."""


@dataclass(frozen=True)
class Judgement:
    """Tonight's verdict and its evidence."""

    verdict: VerdictName
    reason: Reason = "none"
    step: Comparison | None = None
    drift: Comparison | None = None
    pair: Comparison | None = None
    """Tonight and the night before, together, against the baseline without that night."""
    tonight_us: float | None = None
    """Tonight's level: exp of the clipped mean of its ln latencies (µs)."""
    baseline_us: float | None = None
    """Baseline level: exp of the HL estimate of the baseline nights' levels (µs)."""
    baseline_nights: tuple[int, ...] = ()
    """Indices (into `history`) of the nights that form the baseline."""
    segment_start: int | None = None
    frozen: bool = False
    """The segment has an unaccepted regression: the baseline is the level before it."""
    night_sd: float | None = None
    """SD of a night's location (ln scale), prior and history pooled."""
    within_sd: float | None = None
    """Repetition-to-repetition SD (ln scale), robust pooled."""
    noise_df: float | None = None
    trimmed: int = 0
    """Successive differences trimmed as outliers."""
    page: bool = False
    detail: str = ""


# ---------------------------------------------------------------------------------------------
# Entry point


def judge(
    history: Sequence[Night],
    tonight: Sequence[float],
    config: DetectorConfig | None = None,
    pooled: PooledNoise | None = None,
) -> Judgement:
    """Tonight's repetitions (µs) against the series' history (oldest first).

    Pass at least the nights since the last accepted night and the last `noise_nights`.
    `pooled`: an optional prior for the night-to-night noise from the board's other cells
    (`pooled_noise`); without it the config's `prior_night_noise` is used.
    Raises ValueError on an empty tonight or a latency that is not finite and > 0 (tonight or
    in the history); history nights with no repetitions (failed cells) are skipped.
    """
    cfg = config or DetectorConfig()
    st_t = _stats_of(tonight, "tonight")
    stats = {
        i: _stats_of(n.latencies_us, f"night {i}") for i, n in enumerate(history) if n.latencies_us
    }
    usable = sorted(stats)
    recent = usable[-cfg.noise_nights :]
    within_var = _within_var([stats[i] for i in recent] + [st_t])
    cut = cfg.clip_sd * math.sqrt(within_var)
    loc_t, n_t = _location(st_t, cut), st_t.n
    if not usable:
        return Judgement(
            "no baseline",
            tonight_us=math.exp(loc_t),
            within_sd=math.sqrt(within_var),
            detail="no earlier night: no baseline",
        )
    loc = {i: _location(stats[i], cut) for i in recent}

    def location(i: int) -> float:
        if i not in loc:
            loc[i] = _location(stats[i], cut)
        return loc[i]

    n_typ = _median([float(stats[i].n) for i in recent])
    hist_var, hist_df, trimmed = _night_var(np.array([loc[i] for i in recent]), cfg)
    rep_part = LOCATION_VARIANCE_FACTOR * within_var / n_typ
    if pooled is not None:
        prior_var, prior_df = pooled.night_sd**2 + rep_part, pooled.df
    else:
        prior_var, prior_df = cfg.prior_night_noise**2 + rep_part, cfg.prior_df
    df = prior_df + hist_df
    var = (prior_df * prior_var + hist_df * hist_var) / df
    if hist_df >= prior_df:
        # once the nights carry as much evidence as the prior, the prior may no longer pull
        # their noise down (1% prior, 2% nights: 0.95% -> 0.80% false alarms)
        var = max(var, hist_var)
    if pooled is None and len(usable) < cfg.short_history_nights:
        var = max(var, cfg.short_history_floor**2 + rep_part)  # young series: a floor
    var_tonight = max(
        var + LOCATION_VARIANCE_FACTOR * within_var * max(0.0, 1.0 / n_t - 1.0 / n_typ),
        LOCATION_VARIANCE_FACTOR * within_var / n_t,
    )
    limit = math.log1p(cfg.min_effect)
    start = _segment_start(history, usable, cfg)
    base_idx, first_bad = _baseline_nights(history, usable, start, cfg, frozen=True)
    base = _hodges_lehmann(np.array([location(i) for i in base_idx]))
    frozen = first_bad is not None
    if first_bad is not None:
        # A regression that did not persist is a transient, not a change point: released
        # when the last `release_nights` nights were not regressed and the level since the
        # regressed night (HL, the regressed night included) is within m/2 of the baseline.
        after = [i for i in usable if i >= first_bad]
        quiet = after[-cfg.release_nights :]
        if (
            len(after) > cfg.release_nights
            and all(history[i].verdict != "regressed" for i in quiet)
            and abs(_hodges_lehmann(np.array([location(i) for i in after])) - base) < limit / 2
        ):
            base_idx, _ = _baseline_nights(history, usable, start, cfg, frozen=False)
            base = _hodges_lehmann(np.array([location(i) for i in base_idx]))
            frozen = False
    k = len(base_idx)
    base_var = HL_VARIANCE_FACTOR * var / k
    d = loc_t - base
    step = _test(d, var_tonight + base_var, df, 1, cfg)
    window = [
        i
        for i in usable
        if i >= start and i > base_idx[-1] and (frozen or history[i].verdict != "regressed")
    ][-(cfg.drift_window - 1) :]  # a transient (released) regressed night is not a level
    drift = None
    if len(window) + 1 >= 3:
        w_locs = np.array([location(i) for i in window] + [loc_t])
        w = len(w_locs)
        drift = _test(
            _hodges_lehmann(w_locs) - base, HL_VARIANCE_FACTOR * var / w + base_var, df, w, cfg
        )
    pair = _pair_test(history, usable, base_idx, start, location, loc_t, var, var_tonight, df, cfg)
    verdict: VerdictName = "inconclusive"
    reason: Reason = "none"
    if d >= limit and step.p_slower < cfg.alpha_regressed:
        verdict, reason = "regressed", "step"
    elif (
        pair is not None
        and math.log1p(pair.change) >= limit
        and d >= 0.0
        and pair.p_slower < cfg.alpha_pair
    ):
        verdict, reason = "regressed", "pair"
    elif (
        drift is not None
        and math.log1p(drift.change) >= limit
        and d >= 0.0
        and drift.p_slower < cfg.alpha_drift
    ):
        verdict, reason = "regressed", "drift"
    elif d <= -limit and step.p_faster < cfg.alpha_improved:
        verdict, reason = "improved", "step"
    elif (
        drift is not None
        and math.log1p(drift.change) <= -limit
        and d <= 0.0
        and drift.p_faster < cfg.alpha_drift
    ):
        verdict, reason = "improved", "drift"
    else:
        t_eq = _t_quantile(1.0 - cfg.equivalence_alpha, df)
        if abs(d) + t_eq * math.sqrt(var_tonight + base_var) < limit:
            verdict, reason = "unchanged", "equivalence"
    page = verdict == "regressed" and _previous_regressed(history, cfg.confirm_nights - 1)
    return Judgement(
        verdict=verdict,
        reason=reason,
        step=step,
        drift=drift,
        pair=pair,
        tonight_us=math.exp(loc_t),
        baseline_us=math.exp(base),
        baseline_nights=tuple(base_idx),
        segment_start=start,
        frozen=frozen,
        night_sd=math.sqrt(var),
        within_sd=math.sqrt(within_var),
        noise_df=df,
        trimmed=trimmed,
        page=page,
        detail=_detail(verdict, reason, step, drift, pair, cfg, frozen, k),
    )


def _pair_test(
    history: Sequence[Night],
    usable: list[int],
    base_idx: list[int],
    start: int,
    location: Callable[[int], float],
    loc_t: float,
    var: float,
    var_tonight: float,
    df: float,
    cfg: DetectorConfig,
) -> Comparison | None:
    """A step that began last night: the mean of last night's and tonight's locations against
    the baseline without last night (None when last night is not a usable night of this segment
    after the baseline's first night, was already judged regressed, or the baseline would be
    empty without it). Two nights halve the night-to-night noise that limits the one-night test:
    a +5% step in 2% repetition + 1% night noise is caught by its second night on ~99% of series
    instead of ~80% on its first."""
    if len(usable) < 2 or cfg.alpha_pair <= 0.0:
        return None
    prev = usable[-1]
    if prev <= start or history[prev].verdict in ("regressed", "improved"):
        return None
    base = [i for i in base_idx if i != prev]
    if not base:
        return None
    level = _hodges_lehmann(np.array([location(i) for i in base]))
    d2 = (location(prev) + loc_t) / 2.0 - level
    se2 = (var + var_tonight) / 4.0 + HL_VARIANCE_FACTOR * var / len(base)
    return _test(d2, se2, df, 2, cfg)


def pooled_noise(
    histories: Sequence[Sequence[Night]], config: DetectorConfig | None = None
) -> PooledNoise | None:
    """The night-to-night noise (beyond repetition noise) of a board's other cells: their
    variances pooled by degrees of freedom. None if no cell has `pooled_min_nights` (2)
    usable nights (two nights give one difference, df 1: six cells of two nights pool df 6)."""
    cfg = config or DetectorConfig()
    total, dfs = 0.0, 0.0
    for history in histories:
        stats = [_stats_of(n.latencies_us, "pooled night") for n in history if n.latencies_us][
            -cfg.noise_nights :
        ]
        if len(stats) < max(2, cfg.pooled_min_nights):
            continue
        within = _within_var(stats)
        cut = cfg.clip_sd * math.sqrt(within)
        var, df, _ = _night_var(np.array([_location(s, cut) for s in stats]), cfg)
        n_typ = _median([float(s.n) for s in stats])
        between = max(0.0, var - LOCATION_VARIANCE_FACTOR * within / n_typ)
        total += df * between
        dfs += df
    return PooledNoise(math.sqrt(total / dfs), dfs) if dfs > 0 else None


# ---------------------------------------------------------------------------------------------
# State


def _segment_start(history: Sequence[Night], usable: list[int], cfg: DetectorConfig) -> int:
    """The first night of the current level: the last accepted night, or the first night of
    the last run of `improve_confirm_nights` consecutive improved nights after it."""
    start = usable[0]
    for i in usable:
        if history[i].accepted:
            start = i
    run, run_start = 0, start
    need = max(1, cfg.improve_confirm_nights)
    for i in usable:
        if i <= start:
            continue
        if history[i].verdict == "improved":
            run_start = i if run == 0 else run_start
            run += 1
            if run >= need:
                start = run_start
        else:
            run = 0
    return start


def _baseline_nights(
    history: Sequence[Night], usable: list[int], start: int, cfg: DetectorConfig, frozen: bool
) -> tuple[list[int], int | None]:
    """The first `baseline_nights` eligible nights of the segment, and the segment's first
    regressed night (None: none). Eligible: the segment's first night(s); later nights not
    judged regressed or improved; with `frozen`, after the first regressed night only nights
    judged unchanged."""
    chosen: list[int] = []
    first_bad: int | None = None
    confirm = max(1, cfg.improve_confirm_nights)
    for i in usable:
        if i < start:
            continue
        night = history[i]
        if i == start or night.accepted or (night.verdict == "improved" and i - start < confirm):
            ok = True
        elif frozen and first_bad is not None:
            ok = night.verdict == "unchanged"
        else:
            ok = night.verdict not in ("regressed", "improved")
        if night.verdict == "regressed" and i != start and first_bad is None:
            first_bad = i
        if ok and len(chosen) < cfg.baseline_nights:
            chosen.append(i)
    return chosen, first_bad


def _previous_regressed(history: Sequence[Night], count: int) -> bool:
    if count <= 0:
        return True
    last = [n for n in history if n.latencies_us][-count:]
    return len(last) == count and all(n.verdict == "regressed" for n in last)


# ---------------------------------------------------------------------------------------------
# Statistics


def _stats_of(values: Sequence[float], what: str) -> _Stats:
    try:
        return _night_stats(tuple(values))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what}: {exc}") from None


def _median(values: Sequence[float]) -> float:
    y = sorted(values)
    mid = len(y) // 2
    return y[mid] if len(y) % 2 else (y[mid - 1] + y[mid]) / 2.0


@dataclass(frozen=True)
class _Stats:
    logs: tuple[float, ...]
    """Sorted ln latencies."""
    median: float
    var: float
    """Sample variance of the ln latencies (nan with one repetition)."""

    @property
    def n(self) -> int:
        return len(self.logs)


@lru_cache(maxsize=1 << 17)
def _night_stats(reps: tuple[float, ...]) -> _Stats:
    """A night's sorted ln latencies, their median and variance. Raises ValueError if there is
    no repetition or one is not finite and > 0 (memoised: a history's nights are summarised
    once, not once per judged night)."""
    if not reps:
        raise ValueError("no repetitions")
    for v in reps:
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0.0):
            raise ValueError(f"impossible latency {v!r} (must be finite and > 0)")
    y = tuple(sorted(math.log(v) for v in reps))
    n = len(y)
    if n < 2:
        return _Stats(y, y[0], math.nan)
    mean = sum(y) / n
    return _Stats(y, _median(y), sum((v - mean) ** 2 for v in y) / (n - 1))


def _location(st: _Stats, cut: float) -> float:
    """The clipped mean: the mean of the ln latencies within `cut` of the night's median (the
    median itself if none is)."""
    kept = [v for v in st.logs if abs(v - st.median) <= cut]
    return sum(kept) / len(kept) if kept else st.median


@lru_cache(maxsize=64)
def _chi2_median_ratio(df: int) -> float:
    from scipy.special import chdtri

    return float(chdtri(df, 0.5)) / df


def _within_var(stats: Sequence[_Stats]) -> float:
    """Robust pooled repetition variance: the median over nights of each night's variance,
    divided by the median of chi^2_df / df (so that it is unbiased for Gaussian repetitions;
    nights with an outlier repetition, ~23% of them in the sparse-outlier family, do not
    drag it up as a pooled mean would)."""
    scaled = [s.var / _chi2_median_ratio(s.n - 1) for s in stats if s.n >= 2]
    return _median(scaled) if scaled else 0.0


def _night_var(locs: np.ndarray, cfg: DetectorConfig) -> tuple[float, float, int]:
    """(variance of a night's location, its df, differences trimmed) from successive
    differences of night locations, rare outliers trimmed."""
    diffs = np.diff(locs)
    if len(diffs) == 0:
        return 0.0, 0.0, 0
    trimmed = 0
    if len(diffs) >= 5:
        scale = 1.4826 * float(np.median(np.abs(diffs)))
        out = np.abs(diffs) > cfg.trim_sd * scale if scale > 0 else np.zeros(len(diffs), bool)
        cap = max(1, int(cfg.trim_max_share * len(diffs)))
        if 0 < int(out.sum()) <= cap:
            diffs = diffs[~out]
            trimmed = int(out.sum())
    m = len(diffs) + 1
    df = 2.0 * (m - 1) ** 2 / (3.0 * m - 4.0) if m > 2 else 1.0
    return float(np.mean(diffs**2)) / 2.0, df, trimmed


def _hodges_lehmann(x: np.ndarray) -> float:
    i, j = np.triu_indices(len(x))
    return float(np.median((x[i] + x[j]) / 2.0))


def _t_quantile(q: float, df: float) -> float:
    from scipy.special import stdtrit

    return float(stdtrit(df, q))


def _test(d: float, var: float, df: float, nights: int, cfg: DetectorConfig) -> Comparison:
    from scipy.special import stdtr

    se = math.sqrt(max(var, 0.0))
    if se == 0.0:
        p_slow, p_fast = (0.0 if d > 0 else 1.0), (0.0 if d < 0 else 1.0)
        half = 0.0
    else:
        z = d / se
        p_slow, p_fast = float(stdtr(df, -z)), float(stdtr(df, z))
        half = _t_quantile(1.0 - cfg.alpha_regressed, df) * se
    return Comparison(
        math.expm1(d), (math.expm1(d - half), math.expm1(d + half)), p_slow, p_fast, nights
    )


def _detail(
    verdict: VerdictName,
    reason: Reason,
    step: Comparison,
    drift: Comparison | None,
    pair: Comparison | None,
    cfg: DetectorConfig,
    frozen: bool,
    k: int,
) -> str:
    lo, hi = step.ci
    text = (
        f"{100 * step.change:+.1f}% (CI {100 * lo:+.1f}..{100 * hi:+.1f}%) against a "
        f"baseline of {k} night(s)"
    )
    if frozen:
        text += ", frozen since an unaccepted regression"
    if drift is not None:
        text += f"; last {drift.nights} nights {100 * drift.change:+.1f}%"
    if reason == "pair":
        assert pair is not None
        text += f"; last night and tonight together {100 * pair.change:+.1f}%: a step since last"
        text += " night"
    if reason == "drift":
        text += f": a drift of at least {100 * cfg.min_effect:.0f}%"
    if verdict == "inconclusive":
        text += f": too noisy to tell a {100 * cfg.min_effect:.0f}% change"
    return text

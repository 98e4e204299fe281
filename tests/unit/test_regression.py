"""The regression statistics (pure): noise estimates, verdicts, false alarms and power by
simulation at fixed seeds, accuracy verdicts, baseline selection."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imxbench.analysis.regression import (
    VERDICTS,
    CellVerdict,
    LatencyVerdict,
    Noise,
    Thresholds,
    compare_accuracy,
    compare_samples,
    estimate_noise,
)
from imxbench.history.baselines import BaselinePolicy, noise_history, window_baseline
from imxbench.history.store import SeriesPoint
from imxbench.model.records import Fingerprint
from imxbench.model.series import SeriesKey, series_settings


def lognormal_runs(
    rng: np.random.Generator,
    runs: int,
    reps: int,
    within: float,
    between: float,
    level: float = 1.0,
) -> list[np.ndarray]:
    return [
        1000.0 * level * np.exp(rng.normal(rng.normal(0.0, between), within, reps))
        for _ in range(runs)
    ]


def test_noise_estimate_recovers_within_and_between_run_noise() -> None:
    rng = np.random.default_rng(11)
    noise = estimate_noise(lognormal_runs(rng, 200, 5, within=0.02, between=0.01))
    assert math.sqrt(noise.within_var) == pytest.approx(0.02, rel=0.1)
    assert math.sqrt(noise.between_var) == pytest.approx(0.01, rel=0.25)
    assert noise.within_df == 200 * 4 and noise.runs == 200
    assert noise.within_pct == pytest.approx(2.0, rel=0.1)


def test_one_step_in_the_history_barely_moves_the_between_run_noise() -> None:
    rng = np.random.default_rng(12)
    runs = lognormal_runs(rng, 30, 5, within=0.01, between=0.0)
    stepped = runs[:15] + [r * 1.10 for r in runs[15:]]  # an accepted 10% regression
    assert estimate_noise(stepped).between_pct < 2.5  # the plain spread of the means is ~5%


def false_alarms_and_power(
    within: float, between: float, *, history: int, window: int, trials: int, seed: int
) -> tuple[float, float]:
    """(share of unchanged cell-nights called regressed or improved, share of 5% slowdowns
    called regressed) with 5 repetitions, a night of 4 cells (Bonferroni), alpha 1%."""
    rng = np.random.default_rng(seed)
    thresholds = Thresholds().per_comparison(4)
    alarms = detected = 0
    for _ in range(trials):
        runs = lognormal_runs(rng, history, 5, within, between)
        noise = estimate_noise(runs)
        base = runs[-window:]
        same = lognormal_runs(rng, 1, 5, within, between)[0]
        slow = lognormal_runs(rng, 1, 5, within, between, level=1.05)[0]
        alarms += compare_samples(base, same, noise, thresholds).verdict in (
            "regressed",
            "improved",
        )
        detected += compare_samples(base, slow, noise, thresholds).verdict == "regressed"
    return alarms / trials, detected / trials


def test_power_and_false_alarms_at_2pct_emulator_noise_5_repetitions() -> None:
    # the emulator at noise_pct=2: a per-process offset of 1% (CV) and 2% per-inference jitter
    # averaged over >= 50 runs, so repetitions spread by ~1.1%
    false_alarm, recall = false_alarms_and_power(
        0.011, 0.0, history=10, window=5, trials=600, seed=21
    )
    assert recall >= 0.95
    assert false_alarm <= 0.01


def test_night_to_night_noise_is_not_a_regression() -> None:
    # 1% night-to-night offsets that repetitions cannot average away: no false alarms, even
    # though the repetitions of one night agree to ~1%
    false_alarm, _ = false_alarms_and_power(0.01, 0.01, history=10, window=1, trials=600, seed=22)
    assert false_alarm <= 0.01


def test_early_nights_assume_nights_vary_as_much_as_processes() -> None:
    rng = np.random.default_rng(23)
    base = lognormal_runs(rng, 1, 5, 0.01, 0.0)
    verdict = compare_samples(base, base[0] * 1.10, estimate_noise(base))
    assert verdict.verdict == "regressed"
    assert verdict.noise is not None and verdict.noise.between_var == verdict.noise.within_var


def test_verdict_kinds_and_their_details() -> None:
    rng = np.random.default_rng(24)
    history = lognormal_runs(rng, 10, 5, 0.01, 0.0)
    noise = estimate_noise(history)
    same = compare_samples(history[-5:], lognormal_runs(rng, 1, 5, 0.01, 0.0)[0], noise)
    assert same.verdict == "unchanged" and "any change below 3%" in same.detail
    slower = compare_samples(history[-5:], history[0] * 1.08, noise)
    assert slower.verdict == "regressed"
    assert slower.change == pytest.approx(0.08, abs=0.01)
    assert slower.ci is not None and slower.ci[0] > 0.03
    assert slower.p_value is not None and slower.p_value < 1e-6
    assert slower.detail.startswith(f"{100 * slower.change:+.1f}% slower (p=")
    faster = compare_samples(history[-5:], history[0] / 1.08, noise)
    assert faster.verdict == "improved" and "faster" in faster.detail
    assert compare_samples([], history[0], noise).verdict == "new"
    assert compare_samples(history, [], noise).verdict == "failed"


def test_a_small_real_change_is_not_a_regression() -> None:
    rng = np.random.default_rng(25)
    history = lognormal_runs(rng, 20, 20, 0.002, 0.0)
    verdict = compare_samples(history[-5:], history[0] * 1.015, estimate_noise(history))
    assert verdict.p_value is not None and verdict.p_value < 1e-6  # real...
    assert verdict.verdict == "unchanged"  # ...but below the 3% minimum effect


def test_inconclusive_says_how_many_repetitions_would_settle_it() -> None:
    rng = np.random.default_rng(26)
    noisy = lognormal_runs(rng, 2, 3, 0.04, 0.0)
    verdict = compare_samples(noisy[:1], noisy[1] * 1.03, estimate_noise(noisy[:1]))
    assert verdict.verdict == "inconclusive"
    assert verdict.reps_needed is None  # a 3-repetition baseline this noisy cannot be beaten
    history = lognormal_runs(rng, 30, 5, 0.025, 0.0)
    five_pct = Thresholds(min_effect=0.05)
    verdict = compare_samples(
        history[-5:], history[0][:3] * 1.03, estimate_noise(history), five_pct
    )
    assert verdict.verdict == "inconclusive"
    assert verdict.reps_needed is not None and verdict.reps_needed > 3
    assert f"{verdict.reps_needed} repetitions would settle it" in verdict.detail
    # and it does: that many repetitions of an unchanged board settle on "unchanged" mostly
    settled = [
        compare_samples(
            history[-5:], lognormal_runs(rng, 1, verdict.reps_needed, 0.025, 0.0)[0],
            estimate_noise(history), five_pct,
        ).verdict
        for _ in range(50)
    ]  # fmt: skip
    assert settled.count("unchanged") >= 35


def test_night_to_night_noise_cannot_be_settled_by_repetitions() -> None:
    rng = np.random.default_rng(27)
    history = lognormal_runs(rng, 30, 5, 0.005, 0.04)
    verdict = compare_samples(history[-1:], history[0], estimate_noise(history))
    assert verdict.verdict == "inconclusive"
    assert verdict.reps_needed is None
    assert "more repetitions tonight will not settle it" in verdict.detail


def test_a_noiseless_board_gives_exact_verdicts() -> None:
    flat = [[1000.0] * 3] * 4
    assert compare_samples(flat, [1050.0] * 3, estimate_noise(flat)).verdict == "regressed"
    assert compare_samples(flat, [1010.0] * 3, estimate_noise(flat)).verdict == "unchanged"
    assert compare_samples(flat, [1000.0] * 3, estimate_noise(flat)).p_value == 1.0


def test_bonferroni_divides_the_night_among_its_cells() -> None:
    assert Thresholds(alpha=0.01).per_comparison(4).alpha == pytest.approx(0.0025)
    assert Thresholds(alpha=0.01).per_comparison(0).alpha == pytest.approx(0.01)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(1.0, 1e6, allow_nan=False), min_size=0, max_size=6),
        min_size=0,
        max_size=6,
    ),
    st.lists(st.floats(1.0, 1e6, allow_nan=False), min_size=0, max_size=6),
)
def test_any_samples_give_a_verdict_and_a_valid_p_value(
    history: list[list[float]], current: list[float]
) -> None:
    verdict = compare_samples(history[-2:], current, estimate_noise(history))
    assert verdict.verdict in VERDICTS
    assert verdict.p_value is None or 0.0 <= verdict.p_value <= 1.0
    assert verdict.reps_needed is None or verdict.reps_needed >= 2


def test_accuracy_drops_are_judged_with_their_confidence_interval() -> None:
    drop = compare_accuracy("top1", (860, 1000), (800, 1000))
    assert drop.verdict == "regressed"
    assert drop.ci is not None and drop.ci[1] < 0
    assert drop.change == pytest.approx(-0.06)
    assert compare_accuracy("top1", (860, 1000), (860, 1000)).verdict == "unchanged"
    small_set = compare_accuracy("top1", (43, 50), (40, 50))  # -6 points on 50 images
    assert small_set.verdict == "inconclusive"
    assert "larger evaluation set" in small_set.detail
    assert compare_accuracy("top1", (800, 1000), (870, 1000)).verdict == "improved"
    assert compare_accuracy("top1", None, (870, 1000)).verdict == "new"


def test_cell_verdict_is_the_most_alarming_and_says_when_the_board_changed() -> None:
    latency = LatencyVerdict("unchanged", detail="+0.1%, any change below 3%")
    accuracy = compare_accuracy("top1", (860, 1000), (800, 1000))
    before = Fingerprint("imx93", kernel="6.12.34", delegate_hashes={"/usr/lib/x.so": "aa"})
    after = Fingerprint("imx93", kernel="6.12.40", delegate_hashes={"/usr/lib/x.so": "bb"})
    cell = CellVerdict(
        "imx93", "ethosu", "ethosu", latency, (accuracy,),
        fingerprint_changes=after.differences(before),
    )  # fmt: skip
    assert cell.verdict == "regressed"
    assert after.differences(before) == ("/usr/lib/x.so: aa -> bb", "kernel: 6.12.34 -> 6.12.40")
    assert "board changed since the baseline: /usr/lib/x.so: aa -> bb" in cell.detail


def test_series_ignore_the_repetition_count() -> None:
    a = series_settings({"repetitions": 3, "num_runs": 50})
    assert a == series_settings({"num_runs": 50, "repetitions": 5})
    assert a != series_settings({"repetitions": 3, "num_runs": 100})
    key = SeriesKey("imx8mp", "vx", "ab" * 32, a)
    assert len(key.digest) == 32 and key.digest == SeriesKey("imx8mp", "vx", "ab" * 32, a).digest


def point(run: str, verdict: str | None = None, status: str = "ok") -> SeriesPoint:
    return SeriesPoint(run, "2025", "nightly", status, (100.0, 101.0), verdict)


def test_window_baseline_skips_bad_runs_and_stops_at_a_level_change() -> None:
    newest_first = [
        point("r9", "regressed"),
        point("r8", "unchanged"),
        point("r7", status="failed"),
        point("r6", "inconclusive"),
        point("r5", "improved"),
        point("r4", "unchanged"),
    ]
    chosen = window_baseline(newest_first, 5, set())
    assert [p.run_id for p in chosen] == ["r8", "r6", "r5"]
    assert [p.run_id for p in window_baseline(newest_first, 1, set())] == ["r8"]
    assert [p.run_id for p in window_baseline(newest_first, 5, {"r6"})] == ["r8", "r6"]
    assert len(noise_history(newest_first)) == 3  # r8, r6, r4: not the improved step


def test_baseline_policy_parsing() -> None:
    assert BaselinePolicy.parse("previous") == BaselinePolicy("window", 1)
    assert str(BaselinePolicy.parse("window:7")) == "window:7"
    assert BaselinePolicy.parse("named") == BaselinePolicy("named", name="default")
    assert str(BaselinePolicy.parse("named:rel-6.12")) == "named:rel-6.12"
    for bad in ("window:0", "window:x", "latest"):
        with pytest.raises(Exception, match="--baseline"):
            BaselinePolicy.parse(bad)


def test_noise_defaults_are_empty() -> None:
    assert estimate_noise([]) == Noise()

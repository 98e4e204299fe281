"""The regression detector (pure): verdicts night after night at fixed seeds (first night,
frozen baseline until `baseline set`, transients, improvements, drift, outliers, short
histories), impossible timings, its LatencyVerdict, accuracy verdicts, the series key, the
history as the detector sees it (nights_of, judge), and the nightly's outcome line."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imxbench.analysis.detector import DetectorConfig, Judgement, Night, PooledNoise, judge
from imxbench.analysis.regression import (
    VERDICTS,
    CellVerdict,
    LatencyVerdict,
    Thresholds,
    VerdictName,
    compare_accuracy,
    latency_verdict,
)
from imxbench.errors import ConfigError
from imxbench.history import baselines
from imxbench.history.baselines import BaselinePolicy, nights_of
from imxbench.history.store import SeriesPoint
from imxbench.model.records import CellRecord, Fingerprint, RunHeader, RunRecord, Sample
from imxbench.model.series import SeriesKey, series_settings
from imxbench.report.nightly_formats import NightContext, headline, outcome, render_junit
from imxbench.run.job_record import cells_from_table


def reps(level: float, rng: np.random.Generator, cv: float = 0.01, n: int = 5) -> tuple[float, ...]:
    return tuple(float(v) for v in level * np.exp(rng.normal(0.0, cv, n)))


def run(
    levels: list[float], seed: int = 0, accept: frozenset[int] = frozenset()
) -> tuple[list[Night], list[Judgement]]:
    """Judge nights at `levels` (µs) in order, feeding each verdict back; `accept`: nights a
    human accepted (`baseline set`)."""
    rng = np.random.default_rng(seed)
    history: list[Night] = []
    said: list[Judgement] = []
    for i, level in enumerate(levels):
        r = reps(level, rng)
        j = judge(history, r)
        said.append(j)
        history.append(Night(r, j.verdict, accepted=i in accept))
    return history, said


# ---------------------------------------------------------------------------------------------
# The detector, night after night


def test_the_first_night_has_no_baseline() -> None:
    j = judge([], (1000.0, 1001.0, 999.0))
    assert j.verdict == "no baseline"
    assert j.tonight_us == pytest.approx(1000.0)
    assert judge([Night(())], (1000.0,)).verdict == "no baseline"  # only failed nights before
    lat = latency_verdict([], (1000.0, 1001.0))
    assert lat.verdict == "no baseline" and "nothing compared" in lat.detail
    assert lat.change is None and lat.p_value is None


@pytest.mark.parametrize("bad", [0.0, -5.0, math.nan, math.inf, -math.inf])
def test_impossible_timings_are_refused_and_make_a_failed_verdict(bad: float) -> None:
    with pytest.raises(ValueError, match="impossible latency"):
        judge([], (1000.0, bad, 1000.0))
    with pytest.raises(ValueError):
        judge([Night((1000.0, bad))], (1000.0, 1000.0))
    history = [Night((1000.0, 1001.0), "unchanged")] * 5
    lat = latency_verdict(history, (1000.0, bad))
    assert lat.verdict == "failed" and lat.detail.startswith("impossible timing: tonight:")


def test_no_repetition_tonight_is_failed() -> None:
    with pytest.raises(ValueError):
        judge([Night((1000.0,))], ())
    assert latency_verdict([Night((1000.0,))], ()).verdict == "failed"


def test_a_steady_series_is_unchanged() -> None:
    _, said = run([1000.0] * 40)
    assert said[0].verdict == "no baseline"
    assert all(j.verdict in ("unchanged", "inconclusive") for j in said[1:])
    assert sum(j.verdict == "unchanged" for j in said[20:]) >= 15


def test_a_5pct_step_stays_regressed_until_baseline_set_then_is_unchanged() -> None:
    levels = [1000.0] * 30 + [1050.0] * 40
    accept_at = 61  # 31 nights after the step
    _, said = run(levels, seed=5, accept=frozenset({accept_at}))
    # never accepted: regressed on its first night and still 30 nights later
    assert said[30].verdict == "regressed" and said[60].verdict == "regressed"
    assert sum(j.verdict == "regressed" for j in said[30 : accept_at + 1]) >= 29
    assert said[60].frozen and max(said[60].baseline_nights) < 30
    assert said[31].page  # two regressed nights in a row: a page
    # `baseline set` on night 61: the new level is the baseline
    after = said[accept_at + 1 :]
    assert all(j.verdict in ("unchanged", "inconclusive") for j in after)
    assert sum(j.verdict == "unchanged" for j in after) >= len(after) // 2
    assert after[-1].segment_start == accept_at and not after[-1].frozen


def test_a_regression_of_10pct_is_named_with_its_change_and_interval() -> None:
    history = [Night((1000.0, 1005.0, 995.0, 1002.0, 998.0), "unchanged") for _ in range(30)]
    lat = latency_verdict(history, (1101.0, 1099.0, 1100.0, 1103.0, 1097.0))
    assert lat.verdict == "regressed"
    assert lat.change == pytest.approx(0.10, abs=0.005)
    assert lat.ci is not None and lat.ci[0] > 0.03
    assert lat.p_value is not None and lat.p_value < lat.alpha  # type: ignore[operator]
    assert lat.alpha == pytest.approx(DetectorConfig().alpha_regressed)
    assert lat.baseline_nights == 30 and lat.reps_needed is None
    assert lat.detail.startswith("+10.0% (CI ")


def test_a_transient_bad_night_does_not_freeze_forever() -> None:
    levels = [1000.0] * 30 + [1100.0] + [1000.0] * 20
    _, said = run(levels)
    assert said[30].verdict == "regressed"
    assert all(j.verdict in ("unchanged", "inconclusive") for j in said[31:])
    assert not said[-1].frozen


def test_a_step_too_small_for_one_noisy_night_is_caught_by_two_nights_together() -> None:
    # 30 nights with 1.2% night-to-night swings, then a +5% step: last night alone was
    # inconclusive, tonight alone too, but the two nights together are +5% (the pair test)
    rng = np.random.default_rng(11)
    night = [0.012 * x for x in (-1.0, 1.0) * 15]
    history = [Night(reps(1000.0 * math.exp(n), rng), "unchanged") for n in night]
    last = (1040.0, 1041.0, 1039.0, 1040.5, 1039.5)
    alone = judge(history, last)
    assert alone.verdict == "inconclusive"
    tonight = (1047.0, 1048.0, 1046.0, 1047.5, 1046.5)
    assert judge(history, tonight).verdict == "inconclusive"  # tonight alone: not enough
    found = judge([*history, Night(last, "inconclusive")], tonight)
    assert found.verdict == "regressed" and found.reason == "pair"
    assert found.pair is not None and found.pair.nights == 2
    assert found.pair.change == pytest.approx(0.0437, abs=0.004)
    assert "last night and tonight together" in found.detail
    lat = latency_verdict([*history, Night(last, "inconclusive")], tonight)
    assert lat.alpha == pytest.approx(DetectorConfig().alpha_pair)
    # after a regressed night, the pair test stays out: a transient is not paired with tonight
    after_bad = judge([*history, Night((1100.0,) * 5, "regressed")], (1000.0,) * 5)
    assert after_bad.pair is None and after_bad.verdict != "regressed"


def test_a_persistent_improvement_is_accepted_after_two_nights() -> None:
    levels = [1000.0] * 30 + [900.0] * 10
    _, said = run(levels)
    assert said[30].verdict == "improved" and said[31].verdict == "improved"
    assert said[32].segment_start == 30
    assert all(j.verdict in ("unchanged", "inconclusive") for j in said[33:])


def test_a_slow_drift_is_flagged() -> None:
    # +0.1% a night from night 30: never 3% from one night to the next
    levels = [1000.0] * 30 + [1000.0 * (1 + 0.001 * k) for k in range(1, 61)]
    _, said = run(levels, seed=3)
    flagged = [i for i, j in enumerate(said) if j.verdict == "regressed"]
    assert flagged and flagged[0] < 90
    assert said[-1].verdict == "regressed"
    assert any(j.reason == "drift" for j in said)


def test_an_outlier_repetition_is_ignored() -> None:
    history = [Night((1000.0, 1005.0, 995.0, 1002.0, 998.0), "unchanged") for _ in range(30)]
    j = judge(history, (1001.0, 999.0, 1300.0, 1003.0, 997.0))
    assert j.verdict == "unchanged"
    assert j.tonight_us == pytest.approx(1000.0, rel=0.003)


def test_an_outlier_night_in_the_history_is_trimmed() -> None:
    rng = np.random.default_rng(7)
    history = [Night(reps(1000.0, rng), "unchanged") for _ in range(30)]
    history[10] = Night(reps(1500.0, rng), "regressed")
    j = judge(history, reps(1000.0, rng))
    assert j.trimmed == 2 and j.night_sd is not None and j.night_sd < 0.012


def test_short_histories_are_conservative_unless_the_board_lends_its_noise() -> None:
    h = [Night((1000.0, 1001.0, 999.0, 1000.5, 999.5))]
    j = judge(h, (1040.0, 1041.0, 1039.0, 1040.5, 1039.5))
    assert j.verdict == "inconclusive"  # +4% on night 2: unknown night-to-night noise
    pooled = judge(h, (1100.0, 1101.0, 1099.0, 1100.5, 1099.5), pooled=PooledNoise(0.005, 100))
    assert pooled.verdict == "regressed"  # +10% with a tight prior from the board's other cells


def test_a_noiseless_board_gives_exact_verdicts() -> None:
    flat = [Night((1000.0,) * 3, "unchanged")] * 12
    assert judge(flat, (1050.0,) * 3).verdict == "regressed"
    assert judge(flat, (1010.0,) * 3).verdict == "unchanged"


def test_thresholds_set_the_detector() -> None:
    cfg = Thresholds().detector_config()
    assert cfg == DetectorConfig()
    strict = Thresholds(alpha=0.001, min_effect=0.05).detector_config()
    assert strict.min_effect == 0.05
    assert strict.alpha_regressed == pytest.approx(DetectorConfig().alpha_regressed / 10)
    with pytest.raises(AttributeError):
        cfg.min_effect = 0.05  # type: ignore[misc]


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
    verdict = latency_verdict([Night(tuple(h), "unchanged") for h in history], current)
    assert verdict.verdict in VERDICTS
    assert verdict.p_value is None or 0.0 <= verdict.p_value <= 1.0
    if verdict.verdict not in ("failed", "no baseline"):
        assert verdict.ci is not None and verdict.ci[0] <= verdict.ci[1]


# ---------------------------------------------------------------------------------------------
# Accuracy and a cell's verdict


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
    assert compare_accuracy("top1", None, (870, 1000)).verdict == "no baseline"


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
    new = CellVerdict("imx93", "ethosu", "ethosu", LatencyVerdict("no baseline"), (accuracy,))
    assert new.verdict == "no baseline"  # nothing compared: the accuracy has no baseline either


# ---------------------------------------------------------------------------------------------
# Series and the history as the detector sees it


def test_series_ignore_the_repetition_count() -> None:
    a = series_settings({"repetitions": 3, "num_runs": 50})
    assert a == series_settings({"num_runs": 50, "repetitions": 5})
    assert a != series_settings({"repetitions": 3, "num_runs": 100})
    key = SeriesKey("imx8mp", "vx", "ab" * 32, a)
    assert len(key.digest) == 32 and key.digest == SeriesKey("imx8mp", "vx", "ab" * 32, a).digest


def test_an_emulated_board_is_never_the_series_of_a_real_one() -> None:
    a = series_settings({"num_runs": 50})
    real = SeriesKey("imx8mp", "vx", "ab" * 32, a)
    emulated = SeriesKey("imx8mp", "vx", "ab" * 32, a, emulated=True)
    assert real.digest != emulated.digest
    # a real board's digest is the one older histories stored
    assert real.digest == SeriesKey("imx8mp", "vx", "ab" * 32, a, emulated=False).digest
    assert real.digest != SeriesKey("imx93", "vx", "ab" * 32, a).digest


def point(
    run: str, verdict: str | None = None, status: str = "ok", values: tuple[float, ...] = ()
) -> SeriesPoint:
    return SeriesPoint(run, "2025", "nightly", status, values or (100.0, 101.0), verdict)


def test_nights_of_keeps_every_verdict_marks_accepted_and_skips_failed_nights() -> None:
    oldest_first = [
        point("r1", "unchanged"),
        point("r2", "regressed"),
        point("r3", status="failed"),
        point("r4", "improved"),
        point("r5", "unchanged", values=(100.0, math.inf)),  # an older history's bad timing
        point("r6", None),
    ]
    nights, kept = nights_of(oldest_first, {"r4"})
    assert [p.run_id for p in kept] == ["r1", "r2", "r4", "r6"]
    assert [n.verdict for n in nights] == ["unchanged", "regressed", "improved", None]
    assert [n.accepted for n in nights] == [False, False, True, False]
    assert nights[0].latencies_us == (100.0, 101.0)


def test_baseline_policies_parse_and_old_ones_are_deprecated_aliases() -> None:
    assert BaselinePolicy.parse("anchored") == BaselinePolicy("anchored")
    assert str(BaselinePolicy.parse("anchored")) == "anchored"
    assert not BaselinePolicy.parse("anchored").deprecation
    for old in ("previous", "window:7"):
        policy = BaselinePolicy.parse(old)
        assert policy.kind == "anchored" and str(policy) == "anchored"
        assert f"--baseline {old} is deprecated" in policy.deprecation
    assert BaselinePolicy.parse("named") == BaselinePolicy("named", name="default")
    assert str(BaselinePolicy.parse("named:rel-6.12")) == "named:rel-6.12"
    for bad in ("window:0", "window:x", "latest", "anchored:3"):
        with pytest.raises(Exception, match="--baseline"):
            BaselinePolicy.parse(bad)


def test_a_baseline_name_is_one_that_named_name_can_give_back() -> None:
    """Before: `baseline set RUN --name ''` stored a baseline no `--baseline named:` reaches
    (an empty NAME means "default"), and any text (spaces, markup, 10 kB) was a name."""
    for good in ("default", "release-6.12", "rel_1+x"):
        assert baselines.baseline_name(good) == good
    for bad in ("", "a b", "<script>", "a:b", "x" * 65):
        with pytest.raises(ConfigError, match=r"--name .*a baseline name is 1 to 64"):
            baselines.baseline_name(bad)


def record(night: int, cells: dict[str, tuple[float, ...]], emulated: bool = False) -> RunRecord:
    head = RunHeader(
        f"r{night:03d}", "nightly", f"2025-01-01T00:{night // 60:02d}:{night % 60:02d}Z",
        "m.tflite", "ab" * 32, {"num_runs": 50}, emulated=emulated,
    )  # fmt: skip
    made = tuple(
        CellRecord(
            "imx8mp",
            name,
            name,
            samples=tuple(Sample(i + 1, "ok", {"inference_avg_us": v}) for i, v in enumerate(vs)),
        )
        for name, vs in cells.items()
    )
    return RunRecord(head, (Fingerprint("imx8mp"),), made)


def test_judge_uses_the_boards_other_cells_for_a_short_history() -> None:
    rng = np.random.default_rng(9)
    steady = [point(f"r{i:03d}", "unchanged", values=reps(1000.0, rng)) for i in range(12)]
    short = [point("r011", "unchanged", values=reps(500.0, rng))]
    tonight = record(12, {"cpu": reps(1000.0, rng), "vx": reps(550.0, rng)})
    histories = {("imx8mp", "cpu"): steady, ("imx8mp", "vx"): short}
    said = {v.cell: v for v in baselines.judge(tonight, histories, set(), ())}
    # +10% on the NPU's second night: the CPU cell's 12 nights lend the board's noise
    assert said["vx"].verdict == "regressed"
    assert said["vx"].baseline_run_ids == ("r011",)
    alone = {v.cell: v for v in baselines.judge(tonight, {("imx8mp", "vx"): short}, set(), ())}
    assert alone["vx"].verdict == "inconclusive"  # no other cell: the young-series floor
    assert alone["cpu"].verdict == "no baseline" and alone["cpu"].baseline_run_ids == ()


def test_an_impossible_timing_tonight_is_a_failed_cell() -> None:
    rng = np.random.default_rng(10)
    history = {("imx8mp", "cpu"): [point(f"r{i:03d}", values=reps(1000.0, rng)) for i in range(5)]}
    tonight = record(5, {"cpu": (1000.0, math.inf, 1001.0)})
    (said,) = baselines.judge(tonight, history, set(), ())
    assert said.verdict == "failed" and "impossible timing" in said.detail


def test_impossible_timings_make_a_failed_cell_never_stored_as_ok() -> None:
    rows = [
        {"board": "imx8mp", "cell": cell, "delegate": cell, "kind": "timed", "repetition": rep,
         "status": "ok", "inference_avg_us": avg}
        for cell, values in (("cpu", (1000.0, 1001.0)), ("vx", (220.0, math.nan)),
                             ("gpu", (0.0, 300.0)), ("npu", (-1.0, math.inf)))
        for rep, avg in enumerate(values, start=1)
    ]  # fmt: skip
    cells = {c.cell: c for c in cells_from_table(pd.DataFrame(rows), {})}
    assert cells["cpu"].status == "ok" and cells["cpu"].error is None
    assert cells["cpu"].latencies_us == (1000.0, 1001.0)
    for name in ("vx", "gpu", "npu"):
        assert cells[name].status == "failed"
        assert (cells[name].error or "").startswith("impossible timing: ")
    assert "repetition 2 inference_avg_us=nan" in (cells["vx"].error or "")
    assert [s.status for s in cells["vx"].samples] == ["ok", "failed"]
    assert cells["npu"].latencies_us == ()


# ---------------------------------------------------------------------------------------------
# The nightly's outcome


def cell_verdict(name: str, verdict: VerdictName) -> CellVerdict:
    return CellVerdict("imx8mp", name, name, LatencyVerdict(verdict, detail=f"{verdict} detail"))


def test_a_night_that_compared_nothing_is_no_baseline_never_clean() -> None:
    first = [cell_verdict("cpu", "no baseline"), cell_verdict("vx", "no baseline")]
    assert outcome(first, {}) == "NO BASELINE"
    assert headline(first, {}).startswith("NO BASELINE (nothing compared")
    mixed = [cell_verdict("cpu", "unchanged"), cell_verdict("vx", "no baseline")]
    assert outcome(mixed, {}) == "CLEAN"
    assert headline(mixed, {}) == "CLEAN (1 cell with no baseline: not compared)"
    unsure = [cell_verdict("cpu", "unchanged"), cell_verdict("vx", "inconclusive")]
    assert outcome(unsure, {}) == "CLEAN"  # nothing regressed: exit 0, but never a bare CLEAN
    assert headline(unsure, {}) == "CLEAN (1 inconclusive: too noisy to tell)"
    assert outcome([*first, cell_verdict("gpu", "failed")], {}) == "REGRESSION"
    assert outcome(first, {"imx93": "busy"}) == "INFRASTRUCTURE FAILURE"
    night = NightContext("r1", "2025", "m", "ab" * 32, "anchored", 0.01, 0.03, {}, ["imx8mp"])
    junit = render_junit(first, night)
    assert 'skipped="2"' in junit and "no baseline: no baseline detail" in junit


def test_a_skipped_cell_is_never_judged_never_failed_and_junit_skips_it() -> None:
    """A delegate that cannot run the model (a float model on the NPU): one `skipped` row in the
    results, a skipped CellRecord, a `skipped` verdict; the night stays clean (exit 0)."""
    reason = "a float32 model; the vx delegate runs only integer-quantized (int8/uint8) models"
    rows = [
        {"board": "imx8mp", "cell": "cpu", "delegate": "cpu", "kind": "timed", "repetition": 1,
         "status": "ok", "inference_avg_us": 1000.0, "error": None},
        {"board": "imx8mp", "cell": "vx", "delegate": "vx", "kind": "skipped", "repetition": 0,
         "status": "skipped", "inference_avg_us": None, "error": reason},
    ]  # fmt: skip
    cells = {c.cell: c for c in cells_from_table(pd.DataFrame(rows), {})}
    assert cells["cpu"].status == "ok"
    assert cells["vx"].status == "skipped" and cells["vx"].error == reason
    assert cells["vx"].samples == ()
    rng = np.random.default_rng(11)
    steady = [point(f"r{i:03d}", "unchanged", values=reps(1000.0, rng)) for i in range(12)]
    tonight = record(12, {"cpu": reps(1000.0, rng)})
    tonight = RunRecord(tonight.header, tonight.fingerprints, (*tonight.cells, cells["vx"]))
    said = {v.cell: v for v in baselines.judge(tonight, {("imx8mp", "cpu"): steady}, set(), ())}
    assert said["vx"].verdict == "skipped" and said["vx"].detail == reason
    assert said["vx"].accuracy == () and said["vx"].current_latency_us is None
    assert said["cpu"].verdict == "unchanged"
    verdicts = list(said.values())
    assert outcome(verdicts, {}) == "CLEAN"
    assert headline(verdicts, {}) == (
        "CLEAN (1 cell skipped: the delegate cannot run the model)"
    )
    first = [cell_verdict("cpu", "no baseline"), cell_verdict("vx", "skipped")]
    assert outcome(first, {}) == "NO BASELINE"
    assert "1 cell skipped" in headline(first, {})
    night = NightContext("r1", "2025", "m", "ab" * 32, "anchored", 0.01, 0.03, {}, ["imx8mp"])
    junit = render_junit(verdicts, night)
    assert 'skipped="1"' in junit and 'failures="0"' in junit and 'errors="0"' in junit
    assert f'<skipped message="skipped: {reason}"' in junit

"""Adaptive sampling (analysis/sampling.py): the distribution-free interval of the median, the
stopping rule, Kalibera & Jones' inferences per process, the warm-up check."""

from __future__ import annotations

import math
import random

import pytest

from imxbench.analysis.plan import RunSettings, adaptive_argv
from imxbench.analysis.sampling import (
    MIN_PROCESSES,
    Process,
    SamplingPolicy,
    inferences_per_process,
    median_interval,
    next_process,
    precision_of,
    slow_starts,
)


def test_no_interval_below_six_values_and_the_order_statistics_from_six_on() -> None:
    assert median_interval([1.0, 2, 3, 4, 5]) is None  # [x1, x5] covers 93.75% < 95%
    six = median_interval([6.0, 1, 5, 2, 4, 3])
    assert six is not None and (six.low, six.median, six.high) == (1, 3.5, 6)
    assert six.coverage == pytest.approx(1 - 2 / 64)
    nine = median_interval([float(v) for v in range(1, 10)])
    assert nine is not None and (nine.low, nine.high) == (2, 8)  # k = 2: 96.1%
    assert nine.coverage == pytest.approx(0.9609375)
    assert precision_of([100.0, 99, 101, 100, 98, 102]) == pytest.approx(0.02)
    assert precision_of([1.0, math.nan, 1, 1, 1, 1]) is None


def test_the_interval_covers_the_median_at_least_95_percent_of_the_time() -> None:
    rng = random.Random(3)
    for n in (6, 9, 15):
        hits = 0
        for _ in range(4000):
            values = [rng.lognormvariate(0, 0.5) for _ in range(n)]  # skewed; true median 1
            interval = median_interval(values)
            assert interval is not None
            hits += interval.low <= 1.0 <= interval.high
        assert hits / 4000 >= 0.94  # nominal >= 95%, minus Monte Carlo error


def _process(latency: float, warmup: float = 0.1, **kw: object) -> Process:
    base = {"std_us": latency / 100, "count": 20, "duration_s": 0.4, "warmup_secs": warmup}
    return Process(latency, **{**base, **kw})  # type: ignore[arg-type]


def test_it_runs_on_until_the_precision_is_reached_then_stops() -> None:
    policy = SamplingPolicy(precision=0.01)
    steady = [_process(1000 + d) for d in (0, 3, -2, 4, -3, 1)]
    assert not next_process(steady[: MIN_PROCESSES - 1], policy).stop
    done = next_process(steady, policy)
    assert done.stop and done.reason == "precision 0.35% reached"  # 3.5 / 1000.5
    noisy = [_process(1000 * (1 + 0.05 * s)) for s in (-1, 1, -1, 1, -1, 1)]
    more = next_process(noisy, policy)
    assert not more.stop and more.warmup_secs == policy.warmup_secs


def test_caps_stop_a_cell_that_never_gets_there() -> None:
    noisy = [_process(1000 * (1 + 0.05 * (-1) ** i)) for i in range(8)]
    assert next_process(noisy, SamplingPolicy(max_repetitions=8)).reason == (
        "--max-repetitions 8 reached"
    )
    assert next_process(noisy, SamplingPolicy(max_seconds=3)).reason == "--max-seconds 3 reached"


def test_kalibera_jones_inferences_grow_with_the_process_cost_and_the_within_noise() -> None:
    policy = SamplingPolicy()
    few = [_process(1000), _process(1010)]
    assert inferences_per_process(few, policy) == policy.first_runs  # not known yet
    # between-process SD ~0.8%, within 2%, a process's fixed cost 0.38 s, 1 ms inferences
    spread = [995.0, 1005.0, 1000.0, 990.0, 1010.0]
    processes = [_process(x, std_us=20.0) for x in spread]
    runs = inferences_per_process(processes, policy)
    assert 40 < runs < 200
    costly = [_process(x, std_us=20.0, duration_s=4.0) for x in spread]
    assert inferences_per_process(costly, policy) > runs


def test_slow_first_timed_inferences_double_the_warm_up_and_reset_the_count() -> None:
    steady = [_process(1000, first_timed_us=990, p95_us=1020) for _ in range(8)]
    assert not slow_starts(steady)
    ramp = [_process(1000, first_timed_us=1500, p95_us=1020) for _ in range(3)]
    assert slow_starts(steady[:5] + ramp)
    policy = SamplingPolicy()
    more = next_process(steady[:5] + ramp, policy)
    assert not more.stop and more.warmup_secs == 2 * policy.warmup_secs


def test_adaptive_settings_and_argv() -> None:
    argv = ["bm", "--graph=m.tflite", "--num_runs=50", "--warmup_runs=1", "--min_secs=1"]
    assert adaptive_argv(argv, 30, 0.1) == [
        "bm", "--graph=m.tflite", "--num_runs=30", "--min_secs=0", "--warmup_min_secs=0.1",
        "--warmup_runs=1",
    ]  # fmt: skip
    fixed, adaptive = RunSettings(), RunSettings(precision=0.01)
    assert "precision" not in fixed.as_dict() and fixed.as_dict()["repetitions"] == 3
    assert adaptive.as_dict()["precision"] == 0.01
    assert adaptive.as_dict()["repetitions"] == "adaptive"


def test_a_between_process_variance_estimated_at_zero_asks_no_more_than_the_fixed_cost() -> None:
    identical = [_process(3800.0, std_us=40.0, duration_s=0.38 + 20 * 0.0038) for _ in range(3)]
    runs = inferences_per_process(identical, SamplingPolicy())
    assert runs == 100  # 0.38 s of fixed cost / 3.8 ms, not max_runs


def test_the_table_prints_each_cells_precision_within_80_columns() -> None:
    from imxbench.analysis.results import build_table, summarize
    from imxbench.analysis.terminal_table import render_table

    rows = [
        {"board": "evk", "cell": cell, "delegate": cell, "kind": "timed", "repetition": rep,
         "status": "ok", "inference_avg_us": base * (1 + 0.002 * rep), "emulated": False,
         "execution": None, "delegate_time_share": None, "error": None,
         "vela_estimate_us": None}
        for cell, base in (("cpu@1t", 3800.0), ("vx", 220.0))
        for rep in range(1, 8)
    ]  # fmt: skip
    summary = summarize(build_table(rows))
    # n = 7: the interval is [x(1), x(7)]; 0.006 / 1.008
    assert summary["precision_pct"].tolist() == pytest.approx([0.595, 0.595], abs=1e-3)
    text = render_table(summary, width=80)
    assert all(len(line) <= 80 for line in text.splitlines())
    header = text.splitlines()[1].split()
    assert header[:4] == ["delegate", "latency", "ms", "±95%"]
    assert "0.60%" in text.splitlines()[3]
    few = summarize(build_table([r for r in rows if r["repetition"] <= 3]))
    assert few["precision_pct"].isna().all()
    assert "±95%" not in render_table(few, width=80)  # no cell has the 6 an interval needs

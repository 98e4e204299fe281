"""Accuracy statistics: Wilson intervals, per-class, confusion, agreement, latency percentiles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imxbench.accuracy.datasets import CIFAR10_CLASSES
from imxbench.accuracy.host_reference import top_k
from imxbench.analysis.accuracy_stats import (
    accuracy_metrics,
    agreement,
    latency_stats,
    wilson_interval,
)


def test_wilson_interval_known_values() -> None:
    # 170/200 = 85%: the MLPerf Tiny target on ic01; Wilson 95% = 79.39%..89.29%
    low, high = wilson_interval(170, 200)
    assert low == pytest.approx(0.79394, abs=1e-5) and high == pytest.approx(0.89286, abs=1e-5)
    for bound in (low, high):  # the Wilson bounds solve (p_hat - p)^2 = z^2 p (1 - p) / n
        assert (0.85 - bound) ** 2 == pytest.approx(1.959964**2 * bound * (1 - bound) / 200)
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert wilson_interval(10, 10) == (pytest.approx(0.7225, abs=1e-4), 1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


@given(st.integers(0, 500), st.integers(1, 500))
def test_wilson_interval_contains_the_estimate(k: int, n: int) -> None:
    k = min(k, n)
    low, high = wilson_interval(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0


def test_metrics_top1_top5_per_class_and_confusion() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2])
    predictions = np.array(
        [
            [0, 1, 2, 3, 4],  # right
            [1, 0, 2, 3, 4],  # wrong, in top-5
            [1, 0, 2, 3, 4],  # right
            [2, 3, 4, 5, 6],  # wrong, not in top-5
            [2, 0, 1, 3, 4],  # right
            [0, 1, 2, 3, 4],  # wrong, in top-5
        ]
    )
    m = accuracy_metrics(labels, predictions, CIFAR10_CLASSES)
    assert (m.images, m.top1_correct, m.top5_correct) == (6, 3, 5)
    assert m.top1 == 0.5 and m.top5 == pytest.approx(5 / 6)
    assert m.top1_ci == wilson_interval(3, 6)
    assert [(c.name, c.images, c.top1_correct) for c in m.per_class[:3]] == [
        ("airplane", 2, 1),
        ("automobile", 2, 1),
        ("bird", 2, 1),
    ]
    assert m.per_class[3].top1 is None  # no cat in the set
    assert m.confusion[0][:3] == (1, 1, 0) and m.confusion[1][:3] == (0, 1, 1)
    assert m.confusion[2][:3] == (1, 0, 1) and sum(map(sum, m.confusion)) == 6
    doc = m.as_dict()
    assert doc["top1_ci"] == list(m.top1_ci) and doc["per_class"][0]["name"] == "airplane"


def test_agreement_is_exact_for_identical_results_and_catches_a_perturbed_one() -> None:
    rng = np.random.default_rng(3)
    reference = rng.integers(0, 256, (50, 10)).astype(np.float32) / 256
    same = agreement(reference, top_k(reference)[:, 0], reference, top_k(reference)[:, 0])
    assert (same.top1_rate, same.max_abs_diff, same.mean_abs_diff) == (1.0, 0.0, 0.0)
    assert same.disagreeing == ()
    # an NPU that rounds differently: one quantization step off everywhere, and three images
    # whose two best classes swap
    device = reference + np.float32(1 / 256)
    flipped = [4, 17, 33]
    for i in flipped:
        best, second = top_k(reference[i : i + 1], 2)[0]
        device[i, best], device[i, second] = device[i, second], device[i, best] + 0.0
        device[i, second] += np.float32(2 / 256)
    result = agreement(device, top_k(device)[:, 0], reference, top_k(reference)[:, 0])
    assert result.disagreeing == tuple(flipped)
    assert result.top1_agree == 47 and result.top1_rate == pytest.approx(0.94)
    assert result.max_abs_diff > 1 / 256
    assert result.mean_abs_diff == pytest.approx(np.abs(device - reference).mean(), rel=1e-6)
    with pytest.raises(ValueError):
        agreement(device[:, :5], top_k(device)[:, 0], reference, top_k(reference)[:, 0])


def test_latency_percentiles_leave_the_first_invoke_apart() -> None:
    invoke_ns = np.array([50_000_000, *range(1_000_000, 1_100_000, 1000)], dtype=np.int64)
    stats = latency_stats(invoke_ns)  # 1 slow first invoke + 100 steady ones, 1.000..1.099 ms
    assert stats.invokes == 101 and stats.first_us == 50_000.0
    assert stats.p50_us == pytest.approx(1049.5)
    assert stats.p90_us == pytest.approx(1089.1)
    assert stats.p99_us == pytest.approx(1098.01)
    assert stats.min_us == 1000.0 and stats.max_us == 1099.0
    single = latency_stats(np.array([2000]))
    assert single.p50_us == single.first_us == 2.0

"""Accuracy statistics: pure functions over labels, predictions, outputs and invoke times.

* top-1 / top-5 accuracy with a 95% Wilson score interval (it stays inside 0..1 and behaves at
  0% and 100%, unlike the normal approximation);
* per-class accuracy and the confusion matrix (rows: true class, columns: predicted class);
* agreement of a device's results with the host reference on the same inputs: the share of
  images with the same top-1 class, and the max / mean absolute difference of the dequantized
  outputs over every (image, class) value;
* latency percentiles of the per-invoke wall times (numpy's linear interpolation); the first
  invoke is reported on its own and left out of the percentiles when there are others (it may
  include the delegate's graph compilation).

Nothing here does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

Z_95 = 1.959963984540054
"""The standard normal quantile of a two-sided 95% interval."""


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (low, high), in 0..1."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes <= 0 else max(0.0, min(p, centre - half))
    high = 1.0 if successes >= n else min(1.0, max(p, centre + half))
    return (low, high)


@dataclass(frozen=True)
class ClassAccuracy:
    name: str
    images: int
    top1_correct: int
    top1: float | None
    """None for a class with no image."""


@dataclass(frozen=True)
class AccuracyMetrics:
    images: int
    top1_correct: int
    top1: float
    top1_ci: tuple[float, float]
    top5_correct: int
    top5: float
    top5_ci: tuple[float, float]
    k: int
    """Width of the top-k list actually used (5, or fewer for models with fewer classes)."""
    per_class: tuple[ClassAccuracy, ...]
    confusion: tuple[tuple[int, ...], ...]
    """confusion[true][predicted] image counts."""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["top1_ci"] = list(self.top1_ci)
        out["top5_ci"] = list(self.top5_ci)
        out["per_class"] = [asdict(c) for c in self.per_class]
        out["confusion"] = [list(row) for row in self.confusion]
        return out


def accuracy_metrics(
    labels: np.ndarray, top_k: np.ndarray, class_names: Sequence[str]
) -> AccuracyMetrics:
    """Metrics of predictions `top_k` (N, k; best first) against `labels` (N,)."""
    labels = np.asarray(labels, dtype=np.int64)
    top_k = np.asarray(top_k, dtype=np.int64)
    if top_k.ndim != 2 or len(top_k) != len(labels) or top_k.shape[1] < 1:
        raise ValueError(f"top_k has shape {top_k.shape} for {len(labels)} labels")
    n = len(labels)
    classes = max(len(class_names), int(top_k.max(initial=0)) + 1, int(labels.max(initial=0)) + 1)
    names = [*class_names, *(str(i) for i in range(len(class_names), classes))]
    hit1 = top_k[:, 0] == labels
    hit5 = (top_k[:, :5] == labels[:, None]).any(axis=1)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels, top_k[:, 0]), 1)
    per_class = []
    for c in range(classes):
        mask = labels == c
        count, correct = int(mask.sum()), int(hit1[mask].sum())
        per_class.append(
            ClassAccuracy(names[c], count, correct, correct / count if count else None)
        )
    top1_correct, top5_correct = int(hit1.sum()), int(hit5.sum())
    return AccuracyMetrics(
        images=n,
        top1_correct=top1_correct,
        top1=top1_correct / n if n else 0.0,
        top1_ci=wilson_interval(top1_correct, n),
        top5_correct=top5_correct,
        top5=top5_correct / n if n else 0.0,
        top5_ci=wilson_interval(top5_correct, n),
        k=min(5, int(top_k.shape[1])),
        per_class=tuple(per_class),
        confusion=tuple(tuple(int(v) for v in row) for row in confusion),
    )


@dataclass(frozen=True)
class Agreement:
    """A device run against the host reference on the same inputs."""

    images: int
    top1_agree: int
    top1_rate: float
    disagreeing: tuple[int, ...]
    """Indices (in the evaluated data set) of images whose top-1 class differs."""
    max_abs_diff: float
    mean_abs_diff: float

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["disagreeing"] = list(self.disagreeing)
        return out


def agreement(
    outputs: np.ndarray, top1: np.ndarray, ref_outputs: np.ndarray, ref_top1: np.ndarray
) -> Agreement:
    """Compare device outputs (N, C) and top-1 classes (N,) with the reference's."""
    outputs = np.asarray(outputs, dtype=np.float64)
    ref_outputs = np.asarray(ref_outputs, dtype=np.float64)
    if outputs.shape != ref_outputs.shape or len(top1) != len(ref_top1):
        raise ValueError(f"device outputs {outputs.shape} vs reference {ref_outputs.shape}")
    same = np.asarray(top1) == np.asarray(ref_top1)
    diff = np.abs(outputs - ref_outputs)
    n = len(same)
    return Agreement(
        images=n,
        top1_agree=int(same.sum()),
        top1_rate=float(same.mean()) if n else 1.0,
        disagreeing=tuple(int(i) for i in np.flatnonzero(~same)),
        max_abs_diff=float(diff.max()) if diff.size else 0.0,
        mean_abs_diff=float(diff.mean()) if diff.size else 0.0,
    )


@dataclass(frozen=True)
class LatencyStats:
    """Per-invoke wall times measured around `invoke()` on the board, in µs."""

    invokes: int
    first_us: float
    p50_us: float
    p90_us: float
    p99_us: float
    mean_us: float
    min_us: float
    max_us: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def latency_stats(invoke_ns: np.ndarray) -> LatencyStats:
    """Percentiles of the invoke times (ns in, µs out); the first invoke stands apart."""
    times_us = np.asarray(invoke_ns, dtype=np.float64) / 1000.0
    if times_us.size == 0:
        raise ValueError("no invoke times")
    steady = times_us[1:] if times_us.size > 1 else times_us
    p50, p90, p99 = np.percentile(steady, [50, 90, 99])
    return LatencyStats(
        invokes=int(times_us.size),
        first_us=float(times_us[0]),
        p50_us=float(p50),
        p90_us=float(p90),
        p99_us=float(p99),
        mean_us=float(steady.mean()),
        min_us=float(steady.min()),
        max_us=float(steady.max()),
    )

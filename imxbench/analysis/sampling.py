"""Adaptive sampling: how many benchmark_model processes a cell needs for a stated precision.
Pure: no I/O, no clock; the pipeline feeds it each finished process and asks what to do next.

Method (docs/DESIGN.md, "Adaptive sampling"; after Kalibera & Jones, "Rigorous benchmarking in
reasonable time", ISMM 2013):

* A cell's latency is the median over its processes (repetitions) of each process's steady
  latency (benchmark_model's `Inference (avg)`), as the results table reports it. Its 95%
  confidence interval is distribution-free: the order statistics [x(k), x(n-k+1)] with the
  largest k whose binomial coverage 1 - 2 P(Binom(n, 1/2) <= k - 1) is at least 95%. No
  interval exists below n = 6 (coverage of [x(1), x(5)] is 93.75%).
* The precision is the interval's larger distance from the median, relative to the median:
  "1%" means the true median lies within the reported latency +- 1% with 95% confidence.
* Processes run until the precision reaches the target, or a cap (processes, seconds) is hit.
* Each process's timed phase is short and sized by Kalibera & Jones' optimum for a two-level
  experiment: r = sqrt(c_process / c_inference * s2_within / s2_between) inferences per
  process, c_process being a process's fixed cost (start-up, warm-up) and s2 the variance
  components estimated from the processes so far (within: benchmark_model's `std`; between:
  the variance of the process latencies beyond what the within part explains), and at most
  as many as fit in the process's fixed cost (three processes estimate a small between part
  poorly; this bounds a process's cost to twice its fixed cost).
* Warm-up: benchmark_model prints no per-inference series (only each phase's count, first,
  curr, min, max, avg, std and, from TFLite 2.20, p5/median/p95), so no stationarity test on
  the inference series is possible. What the output does show is each process's *first timed
  inference*: after a long enough warm-up it is one draw of the steady distribution and exceeds
  the process's own p95 with probability 5%. When the cell's processes show significantly more
  such slow starts (binomial tail < 1%), the warm-up was too short: it doubles, and the
  processes measured with the shorter one are set aside.
* The cold process (an NPU cell's first, its graph cache emptied) ran the same command as the
  first timed processes: its timed phase, after its warm-up, is one more steady-state sample
  when its own first timed inference shows the warm-up reached the steady state (`steady`,
  the criterion above for one process). It then counts as a process (`Process.cold`) for the
  interval and the stopping rule, but neither for the seconds spent (--max-seconds counts the
  timed processes) nor for a process's fixed cost (its start-up includes the graph compile).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95
MIN_PROCESSES = 6
"""The fewest processes with a distribution-free 95% interval for their median."""
SLOW_START_ALPHA = 0.01
SLOW_START_P = 0.05  # P(first timed inference > p95) when the warm-up was long enough


@dataclass(frozen=True)
class SamplingPolicy:
    """What `run` asks of each cell by default (`--precision`, `--max-repetitions`,
    `--max-seconds`)."""

    precision: float = 0.01
    """Target: the 95% interval's half-width, relative to the median (0.01 = 1%)."""
    max_repetitions: int = 30
    max_seconds: float = 60.0
    """Seconds of a cell's timed processes, at most (start-up and warm-up included)."""
    warmup_secs: float = 0.1
    """The first warm-up floor (`--warmup_min_secs`); doubled when the data say too short."""
    max_warmup_secs: float = 1.6
    first_runs: int = 20
    """Timed inferences per process until the variance components are known."""
    min_runs: int = 10
    max_runs: int = 2000


@dataclass(frozen=True)
class Process:
    """One finished timed process of a cell, as the sampler sees it (µs, seconds)."""

    latency_us: float
    """The process's steady latency (benchmark_model's `Inference (avg)`)."""
    std_us: float | None
    count: int | None
    duration_s: float
    warmup_secs: float
    first_timed_us: float | None = None
    p95_us: float | None = None
    cold: bool = False
    """The cell's cold process, counted because it was `steady` (module doc)."""


@dataclass(frozen=True)
class MedianInterval:
    median: float
    low: float
    high: float
    coverage: float
    n: int

    @property
    def precision(self) -> float:
        """The larger distance from the median to a bound, relative to the median."""
        if self.median <= 0:
            return math.inf
        return max(self.median - self.low, self.high - self.median) / self.median


@dataclass(frozen=True)
class Next:
    """The sampler's answer: stop (why), or run one more process with these settings."""

    stop: bool
    reason: str
    num_runs: int = 0
    warmup_secs: float = 0.0


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _binom_cdf(k: int, n: int, p: float = 0.5) -> float:
    """P(Binom(n, p) <= k)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(0, k + 1))


def median_interval(
    values: Sequence[float], confidence: float = CONFIDENCE
) -> MedianInterval | None:
    """The distribution-free interval for the median of `values` (module doc); None when
    there are too few values for one (or any is not a finite number)."""
    data = sorted(float(v) for v in values)
    if not data or any(not math.isfinite(v) for v in data):
        return None
    n = len(data)
    best: tuple[int, float] | None = None
    for k in range(1, n // 2 + 1):
        coverage = 1 - 2 * _binom_cdf(k - 1, n)
        if coverage >= confidence:
            best = (k, coverage)
        else:
            break
    if best is None:
        return None
    k, coverage = best
    return MedianInterval(_median(data), data[k - 1], data[n - k], coverage, n)


def precision_of(values: Sequence[float]) -> float | None:
    """The achieved precision (relative half-width of the 95% interval), None below 6 values."""
    interval = median_interval(values)
    return None if interval is None else interval.precision


def steady(first_timed_us: float | None, p95_us: float | None) -> bool:
    """Whether one process's warm-up reached the steady state, as far as its own numbers tell:
    its first timed inference is not above its p95 (unknown either way: not steady)."""
    return first_timed_us is not None and p95_us is not None and first_timed_us <= p95_us


def slow_starts(processes: Sequence[Process]) -> bool:
    """True when significantly many processes' first timed inference exceeds their p95: the
    warm-up did not reach the steady state (binomial tail below SLOW_START_ALPHA)."""
    known = [
        (p.first_timed_us, p.p95_us)
        for p in processes
        if p.first_timed_us is not None and p.p95_us is not None
    ]
    slow = sum(1 for first, p95 in known if first > p95)
    if slow < 2:
        return False
    tail = 1 - _binom_cdf(slow - 1, len(known), SLOW_START_P)
    return tail < SLOW_START_ALPHA


def inferences_per_process(processes: Sequence[Process], policy: SamplingPolicy) -> int:
    """Kalibera & Jones' optimal inferences per process (module doc), once three processes
    give the variance components; `policy.first_runs` before."""
    usable = [
        (p.latency_us, p.std_us, p.count, p.duration_s)
        for p in processes
        if p.std_us is not None and p.count is not None and p.count > 1
    ]
    # the cold process's fixed cost includes the graph compile: not a process's
    costed = [
        (p.latency_us, p.count, p.duration_s)
        for p in processes
        if not p.cold and p.std_us is not None and p.count is not None and p.count > 1
    ]
    if len(usable) < 3:
        return policy.first_runs
    latencies = [latency for latency, _, _, _ in usable]
    mean = sum(latencies) / len(latencies)
    between_total = sum((x - mean) ** 2 for x in latencies) / (len(latencies) - 1)
    within = sum(std**2 for _, std, _, _ in usable) / len(usable)
    mean_count = sum(count for _, _, count, _ in usable) / len(usable)
    between = max(between_total - within / mean_count, 1e-12 * mean * mean)
    cost_inference_s = mean / 1e6
    fixed_s = [max(d - count * latency / 1e6, 0.0) for latency, count, d in costed]
    cost_process_s = max(sum(fixed_s) / max(len(fixed_s), 1), cost_inference_s)
    optimum = math.sqrt(cost_process_s / cost_inference_s * within / between)
    # Three processes estimate a small between-process variance poorly (it can come out ~0,
    # which would ask for thousands of inferences): the timed phase is kept no longer than the
    # process's fixed cost, so a process costs at most twice what it must.
    optimum = min(optimum, cost_process_s / cost_inference_s)
    return int(min(max(round(optimum), policy.min_runs), policy.max_runs))


def next_process(processes: Sequence[Process], policy: SamplingPolicy) -> Next:
    """Whether a cell needs one more timed process, given those it has (oldest first)."""
    warmup = processes[-1].warmup_secs if processes else policy.warmup_secs
    counted = [p for p in processes if p.warmup_secs >= warmup]
    if counted and slow_starts(counted) and warmup * 2 <= policy.max_warmup_secs:
        warmup *= 2  # the processes of the shorter warm-up no longer count (usable())
        counted = []
    spent = sum(p.duration_s for p in processes if not p.cold)
    interval = median_interval([p.latency_us for p in counted])
    if interval is not None and interval.precision <= policy.precision:
        return Next(True, f"precision {100 * interval.precision:.2f}% reached")
    if len(processes) >= policy.max_repetitions:
        return Next(True, f"--max-repetitions {policy.max_repetitions} reached")
    if spent >= policy.max_seconds:
        return Next(True, f"--max-seconds {policy.max_seconds:g} reached")
    return Next(False, "", inferences_per_process(counted, policy), warmup)


def usable(processes: Sequence[Process]) -> list[Process]:
    """The processes whose warm-up was the cell's final one (the others were too short)."""
    if not processes:
        return []
    final = max(p.warmup_secs for p in processes)
    return [p for p in processes if p.warmup_secs >= final]

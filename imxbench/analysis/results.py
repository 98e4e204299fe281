"""Results as one tidy table (pandas), its board x cell summary, and the terminal rendering.

One row per benchmark_model process: (run, board, cell, kind, repetition). `kind` is `timed`
(the repetitions the statistics use), `cold` (NPU graph cache cleared first) or `profile`
(op profiling on; never used for latency). An adaptive run's cold process whose timed phase was
steady is a repetition too (`counted_as_repetition`: `repetition_rows`); its first inference
and initialisation stay the cold numbers, never the warm ones. A cell whose delegate cannot run
the model has one row instead, kind and status `skipped`, the reason in `error` (and in a few
words in `skip_reason`): no process ran, nothing failed.
Derived values:
- `speedup_vs_cpu`: the board's fastest CPU variant (median of its timed repetitions) divided
  by this row's steady-state average (the summary's `speedup` is that CPU latency divided by
  the cell's median latency: the ratio of the latencies it shows);
- `delegate_time_share`: share of the profiled run's time spent in delegate kernels
  (op-profile node types that are delegate partitions);
- `vela_estimate_us`: Vela's estimated inference time for an Ethos-U graph.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

METRICS = (
    "init_us",
    "first_inference_us",
    "warmup_avg_us",
    "inference_avg_us",
    "inference_std_us",
    "inference_min_us",
    "inference_max_us",
    "inference_count",
    "inference_p5_us",
    "inference_median_us",
    "inference_p95_us",
    "memory_init_mb",
    "memory_overall_mb",
    "memory_peak_mb",
)
DELEGATE_NODE_HINTS = ("delegate", "ethos-u", "ethosu")


def delegate_share(op_profile: list[dict[str, Any]] | None) -> float | None:
    """Fraction (0..1) of profiled time in delegate partitions; None without a profile."""
    if not op_profile:
        return None
    total = sum(float(row.get("percent") or 0.0) for row in op_profile)
    if total <= 0:
        return None
    delegated = sum(
        float(row.get("percent") or 0.0)
        for row in op_profile
        if any(h in str(row.get("node_type", "")).lower() for h in DELEGATE_NODE_HINTS)
    )
    return delegated / total


def execution_of(delegates: list[dict[str, Any]] | None) -> str | None:
    """How much of the graph the (first explicitly applied) delegate took: full/partial/none."""
    if not delegates:
        return None
    return str(delegates[0].get("execution"))


def build_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The tidy table from flat row dicts, with the derived columns added."""
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    for column in METRICS:
        if column not in df:
            df[column] = None
        df[column] = pd.to_numeric(df[column], errors="coerce")
    df["speedup_vs_cpu"] = _speedups(df)
    shares = df[df["kind"] == "profile"].groupby(["board", "cell"])["delegate_time_share"].first()
    df["delegate_time_share"] = [
        shares.get((b, c)) for b, c in zip(df["board"], df["cell"], strict=True)
    ]
    return df


def repetition_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows a cell's latency statistics use: its ok `timed` processes and, in an adaptive
    run, its `cold` process when that counted as one of them (`counted_as_repetition`: the same
    command, a steady timed phase; run/pipeline.py _count_cold)."""
    if df.empty or "kind" not in df:
        return df
    counted = df["kind"] == "timed"
    if "counted_as_repetition" in df:
        counted |= (df["kind"] == "cold") & df["counted_as_repetition"].isin([True])
    return df[counted & (df["status"] == "ok")]


def _speedups(df: pd.DataFrame) -> pd.Series:
    ok = repetition_rows(df)
    cpu = ok[ok["delegate"] == "cpu"].groupby(["board", "cell"])["inference_avg_us"].median()
    best = cpu.groupby(level="board").min()
    baseline = df["board"].map(best)
    return baseline / df["inference_avg_us"]


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Board x cell: medians over the timed repetitions, plus cold start and status: `status`
    is ok, failed (`failed` counts its failed processes) or skipped (`skip_reason` says why in
    a few words, `error` in full)."""
    if df.empty:
        return df
    keys = ["board", "cell"]
    if "skip_reason" not in df:  # results written before cells could be skipped
        df = df.assign(skip_reason=None)
    if "op_profile_from" not in df:  # no profile reused (run --op-profile auto)
        df = df.assign(op_profile_from=None)
    timed = df[(df["kind"] == "timed") & (df["status"] == "ok")]
    agg = (
        repetition_rows(df)
        .groupby(keys)
        .agg(
            reps=("inference_avg_us", "count"),
            latency_ms=("inference_avg_us", lambda s: s.median() / 1000),
            spread_pct=("inference_avg_us", _spread_pct),
            p5_ms=("inference_p5_us", lambda s: s.median() / 1000),
            p95_ms=("inference_p95_us", lambda s: s.median() / 1000),
            init_ms=("init_us", lambda s: s.median() / 1000),
            first_ms=("first_inference_us", lambda s: s.median() / 1000),
            memory_mb=("memory_overall_mb", "median"),
            precision_pct=("inference_avg_us", _precision_pct),
            ci_low_ms=("inference_avg_us", lambda s: _interval_ms(s, "low")),
            ci_high_ms=("inference_avg_us", lambda s: _interval_ms(s, "high")),
        )
    )
    # initialisation, first inference and memory: warm processes only (a cold one compiles)
    warm = timed.groupby(keys).agg(
        init_ms=("init_us", lambda s: s.median() / 1000),
        first_ms=("first_inference_us", lambda s: s.median() / 1000),
        memory_mb=("memory_overall_mb", "median"),
    )
    for column in warm:
        agg[column] = warm[column]
    agg["cold_counted"] = agg.index.isin(_cold_counted(df))
    cold = (
        df[(df["kind"] == "cold") & (df["status"] == "ok")]
        .groupby(keys)["first_inference_us"]
        .first()
        / 1000
    )
    cells = df.groupby(keys, sort=False).agg(
        delegate=("delegate", "first"),
        status=("status", _cell_status),
        failed=("status", lambda s: int((~s.isin(["ok", "skipped"])).sum())),
        skip_reason=(
            "skip_reason",
            lambda s: next((e for e in s if isinstance(e, str) and e), None),
        ),
        error=("error", lambda s: next((e for e in s if isinstance(e, str) and e), None)),
        execution=("execution", lambda s: next((e for e in s if isinstance(e, str)), None)),
        npu_share=("delegate_time_share", "first"),
        op_profile_from=(
            "op_profile_from",
            lambda s: next((e for e in s if isinstance(e, str) and e), None),
        ),
        vela_estimate_ms=(
            "vela_estimate_us",
            lambda s: s.dropna().iloc[0] / 1000 if s.notna().any() else None,
        ),
        emulated=("emulated", "first"),
    )
    out = cells.join(agg, how="left").join(cold.rename("cold_first_ms"), how="left")
    # a failed cell shows no timing, in any table or chart: its ok processes' numbers would
    # read as the cell's result (results.json keeps every process's own)
    out.loc[out["status"] == "failed", list(FAILED_CELL_HIDES)] = math.nan
    # the ratio of the latencies the tables print (the median of per-process ratios differs
    # in the third digit, and the reference CPU cell would not read exactly 1.00x)
    cpu_best = out[out["delegate"] == "cpu"].groupby(level="board")["latency_ms"].min()
    out["speedup"] = out.index.get_level_values("board").map(cpu_best) / out["latency_ms"]
    return out.reset_index()


FAILED_CELL_HIDES = (
    "latency_ms",
    "spread_pct",
    "p5_ms",
    "p95_ms",
    "init_ms",
    "first_ms",
    "memory_mb",
    "precision_pct",
    "ci_low_ms",
    "ci_high_ms",
    "cold_first_ms",
)
"""The summary's measured columns, blank (NaN) for a failed cell."""


def _cold_counted(df: pd.DataFrame) -> list[tuple[str, str]]:
    """(board, cell) of the cells whose cold process counted as a repetition."""
    rows = repetition_rows(df)
    cold = rows[rows["kind"] == "cold"]
    return list(zip(cold["board"], cold["cell"], strict=True))


def _spread_pct(latencies_us: pd.Series) -> float | None:
    """(max - min) / median of the repetitions' averages, percent; None for one repetition
    (a single process has no spread to show, not a spread of 0%)."""
    values = latencies_us.dropna()
    if len(values) < 2:
        return None
    return float(100 * (values.max() - values.min()) / values.median())


def _precision_pct(latencies_us: pd.Series) -> float | None:
    """The achieved precision of a cell's median latency, percent: the larger distance from the
    median to its distribution-free 95% interval (analysis/sampling.py); None below 6
    repetitions, where no such interval exists."""
    from imxbench.analysis.sampling import precision_of

    precision = precision_of(latencies_us.dropna().tolist())
    return None if precision is None else 100 * precision


def _interval_ms(latencies_us: pd.Series, bound: str) -> float | None:
    from imxbench.analysis.sampling import median_interval

    interval = median_interval(latencies_us.dropna().tolist())
    return None if interval is None else getattr(interval, bound) / 1000


def _cell_status(statuses: pd.Series) -> str:
    """A cell's status from its rows': skipped (all of them), failed (any), else ok."""
    if len(statuses) and (statuses == "skipped").all():
        return "skipped"
    return "ok" if statuses.isin(["ok", "skipped"]).all() else "failed"


ACCURACY_COLUMNS = (
    "top1",
    "top1_ci_low",
    "top1_ci_high",
    "top5",
    "agreement_top1",
    "accuracy_n",
    "accuracy_error",
)


def join_accuracy(summary: pd.DataFrame, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The summary with each (board, delegate)'s accuracy columns (accuracy.py) added."""
    if summary.empty:
        return summary
    accuracy = pd.DataFrame(rows, columns=["board", "delegate", *ACCURACY_COLUMNS])
    return summary.merge(accuracy, on=["board", "delegate"], how="left")


def csv_safe(table: pd.DataFrame) -> pd.DataFrame:
    """The table as written to results.csv and `run --format csv`: text cells a spreadsheet
    would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) get a leading `'`."""
    from imxbench.analysis.text_safety import csv_safe_table

    return csv_safe_table(table)

"""An adaptive run's cold NPU process counts as one of the cell's repetitions when it ran the
timed command and its own data show it steady (run/pipeline.py _count_cold,
analysis/sampling.py steady), on synthetic records: no board, no SSH."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from imxbench.analysis.plan import Cell, RunSettings, Step, plan_cells
from imxbench.analysis.results import build_table, summarize
from imxbench.analysis.sampling import Process, SamplingPolicy, next_process, steady
from imxbench.config.delegates import load_catalogue
from imxbench.config.inventory import Board
from imxbench.model.progress import ProgressEvent
from imxbench.run.pipeline import BoardRun, StepRecord, _steps_of

ADAPTIVE = RunSettings(precision=0.5, max_repetitions=30, op_profile=False)
"""A loose target: the fewest processes with an interval (6) meet it."""


def vx_cell(settings: RunSettings) -> Cell:
    (cell,) = plan_cells(
        [load_catalogue()["vx"]], {"vx": "/w/m.tflite"}, "/usr/bin/bm", "/w", 4, settings
    )
    return cell


def metrics(avg_us: float, first_timed_us: float, first_us: float) -> dict[str, Any]:
    return {
        "status": "ok",
        "init_us": 900.0,
        "first_inference_us": first_us,
        "inference_avg_us": avg_us,
        "inference_std_us": 10.0,
        "inference_count": 20,
        "inference_p95_us": avg_us + 20,
        "timed_first_us": first_timed_us,
    }


def record(step: Step, avg_us: float, first_timed_us: float) -> StepRecord:
    return StepRecord(
        "b",
        "vx",
        "vx",
        "",
        None,
        step.kind,
        step.repetition,
        "ok",
        None,
        None,
        0,
        0.4,
        # the cold process's first inference includes the graph compile
        metrics(avg_us, first_timed_us, 50_000.0 if step.kind == "cold" else 1_010.0),
        None,
    )


def sample(
    settings: RunSettings, cold_first_timed_us: float, cell: Cell | None = None
) -> tuple[BoardRun, list[ProgressEvent], list[int]]:
    """Run a cell's step generator as the pipeline does, each step "finishing" at once with
    a steady synthetic record; the cold one's first timed inference as given."""
    cell = cell or vx_cell(settings)
    result = BoardRun(Board("b", "imx8mp", "127.0.0.1"))
    events: list[ProgressEvent] = []
    planned = [10]
    latencies = iter([1000.0, 1004.0, 998.0, 1002.0, 1001.0, 999.0, 1003.0] * 5)
    for step in _steps_of(cell, settings, result, events.append, planned):
        if step.kind == "cold":
            result.records.append(record(step, 1001.5, cold_first_timed_us))
        elif step.kind == "timed":
            result.records.append(record(step, next(latencies), 1000.0))
    return result, events, planned


def test_a_steady_cold_process_is_one_of_the_six() -> None:
    result, events, planned = sample(ADAPTIVE, cold_first_timed_us=1000.0)
    kinds = [(r.kind, r.repetition) for r in result.records]
    assert kinds == [("cold", 0), *(("timed", n) for n in range(1, 6))]
    cold = result.records[0]
    assert cold.metrics["counted_as_repetition"] is True
    assert "6 processes (the cold one included)" in events[-1].message
    assert planned == [9]  # the plan's 6 timed steps became 5


def test_a_cold_process_whose_first_timed_inference_is_slow_is_no_repetition() -> None:
    # 1100 us > its p95 (1021.5 us): the graph compile's aftermath reached the timed phase
    result, events, planned = sample(ADAPTIVE, cold_first_timed_us=1100.0)
    assert [r.repetition for r in result.records if r.kind == "timed"] == [1, 2, 3, 4, 5, 6]
    assert result.records[0].metrics["counted_as_repetition"] is False
    assert "6 processes: precision" in events[-1].message
    assert planned == [10]


def test_a_cold_process_of_another_command_is_no_repetition() -> None:
    cell = vx_cell(ADAPTIVE)
    cold = dataclasses.replace(cell.steps[0], argv=(*cell.steps[0].argv, "--num_threads=2"))
    other = dataclasses.replace(cell, steps=(cold, *cell.steps[1:]))
    result, _, _ = sample(ADAPTIVE, cold_first_timed_us=1000.0, cell=other)
    assert result.records[0].metrics["counted_as_repetition"] is False
    assert len([r for r in result.records if r.kind == "timed"]) == 6


def test_a_fixed_run_is_unchanged() -> None:
    """--repetitions N (the nightly's): the plan's steps as they are, no flag on the cold."""
    fixed = RunSettings(repetitions=5, op_profile=False)
    result, events, planned = sample(fixed, cold_first_timed_us=1000.0)
    assert [(r.kind, r.repetition) for r in result.records] == [
        ("cold", 0),
        *(("timed", n) for n in range(1, 6)),
    ]
    assert "counted_as_repetition" not in result.records[0].metrics
    assert events == [] and planned == [10]
    table = build_table([row(r) for r in result.records])
    assert summarize(table).to_dict("records")[0]["reps"] == 5


def row(r: StepRecord) -> dict[str, Any]:
    return {
        **r.metrics,
        "board": r.board,
        "cell": r.cell,
        "delegate": r.delegate,
        "kind": r.kind,
        "repetition": r.repetition,
        "status": r.status,
        "error": None,
        "execution": "full",
        "delegate_time_share": None,
        "vela_estimate_us": None,
        "emulated": True,
    }


def test_the_summary_counts_a_counted_cold_process_but_keeps_its_numbers_apart() -> None:
    result, _, _ = sample(ADAPTIVE, cold_first_timed_us=1000.0)
    table = build_table([row(r) for r in result.records])
    summary = summarize(table).to_dict("records")[0]
    assert summary["reps"] == 6 and summary["cold_counted"]
    latencies = sorted(r.metrics["inference_avg_us"] for r in result.records)
    assert summary["latency_ms"] == pytest.approx((latencies[2] + latencies[3]) / 2 / 1000)
    assert summary["precision_pct"] is not None
    assert summary["first_ms"] == pytest.approx(1.010)  # the warm processes' first inference
    assert summary["cold_first_ms"] == pytest.approx(50.0)  # the cold one's, as before


def test_the_sampler_counts_the_cold_process_but_not_its_seconds() -> None:
    assert steady(1000.0, 1020.0) and not steady(1030.0, 1020.0) and not steady(None, 1020.0)
    policy = SamplingPolicy(precision=0.5, max_seconds=2.0)
    cold = Process(1000.0, 10.0, 20, duration_s=5.0, warmup_secs=0.1, cold=True)
    warm = [Process(1000.0 + i, 10.0, 20, duration_s=0.3, warmup_secs=0.1) for i in range(5)]
    assert next_process([cold, *warm], policy).stop  # 6 processes: an interval
    assert not next_process([cold, *warm[:4]], policy).stop  # 5; and 1.2 s < 2 s spent

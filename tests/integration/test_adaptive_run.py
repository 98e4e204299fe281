"""Adaptive sampling and op-profile reuse through the whole pipeline, on an emulated 8M Plus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from imxbench.analysis.plan import RunSettings
from imxbench.config.delegates import load_catalogue
from imxbench.emulator.launcher import RunningEmulator, start_emulator
from imxbench.model.progress import Progress, ProgressEvent
from imxbench.report.build import write_run_report
from imxbench.run.job import JobResult, run_job
from imxbench.run.job_record import cells_from_table
from tests.emulator_fixtures import inventory_board
from tests.integration.test_run_pipeline import MODEL

# a loose target and a low cap: exactly the 6 processes an interval needs, quickly
ADAPTIVE = RunSettings(precision=0.5, max_repetitions=6, warmup_runs=1, op_profile=False)


@pytest.fixture(scope="module")
def board8() -> Iterator[RunningEmulator]:
    emulator = start_emulator("imx8mp", seed=11)
    yield emulator
    emulator.stop()


def run(
    emulator: RunningEmulator,
    reports: Path,
    settings: RunSettings,
    progress: Progress | None = None,
) -> JobResult:
    return run_job(
        [inventory_board(emulator, "lab8")],
        MODEL,
        load_catalogue(),
        "vx",
        settings,
        reports,
        reports / "v",
        progress=progress,
    )


def test_adaptive_sampling_runs_six_short_processes_and_reports_their_precision(
    board8: RunningEmulator, tmp_path: Path
) -> None:
    events: list[ProgressEvent] = []
    result = run(board8, tmp_path, ADAPTIVE, events.append)
    timed = result.table[result.table["kind"] == "timed"]
    # the cold process ran the same command and its timed phase was steady (the emulator's
    # only transient, the graph compile, is inside its warm-up): it is one of the 6
    cold = result.table[result.table["kind"] == "cold"].iloc[0]
    assert cold["counted_as_repetition"] == True  # noqa: E712 (a numpy bool)
    assert cold["timed_first_us"] <= cold["inference_p95_us"]
    assert sorted(timed["repetition"]) == [1, 2, 3, 4, 5]
    log = Path(timed.iloc[0]["log_file"]).read_text()
    assert "--min_secs=0" in log and "--warmup_min_secs=0.1" in log  # short processes
    row = result.summary.to_dict("records")[0]
    assert row["reps"] == 6 and 0 < row["precision_pct"] < 50
    assert row["cold_counted"] == True  # noqa: E712
    latencies = [*timed["inference_avg_us"], cold["inference_avg_us"]]
    assert row["latency_ms"] == pytest.approx(float(np.median(latencies)) / 1000)
    assert row["cold_first_ms"] == pytest.approx(cold["first_inference_us"] / 1000)
    assert row["first_ms"] == pytest.approx(timed["first_inference_us"].median() / 1000)
    # the history's samples of the cell: the cold process (repetition 0) and the 5 timed
    (cell,) = cells_from_table(result.table, {})
    assert [s.repetition for s in cell.samples] == [0, 1, 2, 3, 4, 5]
    assert "6 incl. cold" in write_run_report(result.out_dir).read_text()
    # the progress bar: cold + the fewest 6 timed at first, one fewer once the cold counted;
    # it ends at 100%, never beyond
    planned = [e.planned for e in events if e.kind == "planned"]
    ended = [e for e in events if e.kind == "step_ended"]
    assert planned[0] == 7 and planned[-1] == len(ended) == 6
    assert any("6 processes (the cold one included)" in e.message for e in events)
    assert row["ci_low_ms"] <= row["latency_ms"] <= row["ci_high_ms"]
    run_json = json.loads((result.out_dir / "run.json").read_text())
    assert run_json["settings"]["repetitions"] == "adaptive"
    assert run_json["settings"]["precision"] == 0.5
    summary = json.loads((result.out_dir / "summary.json").read_text())
    assert summary[0]["precision_pct"] == pytest.approx(row["precision_pct"])


def test_an_op_profile_is_measured_once_then_reused_until_the_key_changes(
    board8: RunningEmulator, tmp_path: Path
) -> None:
    auto = RunSettings(
        repetitions=1, num_runs=5, min_secs=0, op_profile=True, op_profile_reuse=True
    )
    first = run(board8, tmp_path, auto)
    profiles = first.table[first.table["kind"] == "profile"]
    assert "op_profile_from" not in profiles or profiles["op_profile_from"].isna().all()
    assert len(list((tmp_path / "op-profiles").glob("*.json"))) == 1

    second = run(board8, tmp_path, auto)
    row = second.table[second.table["kind"] == "profile"].iloc[0]
    assert row["op_profile_from"] == first.run_id and row["status"] == "ok"
    assert row["delegate_time_share"] == 1.0  # the kept profile's numbers
    assert second.summary.to_dict("records")[0]["op_profile_from"] == first.run_id
    assert f"reused from run {first.run_id}" in write_run_report(second.out_dir).read_text()

    always = run(board8, tmp_path, RunSettings(repetitions=1, num_runs=5, min_secs=0))
    row = always.table[always.table["kind"] == "profile"].iloc[0]
    assert not isinstance(row.get("op_profile_from"), str)  # --op-profile always: measured
    other = replace(auto, num_runs=6)  # another command line: another key
    row = run(board8, tmp_path, other).table.query("kind == 'profile'").iloc[0]
    assert not isinstance(row.get("op_profile_from"), str)


def test_a_cell_whose_processes_fail_stops_sampling_after_two(
    board8: RunningEmulator, tmp_path: Path
) -> None:
    board8.set_faults(delegate_load_fails=True)
    try:
        result = run(board8, tmp_path, ADAPTIVE)
    finally:
        board8.set_faults(delegate_load_fails=False)
    timed = result.table[result.table["kind"] == "timed"]
    assert len(timed) == 2 and (timed["status"] == "failed").all()
    assert result.failures  # exit 1, as for a fixed run

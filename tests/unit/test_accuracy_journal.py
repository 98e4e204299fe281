"""The accuracy phase's journal (accuracy/journal.py): what a `run --resume` may keep. Only an
evaluation that finished ok, of the same packed inputs and graph, whose result file is still
there unchanged; a failed one, or a line cut by a death, is run again."""

from __future__ import annotations

from pathlib import Path

from imxbench.accuracy.journal import journal_cell, kept_evaluations, read_journal
from imxbench.accuracy.phase import AccuracyCell
from imxbench.rundir.layout import RunDir

PACKED = "a" * 64
GRAPHS = {"cpu": "/w/models/m.tflite", "vx": "/w/models/m.tflite"}


def finished(run_dir: Path, delegate: str, status: str = "ok") -> AccuracyCell:
    result = RunDir(run_dir).accuracy_file("evk", delegate, "npz")
    if status == "ok":
        result.parent.mkdir(parents=True, exist_ok=True)
        result.write_bytes(f"result of {delegate}".encode())
    return AccuracyCell(
        board="evk",
        delegate=delegate,
        cell=f"{delegate}@4t" if delegate == "cpu" else delegate,
        status=status,
        error=None if status == "ok" else "evaluate.py crashed (Segmentation fault, exit 139)",
        threads=4 if delegate == "cpu" else None,
        graph=GRAPHS[delegate],
        runtime="tflite_runtime",
        runtime_version="2.19.0",
        duration_s=1.5,
        result_file=str(result) if status == "ok" else None,
    )


def test_a_finished_evaluation_is_kept_a_failed_one_is_not(tmp_path: Path) -> None:
    journal_cell(tmp_path, finished(tmp_path, "cpu"), PACKED)
    journal_cell(tmp_path, finished(tmp_path, "vx", "failed"), PACKED)
    kept = kept_evaluations(tmp_path, "evk", PACKED, GRAPHS)
    assert list(kept) == ["cpu"]
    assert (kept["cpu"].cell, kept["cpu"].threads, kept["cpu"].duration_s) == ("cpu@4t", 4, 1.5)
    assert [e.status for e in read_journal(tmp_path, "evk")] == ["ok", "failed"]
    assert kept_evaluations(tmp_path, "other-board", PACKED, GRAPHS) == {}


def test_other_inputs_another_graph_or_a_changed_result_file_run_again(tmp_path: Path) -> None:
    journal_cell(tmp_path, finished(tmp_path, "cpu"), PACKED)
    assert kept_evaluations(tmp_path, "evk", "b" * 64, GRAPHS) == {}  # --dataset/--limit changed
    assert kept_evaluations(tmp_path, "evk", PACKED, {"cpu": "/w/models/other.tflite"}) == {}
    result = RunDir(tmp_path).accuracy_file("evk", "cpu", "npz")
    result.write_bytes(b"truncated")
    assert kept_evaluations(tmp_path, "evk", PACKED, GRAPHS) == {}
    result.unlink()
    assert kept_evaluations(tmp_path, "evk", PACKED, GRAPHS) == {}


def test_the_last_line_of_a_delegate_decides_and_a_cut_line_is_skipped(tmp_path: Path) -> None:
    journal_cell(tmp_path, finished(tmp_path, "vx"), PACKED)
    journal_cell(tmp_path, finished(tmp_path, "cpu"), PACKED)
    journal_cell(tmp_path, finished(tmp_path, "vx", "failed"), PACKED)  # a later attempt failed
    path = RunDir(tmp_path).accuracy_journal("evk")
    with path.open("a") as fh:
        fh.write('{"format": 1, "delegate": "vx", "status": "o')  # SIGKILL mid-write
    assert list(kept_evaluations(tmp_path, "evk", PACKED, GRAPHS)) == ["cpu"]
    assert len(read_journal(tmp_path, "evk")) == 3

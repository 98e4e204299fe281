"""`run --resume reports/<matrix-id>`: a 3-model matrix killed (SIGKILL) in its second model
goes on where it stopped, on a real emulated board over real SSH: the finished model does no
board work, the cut one runs only its missing steps, the last one runs; one history record
per model run."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imxbench.emulator.benchmark_tool import INVOCATIONS_FILE
from imxbench.emulator.launcher import RunningEmulator, start_emulator
from imxbench.history.store import open_store
from tests.locations import IMXBENCH

REPO = Path(__file__).resolve().parents[2]
RESNET = REPO / "imxbench/reference_models/pretrainedResnet_quant.tflite"
TINY_INT8 = REPO / "models/tiny_int8.tflite"
TINY_FLOAT = REPO / "models/tiny_float32.tflite"
NAMES = ["pretrainedResnet_quant", "tiny_int8", "tiny_float32"]


@pytest.fixture(name="board")
def fixture_board() -> Iterator[RunningEmulator]:
    emulator = start_emulator("imx93", seed=11)  # seeded: it counts its benchmark_model runs
    yield emulator
    emulator.stop()


def read(path: Path) -> Any:
    return json.loads(path.read_text())


def invocations(board: RunningEmulator) -> int:
    path = Path(board.control_dir) / INVOCATIONS_FILE
    return int(path.read_text()) if path.exists() else 0


REPORTS = {"report.html", "model.json"}
"""Written by the report at the matrix's end (the killed one never got there), not by a job."""


def files_of(run_dir: Path) -> dict[str, int]:
    """Every file a job writes into its run directory, with its mtime."""
    return {
        str(p.relative_to(run_dir)): p.stat().st_mtime_ns
        for p in run_dir.rglob("*")
        if p.name not in REPORTS
    }


def test_a_killed_matrix_resumes_keeping_what_finished(
    board: RunningEmulator, tmp_path: Path
) -> None:
    inventory = tmp_path / "boards.yaml"
    inventory.write_text(
        "boards:\n  evk93:\n    soc: imx93\n    host: 127.0.0.1\n"
        f"    port: {board.port}\n    auth: {{type: none}}\n"
        f"    known_hosts: {board.known_hosts_path}\n"
    )
    reports = tmp_path / "reports"
    argv = [
        *IMXBENCH, "run", "--board", "evk93", "--inventory", str(inventory),
        "--model", f"{RESNET},{TINY_INT8},{TINY_FLOAT}", "--delegate", "cpu", "--threads", "1",
        "--repetitions", "3", "--num-runs", "2", "--warmup-runs", "0", "--min-secs", "0.5",
        "--no-op-profile", "--reports", str(reports),
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    seen, deadline = "", time.monotonic() + 180
    while "[evk93 tiny_int8] cpu@1t: rep 2 ..." not in seen and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        seen += line
    proc.kill()  # SIGKILL in the second model's second step: nothing of ours runs at the end
    proc.wait()
    assert "[evk93 tiny_int8] cpu@1t: rep 2 ..." in seen, seen[-3000:]

    (matrix_dir,) = reports.glob("matrix-*")
    before = read(matrix_dir / "matrix.json")
    assert before["status"] == "running"
    first, second, third = before["models"]
    assert (first["status"], second["status"], third["run_id"]) == ("complete", "running", None)
    first_dir, second_dir = reports / first["run_id"], reports / second["run_id"]
    first_files = files_of(first_dir)
    journal = (second_dir / "steps" / "evk93.jsonl").read_text().splitlines()
    assert [(json.loads(x)["repetition"], json.loads(x)["status"]) for x in journal] == [(1, "ok")]
    counted = invocations(board)

    done = subprocess.run(
        [*argv, "--resume", str(matrix_dir), "--format", "json"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    err = done.stderr

    # model 1: nothing on the board, its run directory untouched
    assert "[evk93 pretrainedResnet_quant] finished before the resume: run " in err
    assert "[evk93 pretrainedResnet_quant] cpu@1t" not in err
    assert files_of(first_dir) == first_files
    # model 2: only its two missing steps; model 3: its three
    assert "[evk93 tiny_int8] 2 benchmark steps" in err
    assert "[evk93 tiny_int8] cpu@1t: rep 1 ..." not in err
    assert "[evk93 tiny_float32] 3 benchmark steps" in err
    assert invocations(board) - counted == 2 + 3  # every benchmark_model run of the resume
    rows = read(second_dir / "results.json")
    assert sorted((r["repetition"], r["status"]) for r in rows) == [(1, "ok"), (2, "ok"), (3, "ok")]
    second_run = read(second_dir / "run.json")
    assert (second_run["status"], second_run["resumed_steps"]) == ("complete", 1)

    # the same matrix, complete: its id, its models, every one with its results
    (again,) = reports.glob("matrix-*")
    assert again == matrix_dir
    after = read(matrix_dir / "matrix.json")
    assert after["status"] == "complete" and after["started"] == before["started"]
    assert [m["name"] for m in after["models"]] == NAMES
    assert all(m["status"] == "complete" for m in after["models"])
    assert [m["run_id"] for m in after["models"][:2]] == [first["run_id"], second["run_id"]]
    doc = json.loads(done.stdout)
    assert doc["matrix_id"] == matrix_dir.name and doc["failures"] == []
    assert [m["name"] for m in doc["models"]] == NAMES
    for model, recorded in zip(doc["models"], after["models"], strict=True):
        assert model["run_id"] == recorded["run_id"]
        ((cell,),) = [[r for r in model["summary"] if r["cell"] == "cpu@1t"]]
        assert (cell["status"], cell["reps"]) == ("ok", 3) and cell["latency_ms"] > 0
    page = (matrix_dir / "index.html").read_text()
    assert all(name in page for name in NAMES)

    # the history: one record per model run, each complete
    history = subprocess.run(
        [*IMXBENCH, "history", "--reports", str(reports), "--format", "json"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert history.returncode == 0, history.stderr
    runs = json.loads(history.stdout)
    runs = runs["runs"] if isinstance(runs, dict) else runs
    assert sorted(r["run_id"] for r in runs) == sorted(m["run_id"] for m in after["models"])
    assert {r["status"] for r in runs} == {"complete"}
    with open_store(None, reports) as store:  # the resumed run's record replaced, not doubled
        for model in after["models"]:
            (cell,) = store.load_run(model["run_id"]).cells
            assert [s.repetition for s in cell.samples] == [1, 2, 3], model["name"]

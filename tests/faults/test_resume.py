"""`--resume` after any kind of death, SIGKILL included, skips every step whose result is on
disk; and it takes only a run directory of this reports directory, of the same boards and model
(issue 15)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imxbench.analysis.plan import RunSettings
from imxbench.config.delegates import load_catalogue
from imxbench.config.inventory import AuthSpec, Board
from imxbench.emulator.launcher import RunningEmulator, start_emulator
from imxbench.errors import ConfigError
from imxbench.run.job import run_job
from tests.dataset_builders import MODEL as DATASET_MODEL
from tests.dataset_builders import generate, write_npy
from tests.emulator_fixtures import run_ssh
from tests.locations import IMXBENCH, QUANT_MODEL

REPO = Path(__file__).resolve().parents[2]
QUICK = RunSettings(repetitions=2, num_runs=5, min_secs=0, op_profile=False)


@pytest.fixture
def board93() -> Iterator[RunningEmulator]:
    emulator = start_emulator("imx93", seed=13)
    yield emulator
    emulator.stop()


def run_argv(emulator: RunningEmulator, tmp_path: Path) -> list[str]:
    inventory = tmp_path / "boards.yaml"
    inventory.write_text(
        "boards:\n  evk93:\n    soc: imx93\n    host: 127.0.0.1\n"
        f"    port: {emulator.port}\n    auth: {{type: none}}\n"
        f"    known_hosts: {emulator.known_hosts_path}\n"
    )
    return [*IMXBENCH, "run", "--board", "evk93", "--inventory", str(inventory),
            "--reports", str(tmp_path / "reports"), "--repetitions", "2", "--num-runs", "5",
            "--min-secs", "0", "--no-op-profile", "--delegate", "cpu"]  # fmt: skip


def test_resume_after_sigkill_skips_every_step_that_had_finished(
    board93: RunningEmulator, tmp_path: Path
) -> None:
    argv = run_argv(board93, tmp_path)
    board93.set_faults(slowdown=400.0)  # ~0.7 s per inference: steps are slow enough to hit
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stderr is not None
    seen, deadline = "", time.monotonic() + 120
    while "cpu@1t: rep 2 ..." not in seen and time.monotonic() < deadline:
        seen += proc.stderr.readline()
    proc.kill()  # SIGKILL: no handler of ours runs, nothing is written at the end
    proc.wait()
    run_dir = next(p for p in (tmp_path / "reports").iterdir() if (p / "run.json").is_file())
    assert not (run_dir / "results.json").exists()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"

    board93.set_faults(slowdown=1.0)
    done = subprocess.run([*argv, "--resume", str(run_dir), "--format", "json"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "[evk93] 3 benchmark steps" in done.stderr  # not 4: rep 1 of cpu@1t is kept
    assert done.stderr.count("rep 1 ...") == 1  # cpu@2t's only
    rows = json.loads((run_dir / "results.json").read_text())
    steps = sorted((r["cell"], r["repetition"], r["status"]) for r in rows)
    assert steps == [("cpu@1t", 1, "ok"), ("cpu@1t", 2, "ok"), ("cpu@2t", 1, "ok"),
                     ("cpu@2t", 2, "ok")]  # fmt: skip
    run_doc = json.loads((run_dir / "run.json").read_text())
    assert run_doc["status"] == "complete" and run_doc["resumed_steps"] == 1


def evk(port: int = 22) -> Board:
    return Board(name="evk93", soc="imx93", host="127.0.0.1", port=port, auth=AuthSpec("none"))


def resume_from(run_dir: Path, reports: Path, tmp_path: Path, **kw: object) -> None:
    boards = kw.pop("boards", [evk()])
    model = kw.pop("model", QUANT_MODEL)
    run_job(boards, model, load_catalogue(), "cpu", QUICK, reports, tmp_path / "vela",  # type: ignore[arg-type]
            resume=run_dir)  # fmt: skip


def a_run_dir(reports: Path, boards: list[str], model: Path = QUANT_MODEL) -> Path:
    run_dir = reports / "20260101-000000-abcd"
    run_dir.mkdir(parents=True)
    doc = {"run_id": run_dir.name, "model": str(model), "boards": boards, "status": "partial"}
    (run_dir / "run.json").write_text(json.dumps(doc))
    return run_dir


def test_resume_takes_only_a_run_directory_of_this_reports_directory(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    elsewhere = tmp_path / "system-folder"
    elsewhere.mkdir()
    with pytest.raises(ConfigError, match="not a run directory of the reports directory"):
        resume_from(elsewhere, reports, tmp_path)
    assert list(elsewhere.iterdir()) == []  # nothing written there
    other = a_run_dir(tmp_path / "other-reports", ["evk93"])
    with pytest.raises(ConfigError, match="not a run directory of the reports directory"):
        resume_from(other, reports, tmp_path)
    no_run = reports / "not-a-run"
    no_run.mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"not a run directory \(run.json"):
        resume_from(no_run, reports, tmp_path)
    assert list(no_run.iterdir()) == []


def test_resume_takes_only_a_run_of_the_same_boards_and_model(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run_dir = a_run_dir(reports, ["evk8"])
    with pytest.raises(ConfigError, match="that run was on boards evk8, not evk93"):
        resume_from(run_dir, reports, tmp_path)
    shutil.rmtree(run_dir)
    other_model = tmp_path / "other.tflite"
    shutil.copy(QUANT_MODEL, other_model)
    run_dir = a_run_dir(reports, ["evk93"], other_model)
    with pytest.raises(ConfigError, match=r"that run was of the model .*other\.tflite, not "):
        resume_from(run_dir, reports, tmp_path)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "partial"  # untouched


def test_a_bad_resume_is_one_line_and_exit_2(tmp_path: Path) -> None:
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    done = subprocess.run(
        [*IMXBENCH, "run", "--board", "imx93", "--emulate", "--delegate", "cpu",
         "--reports", str(tmp_path / "reports"), "--resume", str(elsewhere)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"--resume {elsewhere}: not a run directory of the reports directory" in done.stderr
    assert list(elsewhere.iterdir()) == []


# -- the accuracy phase: each finished evaluation is journaled, and kept by --resume ----------
KILLED_IN_ACCURACY = """
import sys
from pathlib import Path

from imxbench.accuracy.phase import AccuracyRequest
from imxbench.analysis.plan import RunSettings
from imxbench.config.delegates import load_catalogue
from imxbench.config.inventory import AuthSpec, Board
from imxbench.emulator.faults import update_faults
from imxbench.run.job import run_job

port, known_hosts, control, model, dataset, reports = sys.argv[1:]
board = Board(name="evk", soc="imx8mp", host="127.0.0.1", port=int(port),
              auth=AuthSpec("none"), known_hosts=known_hosts)


def progress(event):
    if event.cell == "accuracy cpu" and event.status == "ok":  # finished (and journaled)
        update_faults(Path(control), hang=True)  # the next evaluation hangs at its first invoke


settings = RunSettings(repetitions=1, num_runs=2, warmup_runs=0, min_secs=0, op_profile=False,
                       threads=4)
run_job([board], Path(model), load_catalogue(), "cpu,vx", settings, Path(reports),
        Path(reports) / "vela", accuracy=AccuracyRequest(Path(dataset)), progress=progress)
"""


@pytest.fixture
def board8() -> Iterator[RunningEmulator]:
    emulator = start_emulator("imx8mp", seed=7)
    yield emulator
    emulator.stop()


def test_resume_keeps_the_accuracy_evaluations_that_had_finished(
    board8: RunningEmulator, tmp_path: Path
) -> None:
    """SIGKILL while the second delegate's evaluation runs on the board (the first had
    finished): --resume evaluates only the second; the first's cell comes from its journaled
    result file, and accuracy.json has both, as an uninterrupted run would."""
    dataset, _ = write_npy(tmp_path / "npy", generate(60))
    reports = tmp_path / "reports"
    harness = subprocess.Popen(
        [sys.executable, "-c", KILLED_IN_ACCURACY, str(board8.port),
         str(board8.known_hosts_path), str(board8.control_dir), str(DATASET_MODEL),
         str(dataset), str(reports)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while "--delegate" not in run_ssh(board8, "ps -eo args").stdout.decode():
            assert harness.poll() is None, harness.communicate()[1].decode()[-3000:]
            assert time.monotonic() < deadline, "the vx evaluation never started on the board"
            time.sleep(0.2)  # evaluate.py with --delegate: vx's (the CPU's runs without)
        time.sleep(0.5)
    finally:
        harness.kill()  # SIGKILL: nothing of ours runs at the end
        harness.wait()
    run_dir = next(p for p in reports.iterdir() if (p / "run.json").is_file())
    assert not (run_dir / "accuracy.json").exists()
    journal = (run_dir / "accuracy" / "evk.jsonl").read_text().splitlines()
    assert [(json.loads(line)["delegate"], json.loads(line)["status"]) for line in journal] == [
        ("cpu", "ok")
    ]
    cpu_npz = run_dir / "accuracy" / "evk" / "cpu.npz"
    before = cpu_npz.stat().st_mtime_ns
    assert not (run_dir / "accuracy" / "evk" / "vx.npz").exists()

    board8.set_faults(hang=False)
    inventory = tmp_path / "boards.yaml"
    inventory.write_text(
        "boards:\n  evk:\n    soc: imx8mp\n    host: 127.0.0.1\n"
        f"    port: {board8.port}\n    auth: {{type: none}}\n"
        f"    known_hosts: {board8.known_hosts_path}\n"
    )
    done = subprocess.run(
        [*IMXBENCH, "run", "--board", "evk", "--inventory", str(inventory), "--reports",
         str(reports), "--model", str(DATASET_MODEL), "--delegate", "cpu,vx", "--threads", "4",
         "--repetitions", "1", "--num-runs", "2", "--warmup-runs", "0", "--min-secs", "0",
         "--no-op-profile", "--dataset", str(dataset), "--resume", str(run_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "[evk] 0 benchmark steps" in done.stderr  # the benchmark had finished
    assert "[evk] accuracy cpu: kept from before the resume: top-1 " in done.stderr
    assert not re.search(r"accuracy cpu: \d+/60", done.stderr)  # evaluate.py's own progress
    assert "[evk] accuracy vx: 60/60 top1=" in done.stderr  # vx's evaluation ran again
    assert cpu_npz.stat().st_mtime_ns == before  # not fetched again
    doc = json.loads((run_dir / "accuracy.json").read_text())
    cells = {c["delegate"]: c for c in doc["cells"]}
    assert {d: (c["status"], c["cell"], c["images"]) for d, c in cells.items()} == {
        "cpu": ("ok", "cpu@4t", 60),
        "vx": ("ok", "vx", 60),
    }
    assert cells["cpu"]["top1"] == cells["vx"]["top1"]  # the emulator's delegates run LiteRT
    assert cells["cpu"]["agreement_top1"] == 1.0 and cells["cpu"]["latency"]["p50_us"] > 0
    run_doc = json.loads((run_dir / "run.json").read_text())
    assert run_doc["status"] == "complete"
    assert run_doc["phases"] == {"evk": {"benchmark": "complete", "accuracy": "complete"}}
    summary = {r["cell"]: r for r in json.loads((run_dir / "summary.json").read_text())}
    assert summary["cpu@4t"]["accuracy_n"] == 60 and summary["vx"]["accuracy_n"] == 60
    lines = (run_dir / "accuracy" / "evk.jsonl").read_text().splitlines()
    assert [json.loads(line)["delegate"] for line in lines] == ["cpu", "vx"]

"""`--resume` after any kind of death, SIGKILL included, skips every step whose result is on
disk; and it takes only a run directory of this reports directory, of the same boards and model
(issue 15)."""

from __future__ import annotations

import json
import shutil
import subprocess
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

"""`run --resume reports/<matrix-id>` takes only the same matrix: its boards, delegates,
settings and models (by name and sha256), and each started model's run as a one-model
`--resume` checks it; anything else is one line, exit 2, before anything is written."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from imxbench.analysis.plan import RunSettings
from imxbench.config.inventory import AuthSpec, Board
from imxbench.config.models import ModelEntry
from imxbench.errors import ConfigError
from imxbench.run.matrix_resume import KEPT, NEW, RESUMED, check_matrix_resume, kept_result
from imxbench.rundir.atomic import file_sha256
from imxbench.rundir.layout import RunDir
from imxbench.rundir.matrix import write_matrix
from tests.locations import IMXBENCH, QUANT_MODEL

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "models" / "tiny_int8.tflite"
SETTINGS = RunSettings(repetitions=3, num_runs=2, min_secs=0)


def board(name: str = "evk93") -> Board:
    return Board(name=name, soc="imx93", host="127.0.0.1", auth=AuthSpec("none"))


def entry(path: Path, name: str | None = None) -> ModelEntry:
    return ModelEntry(path=path, name=name or path.stem, source=f"--model {path}")


@pytest.fixture(name="models")
def fixture_models(tmp_path: Path) -> list[Path]:
    """Three model files of the matrix (copies: a test may change one)."""
    found = []
    for name, source in (("a", QUANT_MODEL), ("b", TINY), ("c", TINY)):
        path = tmp_path / "models" / f"{name}.tflite"
        path.parent.mkdir(exist_ok=True)
        shutil.copy(source, path)
        found.append(path)
    found[2].write_bytes(found[2].read_bytes() + b"\0")  # c differs from b
    return found


def a_matrix(reports: Path, models: list[Path], **changes: object) -> Path:
    """An interrupted matrix: a finished, b cut short (its run partial), c never started."""
    matrix_dir = reports / "matrix-20261204-120000-abcd"
    statuses = ["complete", "running", None]
    records = []
    for i, (path, status) in enumerate(zip(models, statuses, strict=True)):
        run_id = f"20261204-12000{i}-abcd" if status else None
        records.append(
            {"name": path.stem, "path": str(path), "sha256": file_sha256(path), "dataset": None,
             "skip_delegates": [], "run_id": run_id, "status": status}
        )  # fmt: skip
        if run_id:
            RunDir(reports / run_id).path.mkdir(parents=True)
            RunDir(reports / run_id).write_run(
                {"run_id": run_id, "model": str(path), "model_sha256": file_sha256(path),
                 "boards": ["evk93"], "settings": SETTINGS.as_dict(),
                 "status": "complete" if status == "complete" else "partial"}
            )  # fmt: skip
    doc = {
        "matrix_id": matrix_dir.name, "kind": "run", "status": "running",
        "started": "2026-12-04T12:00:00+0000", "boards": ["evk93"], "delegates": "cpu",
        "settings": SETTINGS.as_dict(), "models": records, **changes,
    }  # fmt: skip
    write_matrix(matrix_dir, doc)
    return matrix_dir


def check(matrix_dir: Path, models: list[Path], **kw: object) -> object:
    reports = matrix_dir.parent
    return check_matrix_resume(
        matrix_dir,
        reports,
        kw.pop("boards", [board()]),  # type: ignore[arg-type]
        kw.pop("entries", [entry(p) for p in models]),  # type: ignore[arg-type]
        kw.pop("delegates", "cpu"),  # type: ignore[arg-type]
        kw.pop("settings", SETTINGS),  # type: ignore[arg-type]
        kw.pop("models_given", True),  # type: ignore[arg-type]
    )


def test_the_same_matrix_is_kept_resumed_and_completed_per_model(
    tmp_path: Path, models: list[Path]
) -> None:
    matrix_dir = a_matrix(tmp_path / "reports", models)
    given = [entry(p) for p in reversed(models)]  # any order: the matrix's is kept
    resumed = check(matrix_dir, models, entries=given, delegates="cpu")
    assert resumed.matrix_id == matrix_dir.name  # type: ignore[attr-defined]
    states = [(m.entry.name, m.run_id, m.state) for m in resumed.models]  # type: ignore[attr-defined]
    assert states == [
        ("a", "20261204-120000-abcd", KEPT),
        ("b", "20261204-120001-abcd", RESUMED),
        ("c", None, NEW),
    ]


def test_a_model_the_matrix_recorded_as_running_is_resumed_even_if_its_run_finished(
    tmp_path: Path, models: list[Path]
) -> None:
    """Killed after the run's run.json said complete but before the matrix moved on (its
    history record may be missing): resumed (nothing left to run, recorded again), not kept."""
    matrix_dir = a_matrix(tmp_path / "reports", models)
    doc = json.loads((matrix_dir / "matrix.json").read_text())
    doc["models"][0]["status"] = "running"
    write_matrix(matrix_dir, doc)
    resumed = check(matrix_dir, models)
    assert resumed.models[0].state == RESUMED  # type: ignore[attr-defined]


def test_a_model_announced_but_never_written_runs_anew_under_its_run_id(
    tmp_path: Path, models: list[Path]
) -> None:
    """Killed between matrix.json naming the model's run and the job writing run.json."""
    matrix_dir = a_matrix(tmp_path / "reports", models)
    doc = json.loads((matrix_dir / "matrix.json").read_text())
    doc["models"][2].update(run_id="20261204-120002-abcd", status="running")
    write_matrix(matrix_dir, doc)
    resumed = check(matrix_dir, models)
    last = resumed.models[2]  # type: ignore[attr-defined]
    assert (last.run_id, last.state) == ("20261204-120002-abcd", NEW)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"boards": [board("evk8")]}, "that matrix was on boards evk93, not evk8"),
        ({"delegates": "cpu,ethosu"}, "that matrix was of the delegates cpu, not cpu,ethosu"),
        ({"delegates": None}, "that matrix was of the delegates cpu, not (every delegate)"),
        (
            {"settings": RunSettings(repetitions=5, num_runs=2, min_secs=0)},
            "that matrix was with repetitions=3, not repetitions=5",
        ),
        ({"models_given": False}, "give the matrix's 3 models again as it was started "
         "(--model or --models): a, b, c"),
    ],
)  # fmt: skip
def test_another_board_delegate_setting_or_no_models_is_one_line(
    tmp_path: Path, models: list[Path], change: dict[str, object], message: str
) -> None:
    matrix_dir = a_matrix(tmp_path / "reports", models)
    with pytest.raises(ConfigError) as caught:
        check(matrix_dir, models, **change)
    assert caught.value.message == f"--resume {matrix_dir}: {message}"
    assert "\n" not in caught.value.message and caught.value.exit_code == 2


def test_other_models_are_refused_by_name_and_by_sha256(tmp_path: Path, models: list[Path]) -> None:
    matrix_dir = a_matrix(tmp_path / "reports", models)
    with pytest.raises(ConfigError, match=r"that matrix was of the models a, b, c, not a, b$"):
        check(matrix_dir, models, entries=[entry(p) for p in models[:2]])
    other = tmp_path / "other" / "c.tflite"
    other.parent.mkdir()
    shutil.copy(TINY, other)  # the same name, other content
    with pytest.raises(ConfigError) as caught:
        check(matrix_dir, models, entries=[entry(models[0]), entry(models[1]), entry(other)])
    expected = (
        f"that matrix's model c had sha256 {file_sha256(models[2])[:16]}, "
        f"not {file_sha256(other)[:16]} ({other})"
    )
    assert caught.value.message == f"--resume {matrix_dir}: {expected}"


def test_a_started_models_own_run_is_checked_as_a_one_model_resume_checks_it(
    tmp_path: Path, models: list[Path]
) -> None:
    """matrix.json without settings (older): the model's run.json still has them."""
    reports = tmp_path / "reports"
    doc = json.loads((a_matrix(reports, models).joinpath("matrix.json")).read_text())
    del doc["settings"]
    matrix_dir = reports / doc["matrix_id"]
    write_matrix(matrix_dir, doc)
    with pytest.raises(ConfigError) as caught:
        check(matrix_dir, models, settings=RunSettings(repetitions=3, num_runs=9, min_secs=0))
    run_dir = reports / "20261204-120000-abcd"
    expected = f"--resume {run_dir}: that run was with num_runs=2, not num_runs=9"
    assert caught.value.message == expected


def test_only_a_run_matrix_of_this_reports_directory(tmp_path: Path, models: list[Path]) -> None:
    matrix_dir = a_matrix(tmp_path / "elsewhere", models)
    with pytest.raises(ConfigError, match="not a matrix directory of the reports directory"):
        check_matrix_resume(matrix_dir, tmp_path / "reports", [board()], [], "cpu", SETTINGS)
    nightly = a_matrix(tmp_path / "reports", models, kind="nightly")
    with pytest.raises(ConfigError, match="a nightly model matrix; `run --resume` goes on"):
        check(nightly, models)


def test_a_kept_run_counts_its_failures_and_skipped_cells(tmp_path: Path) -> None:
    run_dir = tmp_path / "20261204-120000-abcd"
    RunDir(run_dir).path.mkdir()
    rows = [
        {"board": "evk93", "cell": "cpu@1t", "kind": "timed", "repetition": 1, "status": "ok"},
        {"board": "evk93", "cell": "ethosu", "kind": "skipped", "repetition": 0,
         "status": "skipped", "error": "a float32 model"},
        {"board": "evk93", "cell": "cpu@2t", "kind": "timed", "repetition": 1, "status": "failed"},
    ]  # fmt: skip
    RunDir(run_dir).write_tables("", json.dumps(rows), json.dumps([{"board": "evk93"}]))
    RunDir(run_dir).write_boards(
        [{"board": "evk93", "error": None, "failed_cells": ["cpu@2t"], "phases": {}}]
    )
    kept = kept_result(run_dir)
    assert kept.failures == ["evk93 cpu@2t: failed"]
    assert kept.skipped == ["evk93 ethosu: a float32 model"]
    assert kept.run_id == run_dir.name and len(kept.table) == 3 and len(kept.summary) == 1


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IMXBENCH, "run", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_the_command_line_refuses_a_mismatch_in_one_line_exit_2(
    tmp_path: Path, models: list[Path]
) -> None:
    reports = tmp_path / "reports"
    matrix_dir = a_matrix(reports, models)
    base = ["--board", "imx93", "--emulate", "--delegate", "cpu", "--repetitions", "3",
            "--num-runs", "2", "--min-secs", "0", "--reports", str(reports)]  # fmt: skip
    before = sorted(p.name for p in reports.rglob("*"))
    # the boards differ (imx93, not evk93): refused before any emulator starts
    done = run_cli(*base, "--model", ",".join(map(str, models)), "--resume", str(matrix_dir))
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"imxbench: --resume {matrix_dir}: that matrix was on boards evk93, not imx93"
    ]
    # no model named: the matrix's are asked for
    done = run_cli(*base, "--resume", str(matrix_dir))
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "give the matrix's 3 models again" in done.stderr
    # --dry-run plans a whole run, as for one model's --resume
    done = run_cli(*base, "--model", str(models[0]), "--resume", str(matrix_dir), "--dry-run")
    assert done.returncode == 2, done.stderr
    assert "--dry-run plans a whole run; it does not take --resume" in done.stderr
    # several models, but one model's run directory
    run_dir = reports / "20261204-120001-abcd"
    done = run_cli(*base, "--model", ",".join(map(str, models)), "--resume", str(run_dir))
    assert done.returncode == 2, done.stderr
    assert f"--resume {run_dir}: one model's run (no matrix.json), not a model matrix" in (
        done.stderr
    )
    assert sorted(p.name for p in reports.rglob("*")) == before  # nothing written

"""Bad input, through the real command line: one line naming the file, key or value, exit code 2,
never a traceback, and nothing started on any board."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.locations import FLOAT_MODEL, IMXBENCH

REPO = Path(__file__).resolve().parents[2]


def imxbench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IMXBENCH, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_exit_2(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    first = done.stderr.strip().splitlines()[0]
    for text in expected:
        assert text in first, first


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "yaml_syntax": "boards:\n  b: {soc: imx8mp, host: h\n",
        "unknown_key": "boards:\n  b:\n    soc: imx8mp\n    host: h\n    colour: red\n",
        "password": "boards:\n  b:\n    soc: imx8mp\n    host: h\n"
        "    auth: {type: password, password: hunter2}\n",
    }
    out = {}
    for name, text in files.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        out[name] = path
    (tmp_path / "corrupt.tflite").write_bytes(os.urandom(2048))
    out["corrupt_model"] = tmp_path / "corrupt.tflite"
    delegates = tmp_path / "delegates"
    delegates.mkdir()
    (delegates / "cpu.yaml").write_text("description: x\nsocs: [imx8mp]\nprepare: maybe\n")
    out["delegates"] = delegates
    return out


def test_inventory_errors(bad_files: dict[str, Path]) -> None:
    done = imxbench("boards", "--inventory", str(bad_files["yaml_syntax"]))
    assert_one_line_exit_2(done, str(bad_files["yaml_syntax"]), "invalid YAML")
    done = imxbench("run", "--board", "b", "--inventory", str(bad_files["unknown_key"]))
    assert_one_line_exit_2(done, "boards.b.colour: unknown key")
    done = imxbench("boards", "--inventory", str(bad_files["password"]))
    assert_one_line_exit_2(done, "boards.b.auth.password: passwords are never stored in YAML")
    assert "hunter2" not in done.stderr


def test_unknown_board_and_delegates() -> None:
    assert_one_line_exit_2(imxbench("run", "--board", "nope"), "no board named 'nope'")
    assert_one_line_exit_2(
        imxbench("run", "--board", "imx8mp", "--emulate", "--delegate", "npu"),
        "unknown delegate 'npu'; known: cpu, ethosu, gpu, vx",
    )
    assert_one_line_exit_2(
        imxbench("run", "--board", "imx93", "--emulate", "--delegate", "vx"),
        "delegate 'vx' does not run on imx93",
    )


def test_bad_delegate_file(bad_files: dict[str, Path]) -> None:
    done = imxbench(
        "run",
        "--board",
        "imx8mp",
        "--emulate",
        env={"IMXBENCH_DELEGATES": str(bad_files["delegates"])},
    )
    assert_one_line_exit_2(done, "cpu.yaml: prepare: unknown value 'maybe'")


def test_model_errors(bad_files: dict[str, Path], tmp_path: Path) -> None:
    done = imxbench("run", "--board", "imx8mp", "--emulate", "--model", str(tmp_path / "no.tflite"))
    assert_one_line_exit_2(done, "no.tflite: model file not found")
    done = imxbench(
        "run", "--board", "imx8mp", "--emulate", "--model", str(bad_files["corrupt_model"])
    )
    assert_one_line_exit_2(done, "corrupt.tflite")
    done = imxbench(
        "run",
        "--board",
        "imx93",
        "--emulate",
        "--delegate",
        "ethosu",
        "--model",
        str(FLOAT_MODEL),
    )
    assert_one_line_exit_2(done, "float32 model; the ethosu delegate runs only integer")


def test_dataset_errors(tmp_path: Path) -> None:
    done = imxbench("run", "--board", "imx8mp", "--emulate", "--dataset", str(tmp_path / "none"))
    assert_one_line_exit_2(done, str(tmp_path / "none"))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "readme.txt").write_text("not a dataset")
    done = imxbench("run", "--board", "imx8mp", "--emulate", "--dataset", str(tmp_path / "junk"))
    assert_one_line_exit_2(done, str(tmp_path / "junk"))


def test_bad_history_url_stops_the_run(tmp_path: Path) -> None:
    """`run` opens its history while the board works (deferred_store.py): a bad --db still
    ends the run with one line and exit 2, the board's step is cancelled, and what was asked is
    on disk as a partial run."""
    done = imxbench(
        "run", "--board", "imx8mp", "--emulate", "--reports", str(tmp_path), "--db", "bogus:://x",
        "--delegate", "cpu", "--repetitions", "3", "--no-op-profile", "--min-secs", "2",
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("imxbench:")]
    assert errors == ["imxbench: --db bogus:://x: unsupported database URL"], done.stderr
    assert "rep 3 ok" not in done.stderr  # cancelled: 3 steps of >= 2 s did not all run
    (run_dir,) = [p for p in tmp_path.iterdir() if (p / "run.json").is_file()]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "partial"
    assert not (tmp_path / "imxbench.sqlite").exists()  # no other history was written instead


def test_nightly_junit_and_summary_paths_are_checked_before_the_night(tmp_path: Path) -> None:
    """Before: an unwritable --junit or --summary was a traceback (exit 1, read as a
    regression) once the whole night had run."""
    (tmp_path / "a-file").write_text("")
    for option in ("--junit", "--summary"):
        done = imxbench(
            "nightly", "--board", "imx8mp", "--emulate", "--reports", str(tmp_path / "r"),
            option, str(tmp_path / "a-file" / "out.xml"),
        )  # fmt: skip
        assert_one_line_exit_2(done, f"{option} {tmp_path / 'a-file'}: not a directory")
        assert "connected" not in done.stderr  # no board was started

"""`imxbench nightly --emulate` end to end, and the history commands on what it recorded.

Four emulated nightlies of both boards: a first (no baseline: nothing compared, and it says
so), one more unchanged (two clean nightlies: the board's other cells lend the young series
their night-to-night noise), one with an 8% slowdown of the 8M Plus VX delegate only
(`--slowdown vx=8%`, issue 18's done-when; the GPU cell uses the same delegate library and
must not be named), then an unchanged one.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from imxbench.board.locks import BoardLock
from imxbench.cli.main import main
from imxbench.history.store import open_store
from tests.locations import IMXBENCH

REPO = Path(__file__).resolve().parents[2]
FAST = [
    "--repetitions", "5", "--num-runs", "10", "--min-secs", "0", "--no-op-profile",
    "--threads", "1",
]  # fmt: skip
SLOW = 2  # the night with the slowed NPU


def imxbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IMXBENCH, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


@pytest.fixture(scope="module", name="reports")
def fixture_reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="module", name="nights")
def fixture_nights(reports: Path) -> list[tuple[subprocess.CompletedProcess[str], dict[str, Any]]]:
    out = []
    # the first night in text, as a person sees it; the others as JSON
    first = imxbench("nightly", "--emulate", *FAST, "--reports", str(reports))
    lines = first.stdout.splitlines()
    summary = next((x.removeprefix("summary: ") for x in lines if x.startswith("summary: ")), "")
    assert lines and summary, first.stdout + first.stderr
    out_dir = Path(summary).parent
    doc = {
        "run_id": lines[0].split()[2].rstrip(":"),
        "outcome": lines[0].split(": ", 1)[1],
        "out_dir": str(out_dir),
        "summary": summary,
        "cells": json.loads((out_dir / "verdicts.json").read_text()),
    }
    out.append((first, doc))
    for extra in ([], ["--slowdown", "vx=8%"], []):
        done = imxbench(
            "nightly", "--emulate", *FAST, "--reports", str(reports), "--format", "json", *extra
        )
        assert done.stdout.strip(), done.stderr
        out.append((done, json.loads(done.stdout)))
    return out


def verdicts(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(c["board"], c["cell"]): c["verdict"] for c in doc["cells"]}


def test_the_first_night_has_no_baseline_says_so_and_exits_0(nights: list[Any]) -> None:
    done, doc = nights[0]
    assert done.returncode == 0, done.stderr
    assert set(verdicts(doc)) == {
        ("imx8mp", "cpu@1t"), ("imx8mp", "vx"), ("imx8mp", "gpu"),
        ("imx93", "cpu@1t"), ("imx93", "ethosu"),
    }  # fmt: skip
    assert set(verdicts(doc).values()) == {"no baseline"}
    # never CLEAN: the outcome line says that nothing was compared
    assert doc["outcome"].startswith("NO BASELINE (nothing compared")
    assert "CLEAN" not in done.stdout
    assert "NO BASELINE imx8mp vx: no baseline" in done.stdout
    summary = Path(doc["summary"]).read_text()
    assert summary.startswith(f"# imxbench nightly {doc['run_id']}: NO BASELINE")
    assert "| imx8mp | vx | no baseline |" in summary


def test_a_slowed_delegate_fails_the_night_naming_exactly_that_board_and_delegate(
    nights: list[Any],
) -> None:
    done, doc = nights[SLOW]
    assert done.returncode == 1, done.stderr
    assert doc["outcome"] == "REGRESSION"
    alarms = [k for k, v in verdicts(doc).items() if v in ("regressed", "failed")]
    assert alarms == [("imx8mp", "vx")]
    vx = next(c for c in doc["cells"] if c["cell"] == "vx")
    assert vx["change_pct"] == pytest.approx(8.0, abs=2.5)
    assert vx["ci_pct"][0] > 3.0
    assert vx["baseline_run_ids"] == [doc["run_id"] for _, doc in nights[SLOW - 1 :: -1]]


def test_an_unchanged_night_exits_0(nights: list[Any]) -> None:
    done, doc = nights[SLOW + 1]
    assert done.returncode == 0, done.stderr
    assert doc["outcome"] == "CLEAN"
    said = verdicts(doc)
    assert not {v for v in said.values()} & {"regressed", "failed", "improved", "missing"}
    # the regressed night is not in the NPU's baseline: the nights before it are
    vx = next(c for c in doc["cells"] if c["cell"] == "vx")
    assert vx["baseline_run_ids"] == [doc["run_id"] for _, doc in nights[SLOW - 1 :: -1]]


def test_junit_xml_and_markdown_summary(nights: list[Any]) -> None:
    doc = nights[SLOW][1]
    root = ET.parse(doc["junit"]).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "1", "0")
    failing = [
        (suite.get("name"), case.get("name"))
        for suite in root.iter("testsuite")
        for case in suite.iter("testcase")
        if case.find("failure") is not None
    ]
    assert failing == [("imx8mp", "vx")]
    summary = Path(doc["summary"]).read_text()
    assert summary.startswith(f"# imxbench nightly {doc['run_id']}: REGRESSION")
    assert "| imx8mp | vx | **regressed** |" in summary
    verdict_file = json.loads((Path(doc["out_dir"]) / "verdicts.json").read_text())
    assert {v["cell"] for v in verdict_file if v["verdict"] == "regressed"} == {"vx"}


def test_a_cell_that_cannot_run_the_model_is_skipped_never_judged(tmp_path: Path) -> None:
    """A float model: the 8M Plus NPU (integer only) is a skipped cell, recorded as such in
    the history, JUnit <skipped>, never a failure; the night exits 0."""
    from tests.locations import FLOAT_MODEL

    done = imxbench(
        "nightly", "--board", "imx8mp", "--emulate", *FAST, "--model", str(FLOAT_MODEL),
        "--reports", str(tmp_path), "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    said = {c["cell"]: c for c in doc["cells"]}
    assert said["vx"]["verdict"] == "skipped"
    assert "the vx delegate runs only integer-quantized" in said["vx"]["detail"]
    assert {said[c]["verdict"] for c in ("cpu@1t", "gpu")} == {"no baseline"}
    root = ET.parse(doc["junit"]).getroot()
    assert (root.get("failures"), root.get("errors")) == ("0", "0")
    vx = next(c for c in root.iter("testcase") if c.get("name") == "vx")
    assert vx.find("skipped") is not None
    with open_store(None, tmp_path) as store:
        run = store.load_run(doc["run_id"])
    cells = {c.cell: c for c in run.cells}
    assert cells["vx"].status == "skipped" and cells["vx"].samples == ()
    assert cells["gpu"].status == "ok"


def cli(*args: str) -> tuple[int, str, str]:
    """`imxbench ARGS` in this process, through main() (exit codes as the shell sees them)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["imxbench", *args])
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_history_compare_and_baseline_commands(nights: list[Any], reports: Path) -> None:
    ids = [doc["run_id"] for _, doc in nights]
    where = ["--reports", str(reports)]
    code, out, _ = cli("history", *where, "--format", "json")
    assert code == 0
    runs = json.loads(out)
    assert [r["run_id"] for r in runs] == ids[::-1]
    verdicts = runs[1]["verdicts"]
    # with two baseline nights an unchanged cell may honestly be "inconclusive": no alarm
    assert verdicts.pop("regressed") == 1
    assert set(verdicts) <= {"unchanged", "inconclusive"} and sum(verdicts.values()) == 4
    assert runs[1]["boards"] == ["imx8mp", "imx93"] and runs[1]["status"] == "complete"
    code, out, _ = cli("history", *where, "--delegate", "vx", "--since", "2000-01-01")
    assert code == 0 and ids[0] in out and "nightly  complete" in out
    code, _, err = cli("history", *where, "--board", "nosuchboard")  # issue 18: say unknown
    assert code == 2 and "unknown board 'nosuchboard'" in err
    code, out, _ = cli("compare", ids[SLOW - 1], ids[SLOW], *where)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"{ids[SLOW]} against {ids[SLOW - 1]}"
    assert lines[4].split()[:3] == ["imx8mp", "vx", "regressed"]
    assert cli("compare", ids[SLOW - 1], ids[SLOW + 1], *where)[0] == 0
    code, out, _ = cli("baseline", "set", ids[SLOW][:15], *where)
    assert code == 0 and out.strip() == f"baseline default = {ids[SLOW]}"
    assert ids[SLOW] in cli("baseline", "list", *where)[1]
    listed = json.loads(cli("baseline", "list", *where, "--format", "json")[1])
    assert [(b["name"], b["run_id"]) for b in listed] == [("default", ids[SLOW])]
    code, _, err = cli("compare", "nosuchrun", ids[0], *where)
    assert code == 2 and "no run 'nosuchrun'" in err


def test_a_busy_board_is_an_infrastructure_failure_naming_its_holder(tmp_path: Path) -> None:
    lock = BoardLock("imx93", tmp_path / "locks", job="nightly 20250101-000000-beef")
    lock.acquire()
    try:
        done = imxbench("nightly", "--emulate", "--board", "imx93", "--reports", str(tmp_path))
    finally:
        lock.release()
    assert done.returncode == 3, done.stderr
    assert "INFRASTRUCTURE FAILURE" in done.stdout
    assert "BOARD imx93: imx93: busy: held by " in done.stdout
    assert "(nightly 20250101-000000-beef)" in done.stdout
    runs = json.loads(imxbench("history", "--reports", str(tmp_path), "--format", "json").stdout)
    assert runs[0]["status"] == "partial" and "imx93" in runs[0]["board_errors"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--baseline", "latest"], "--baseline latest: expected anchored or named[:NAME]"),
        (["--baseline", "named:nope"], "no baseline named 'nope'"),
        (["--emulator-faults", "{"], "--emulator-faults: not JSON"),
        (["--board", "nosuch"], "no board named 'nosuch'"),
    ],
)
def test_bad_input_is_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    code, _, err = cli("nightly", "--emulate", "--reports", str(tmp_path), *args)
    assert code == 2, err
    assert message in err


def test_an_interrupted_run_is_recorded_as_partial_with_what_finished(tmp_path: Path) -> None:
    db = tmp_path / "lab.sqlite"
    proc = subprocess.Popen(
        [
            *IMXBENCH, "run", "--board", "imx93", "--emulate",
            "--delegate", "cpu", "--repetitions", "3", "--num-runs", "5", "--min-secs", "0",
            "--no-op-profile", "--reports", str(tmp_path), "--db", str(db),
        ],
        cwd=REPO,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:  # the first cell has finished: stop the run
        if "cpu@2t: rep 1 ..." in line:
            proc.send_signal(signal.SIGTERM)
            break
    assert proc.wait(timeout=120) == 130
    code, out, _ = cli("history", "--db", str(db), "--reports", str(tmp_path), "--format", "json")
    assert code == 0
    (run,) = json.loads(out)
    assert (run["kind"], run["status"]) == ("run", "partial")
    assert run["note"].startswith("interrupted")
    with open_store(str(db)) as store:
        cells = {c.cell: c for c in store.load_run(run["run_id"]).cells}
    assert len(cells["cpu@1t"].latencies_us) == 3  # what finished is kept


def test_history_of_an_unknown_board_says_so(nights: list[Any], reports: Path) -> None:
    code, out, err = cli("history", "--board", "nope", "--reports", str(reports))
    assert code == 2 and out == ""
    assert err.startswith("imxbench: unknown board 'nope': the history has runs of imx8mp, imx93")
    code, out, _ = cli("history", "--board", "imx93", "--reports", str(reports))
    assert code == 0 and "imx93" in out

"""Connection loss, board reboot, Ctrl-C/SIGTERM and resume: finished work is never lost."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from imxbench.analysis.plan import RunSettings
from imxbench.config.delegates import load_catalogue
from imxbench.emulator.board_image import build_board_state
from imxbench.emulator.faults import update_faults
from imxbench.emulator.launcher import RunningEmulator, start_emulator
from imxbench.model.progress import ProgressEvent
from imxbench.run.job import run_job
from tests.emulator_fixtures import inventory_board, run_ssh
from tests.locations import IMXBENCH
from tests.ssh_servers import SshServer, start_board_sshd

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "imxbench/reference_models/pretrainedResnet_quant.tflite"
QUICK = RunSettings(repetitions=2, num_runs=5, min_secs=0, op_profile=False)


@pytest.fixture
def board93() -> Iterator[RunningEmulator]:
    emulator = start_emulator("imx93", seed=11)
    yield emulator
    emulator.stop()


def on_board(emulator: RunningEmulator, command: str) -> str:
    return run_ssh(emulator, command).stdout.decode()


def test_connection_dropped_mid_run_reconnects_and_loses_nothing(
    board93: RunningEmulator, tmp_path: Path
) -> None:
    drops = {"n": 0}

    def progress(event: ProgressEvent) -> None:
        if event.cell == "cpu@2t" and event.message == "rep 1 ..." and drops["n"] == 0:
            drops["n"] += 1
            board93.set_faults(drop_connection_on_exec=True)  # the very next exec is cut

    result = run_job(
        [inventory_board(board93, "evk93")],
        MODEL,
        load_catalogue(),
        "cpu,ethosu",
        QUICK,
        tmp_path,
        tmp_path / "vela",
        progress=progress,
    )
    assert drops["n"] == 1
    assert result.failures == []
    assert result.board_runs[0].reconnects == 1
    assert len(result.table[result.table["kind"] == "timed"]) == 6  # 3 cells x 2 repetitions


def test_board_reboot_mid_run_reconnects_with_backoff(
    board93: RunningEmulator, tmp_path: Path
) -> None:
    def progress(event: ProgressEvent) -> None:
        if event.cell == "cpu@1t" and event.message.startswith("rep 2 ok"):
            board93.restart()  # the board reboots between two steps

    result = run_job(
        [inventory_board(board93, "evk93")],
        MODEL,
        load_catalogue(),
        "cpu",
        QUICK,
        tmp_path,
        tmp_path / "vela",
        progress=progress,
    )
    assert result.failures == []
    assert result.board_runs[0].reconnects == 1
    assert sorted(result.table["cell"].unique()) == ["cpu@1t", "cpu@2t"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_keeps_finished_steps_cleans_the_board_and_resumes(
    board93: RunningEmulator, tmp_path: Path, sig: signal.Signals
) -> None:
    inventory = tmp_path / "boards.yaml"
    inventory.write_text(
        "boards:\n  evk93:\n    soc: imx93\n    host: 127.0.0.1\n"
        f"    port: {board93.port}\n    auth: {{type: none}}\n"
        f"    known_hosts: {board93.known_hosts_path}\n"
    )
    argv = [
        *IMXBENCH,
        "run",
        "--board",
        "evk93",
        "--inventory",
        str(inventory),
        "--reports",
        str(tmp_path / "reports"),
        "--repetitions",
        "2",
        "--num-runs",
        "5",
        "--min-secs",
        "0",
        "--no-op-profile",
        "--delegate",
        "cpu",
    ]
    board93.set_faults(slowdown=400.0)  # ~0.7 s per inference: steps are slow enough to hit
    proc = subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen = ""
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    while "cpu@1t: rep 2 ..." not in seen and time.monotonic() < deadline:
        seen += proc.stderr.readline()
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, seen + err
    assert "interrupted: partial results in" in err
    run_dir = next(p for p in (tmp_path / "reports").iterdir() if (p / "run.json").is_file())
    run_doc = json.loads((run_dir / "run.json").read_text())
    assert run_doc["status"] == "partial" and run_doc["interrupted"] is True
    rows = json.loads((run_dir / "results.json").read_text())
    assert [(r["cell"], r["repetition"], r["status"]) for r in rows] == [("cpu@1t", 1, "ok")]
    deadline = time.monotonic() + 10
    while "benchmark_tool" in on_board(board93, "ps -eo args") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "benchmark_tool" not in on_board(board93, "ps -eo args")  # the board is clean

    board93.set_faults(slowdown=1.0)
    done = subprocess.run(
        [*argv, "--resume", str(run_dir), "--format", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads((run_dir / "results.json").read_text())
    steps = sorted((r["cell"], r["repetition"]) for r in rows)
    assert steps == [("cpu@1t", 1), ("cpu@1t", 2), ("cpu@2t", 1), ("cpu@2t", 2)]
    run_doc = json.loads((run_dir / "run.json").read_text())
    assert run_doc["status"] == "complete" and run_doc["resumed_steps"] == 1


def test_a_killed_imxbench_leaves_nothing_running_on_the_board(tmp_path: Path) -> None:
    """SIGKILL: no handler of ours runs, the connection just vanishes, and OpenSSH's sshd keeps
    a vanished client's commands running. The step's watchdog on the board sees its channel
    reach end of file and kills the step's process group (transport._process_group_wrapper)."""
    layout = build_board_state("imx93", tmp_path / "state")
    update_faults(layout.control_dir, slowdown=400.0)  # ~0.7 s per inference: a ~30 s step
    server = start_board_sshd(layout, tmp_path / "sshd")
    try:
        inventory = tmp_path / "boards.yaml"
        inventory.write_text(
            f"boards:\n  evk93:\n    soc: imx93\n    host: 127.0.0.1\n    port: {server.port}\n"
            f"    auth: {{type: key, key_file: {server.client_key}}}\n"
            f"    known_hosts: {server.known_hosts}\n"
        )
        proc = subprocess.Popen(
            [*IMXBENCH, "run", "--board", "evk93", "--inventory",
             str(inventory), "--reports", str(tmp_path / "reports"), "--repetitions", "1",
             "--num-runs", "40", "--min-secs", "0", "--no-op-profile", "--delegate", "cpu"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        assert proc.stderr is not None
        seen, deadline = "", time.monotonic() + 120
        while "cpu@1t: rep 1 ..." not in seen and time.monotonic() < deadline:
            seen += proc.stderr.readline()
        deadline = time.monotonic() + 30
        while not _steps_running(server):
            assert time.monotonic() < deadline, "the step never started on the board"
            time.sleep(0.1)
        # into the timed inferences, where benchmark_model prints nothing for ~25 s: without
        # the watchdog it would live on until its next write hit the closed pipe
        time.sleep(5)
        proc.kill()
        proc.wait()
        killed_at = time.monotonic()
        while _steps_running(server):
            assert time.monotonic() - killed_at < 8, "the step outlived imxbench on the board"
            time.sleep(0.2)
    finally:
        server.stop()


def _steps_running(server: SshServer) -> bool:
    """Is an (emulated) benchmark_model running on the board behind `server`?"""
    board = SimpleNamespace(host="127.0.0.1", port=server.port, known_hosts_path=server.known_hosts)
    done = run_ssh(board, "ps -eo args", extra=["-i", str(server.client_key)])
    assert done.returncode == 0, done.stderr
    return "benchmark_tool" in done.stdout.decode()


def test_ctrl_c_while_emulated_boards_start_stops_every_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: Ctrl-C while `run --emulate` booted its boards (the first second of a run) left
    each board that came up after it running forever, orphaned, with its state folder."""
    import os
    import tempfile
    import threading

    from imxbench.board.connect import emulated_boards
    from imxbench.config.inventory import emulated_board

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the boards' state folders here
    boards = [emulated_board("imx8mp", "imx8mp"), emulated_board("imx93", "imx93")]
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()  # while they boot
    with pytest.raises(KeyboardInterrupt), emulated_boards(boards, True):
        time.sleep(30)
    assert list(tmp_path.glob("imxbench-*")) == []  # stopped: every state folder removed
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert left.stdout == ""  # and nothing of them left running

"""The phase after the benchmark cells (the accuracy evaluation) under faults (issue 15): a full
disk or a dropped connection in its upload, a connection dropped between its delegates, Ctrl-C
and SIGTERM in the middle of it. What finished is kept; a dropped connection is re-opened, as in
the benchmark phase; a cancel stops it within seconds."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from imxbench.accuracy.phase import AccuracyRequest
from imxbench.analysis.plan import RunSettings
from imxbench.config.delegates import load_catalogue
from imxbench.config.inventory import Board
from imxbench.emulator.board_image import build_board_state
from imxbench.emulator.launcher import RunningEmulator, start_emulator
from imxbench.model.progress import ProgressEvent
from imxbench.run.job import run_job
from tests.dataset_builders import MODEL, REPO, generate, write_npy
from tests.emulator_fixtures import inventory_board, run_ssh
from tests.locations import IMXBENCH
from tests.ssh_servers import start_board_sshd

SETTINGS = RunSettings(
    repetitions=1, num_runs=2, warmup_runs=0, min_secs=0, op_profile=False, threads=4
)
IMAGES = 60  # 60 x 32 x 32 x 3 bytes: 180 kB to upload


@pytest.fixture
def board8() -> Iterator[RunningEmulator]:
    emulator = start_emulator("imx8mp", seed=7)
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, _ = write_npy(tmp_path_factory.mktemp("data") / "npy", generate(IMAGES))
    return path


def benchmark_rows(run_dir: Path) -> list[tuple[str, str]]:
    rows = json.loads((run_dir / "results.json").read_text())
    return sorted((r["cell"], r["status"]) for r in rows)


@pytest.fixture(params=["emulator", "sshd"])
def any_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnBoard]:
    """An emulated i.MX 8M Plus behind the emulator's SSH server, or behind OpenSSH's sshd
    (whose SFTP server reports a full disk as an error of the write itself)."""
    if request.param == "emulator":
        emulator = start_emulator("imx8mp", seed=7)
        try:
            board = inventory_board(emulator, "evk")
            yield OnBoard(board, lambda command: run_ssh(emulator, command))
        finally:
            emulator.stop()
        return
    layout = build_board_state("imx8mp", tmp_path / "state")
    server = start_board_sshd(layout, tmp_path / "sshd")
    target = SimpleNamespace(
        host="127.0.0.1", port=server.port, known_hosts_path=server.known_hosts
    )
    try:
        yield OnBoard(
            server.board(name="evk", workdir="/home/root/imxbench"),
            lambda command: run_ssh(target, command, extra=["-i", str(server.client_key)]),
        )
    finally:
        server.stop()


@dataclass
class OnBoard:
    board: Board
    run: Callable[[str], subprocess.CompletedProcess[bytes]]


def test_a_full_disk_in_the_accuracy_upload_fails_that_phase_and_keeps_the_benchmark(
    any_server: OnBoard, dataset: Path, tmp_path: Path
) -> None:
    def progress(event: ProgressEvent) -> None:
        if event.kind == "accuracy" and "uploading data and script" in event.message:
            # the board's disk fills up between the phases: 64 kB left where the data goes
            done = any_server.run(
                "mkdir -p /home/root/imxbench/accuracy && "
                "mount -t tmpfs -o size=64k tmpfs /home/root/imxbench/accuracy",
            )
            assert done.returncode == 0, done.stderr

    result = run_job(
        [any_server.board], MODEL, load_catalogue(), "cpu,vx", SETTINGS, tmp_path / "reports",
        tmp_path / "vela", accuracy=AccuracyRequest(dataset), progress=progress,
    )  # fmt: skip
    run_dir = result.out_dir
    assert benchmark_rows(run_dir) == [("cpu@4t", "ok"), ("vx", "ok"), ("vx", "ok")]  # nothing lost
    run_doc = json.loads((run_dir / "run.json").read_text())
    assert run_doc["status"] == "partial"
    assert run_doc["phases"] == {"evk": {"benchmark": "complete", "accuracy": "failed"}}
    assert result.failures[0].startswith(
        "evk: accuracy phase failed: not enough space in /home/root/imxbench/accuracy for the "
        "accuracy data: it needs 181 kB, 64 kB are free"
    ), result.failures
    cells = json.loads((run_dir / "accuracy.json").read_text())["cells"]
    assert [(c["delegate"], c["status"]) for c in cells] == [("cpu", "failed"), ("vx", "failed")]


def test_a_connection_dropped_in_the_accuracy_upload_reconnects_and_uploads_again(
    board8: RunningEmulator, dataset: Path, tmp_path: Path
) -> None:
    # the connection's SFTP channel opens for the model (98 kB, sent once for cpu and vx), and
    # drops 50 kB into the next upload: the accuracy data. (Before: a traceback, no results.)
    model_bytes = MODEL.stat().st_size
    board8.set_faults(drop_connection_after_bytes=model_bytes + 50_000)
    result = run_job(
        [inventory_board(board8, "evk")], MODEL, load_catalogue(), "cpu,vx", SETTINGS,
        tmp_path / "reports", tmp_path / "vela", accuracy=AccuracyRequest(dataset),
    )  # fmt: skip
    assert board8.faults()["drop_connection_after_bytes"] is None  # it fired
    assert result.failures == []
    assert result.board_runs[0].reconnects == 1
    assert result.accuracy is not None
    assert [(c.delegate, c.status) for c in result.accuracy.cells] == [("cpu", "ok"), ("vx", "ok")]
    assert benchmark_rows(result.out_dir) == [("cpu@4t", "ok"), ("vx", "ok"), ("vx", "ok")]
    run_doc = json.loads((result.out_dir / "run.json").read_text())
    assert run_doc["status"] == "complete"


def test_a_connection_dropped_in_the_accuracy_phase_reconnects_and_loses_nothing(
    board8: RunningEmulator, dataset: Path, tmp_path: Path
) -> None:
    drops = {"n": 0}

    def progress(event: ProgressEvent) -> None:
        # the CPU's evaluation has counted its last image: its result is about to be fetched,
        # and the very next command (removing it from the board) is cut, connection and all
        if (
            event.kind == "accuracy_count"
            and event.cell == "accuracy cpu"
            and event.done == event.planned
            and drops["n"] == 0
        ):
            drops["n"] += 1
            board8.set_faults(drop_connection_on_exec=True)

    result = run_job(
        [inventory_board(board8, "evk")], MODEL, load_catalogue(), "cpu,vx", SETTINGS,
        tmp_path / "reports", tmp_path / "vela", accuracy=AccuracyRequest(dataset),
        progress=progress,
    )  # fmt: skip
    assert drops["n"] == 1
    assert result.failures == []
    assert result.board_runs[0].reconnects == 1
    assert result.accuracy is not None
    cells = [(c.delegate, c.status, c.metrics.images if c.metrics else 0)
             for c in result.accuracy.cells]  # fmt: skip
    assert cells == [("cpu", "ok", IMAGES), ("vx", "ok", IMAGES)]
    run_doc = json.loads((result.out_dir / "run.json").read_text())
    assert run_doc["status"] == "complete"
    assert run_doc["phases"] == {"evk": {"benchmark": "complete", "accuracy": "complete"}}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_in_the_accuracy_phase_stops_it_and_kills_the_evaluation_on_the_board(
    board8: RunningEmulator, dataset: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    inventory = tmp_path / "boards.yaml"
    inventory.write_text(
        "boards:\n  evk:\n    soc: imx8mp\n    host: 127.0.0.1\n"
        f"    port: {board8.port}\n    auth: {{type: none}}\n"
        f"    known_hosts: {board8.known_hosts_path}\n"
    )
    proc = subprocess.Popen(
        [*IMXBENCH, "run", "--board", "evk", "--inventory", str(inventory), "--reports",
         str(tmp_path / "reports"), "--repetitions", "1", "--num-runs", "2", "--min-secs", "0",
         "--warmup-runs", "0", "--threads", "4", "--no-op-profile", "--delegate", "cpu,vx",
         "--dataset", str(dataset)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    seen, deadline = "", time.monotonic() + 120
    while "uploading data and script" not in seen and time.monotonic() < deadline:
        seen += proc.stderr.readline()
    board8.set_faults(hang=True)  # every evaluation from now on hangs at its first inference
    deadline = time.monotonic() + 30
    while "accuracy/evaluate" not in run_ssh(board8, "ps -eo args").stdout.decode():
        assert time.monotonic() < deadline, "the evaluation never started on the board"
        time.sleep(0.1)
    time.sleep(1)
    signalled = time.monotonic()
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"still running 20 s after {sig.name}: {err[-2000:]}")
    stopped_after = time.monotonic() - signalled
    assert proc.returncode == 130, seen + err
    assert stopped_after < 10, stopped_after
    assert "accuracy vx" not in err, err  # the next delegate's evaluation never started
    deadline = time.monotonic() + 10
    while "accuracy/evaluate" in run_ssh(board8, "ps -eo args").stdout.decode():
        assert time.monotonic() < deadline, "the evaluation outlived the cancel on the board"
        time.sleep(0.2)
    run_dir = next(p for p in (tmp_path / "reports").iterdir() if (p / "run.json").is_file())
    run_doc = json.loads((run_dir / "run.json").read_text())
    assert run_doc["status"] == "partial" and run_doc["interrupted"] is True
    assert run_doc["phases"] == {"evk": {"benchmark": "complete", "accuracy": "interrupted"}}
    assert benchmark_rows(run_dir) == [("cpu@4t", "ok"), ("vx", "ok"), ("vx", "ok")]

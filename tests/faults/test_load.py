"""Load: 8 emulated boards in parallel, 20 runs each. No result lost; no connection, thread or
file descriptor leaked (counted before and after)."""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from imxbench.analysis.plan import RunSettings
from imxbench.config.delegates import load_catalogue
from imxbench.config.inventory import AuthSpec, Board
from imxbench.emulator.launcher import start_emulator
from imxbench.run.job import run_job

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "imxbench/reference_models/pretrainedResnet_quant.tflite"
BOARDS = 8
RUNS = 20
# the smallest real plan: one benchmark_model process per board and run
TINY = RunSettings(
    repetitions=1,
    num_runs=1,
    warmup_runs=0,
    min_secs=0,
    threads=1,
    op_profile=False,
    cold_run=False,
)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


def settle() -> tuple[int, int, int]:
    """(threads, fds, sockets) once paramiko's background threads have wound down."""
    deadline = time.monotonic() + 10
    while True:
        gc.collect()
        now = (threading.active_count(), open_fds(), open_sockets())
        if time.monotonic() > deadline or now[0] <= before_threads:
            return now
        time.sleep(0.1)


before_threads = threading.active_count()


def test_eight_boards_twenty_runs_lose_nothing_and_leak_nothing(tmp_path: Path) -> None:
    with ExitStack() as stack:
        emulators = [
            stack.enter_context(start_emulator("imx8mp" if i % 2 else "imx93", seed=i))
            for i in range(BOARDS)
        ]
        boards = [
            Board(
                name=f"b{i}",
                soc=e.soc,
                host=e.host,
                port=e.port,
                user=e.user,
                auth=AuthSpec("none"),
                known_hosts=str(e.known_hosts_path),
            )
            for i, e in enumerate(emulators)
        ]
        catalogue = load_catalogue()
        run_job(boards, MODEL, catalogue, "cpu", TINY, tmp_path, tmp_path / "vela")  # warm-up
        threads, fds, sockets = settle()
        run_dirs = []
        for _ in range(RUNS):
            result = run_job(boards, MODEL, catalogue, "cpu", TINY, tmp_path, tmp_path / "vela")
            assert result.failures == []
            timed = result.table[result.table["kind"] == "timed"]
            assert sorted(timed["board"]) == sorted(b.name for b in boards)  # one row each
            assert timed["inference_avg_us"].notna().all()
            run_dirs.append(result.out_dir)
        after = settle()
    assert len(set(run_dirs)) == RUNS and all((d / "results.json").is_file() for d in run_dirs)
    assert after[0] <= threads, f"threads {threads} -> {after[0]}"
    assert after[1] <= fds, f"file descriptors {fds} -> {after[1]}"
    assert after[2] <= sockets, f"sockets {sockets} -> {after[2]}"

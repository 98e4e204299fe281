"""Board state: a full or read-only disk, a missing benchmark_model or delegate library give a
clear error naming the board and the cause; cells that can run still run."""

from __future__ import annotations

from pathlib import Path

import pytest

from imxbench.analysis.plan import RunSettings
from imxbench.config.delegates import load_catalogue
from imxbench.config.inventory import AuthSpec, Board
from imxbench.emulator.launcher import start_emulator
from imxbench.run.job import JobResult, run_job

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "imxbench/reference_models/pretrainedResnet_quant.tflite"
QUICK = RunSettings(repetitions=1, num_runs=3, min_secs=0, op_profile=False, cold_run=False)


def run_with_boot_fault(fault: str, tmp_path: Path) -> JobResult:
    with start_emulator("imx8mp", boot_faults=(fault,)) as emulator:
        board = Board(
            name="evk",
            soc="imx8mp",
            host=emulator.host,
            port=emulator.port,
            user=emulator.user,
            auth=AuthSpec("none"),
            known_hosts=str(emulator.known_hosts_path),
        )
        return run_job(
            [board], MODEL, load_catalogue(), "cpu,vx", QUICK, tmp_path, tmp_path / "vela"
        )


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            "disk_full",
            "evk: not enough space in /home/root/imxbench: the models need 97 kB, 64 kB are free",
        ),
        ("readonly_workdir", "evk: the workdir /home/root/imxbench is not writable"),
        (
            "no_benchmark_model",
            "evk: no benchmark_model on the board (looked for "
            "/usr/bin/tensorflow-lite-*/examples/benchmark_model)",
        ),
    ],
)
def test_board_level_faults_fail_the_board_with_a_clear_error(
    fault: str, message: str, tmp_path: Path
) -> None:
    result = run_with_boot_fault(fault, tmp_path)
    assert len(result.failures) == 1
    assert result.failures[0].startswith(message)
    assert result.board_runs[0].facts is not None  # the probe still told us about the board
    assert (result.out_dir / "facts/evk.json").is_file()


def test_a_missing_delegate_library_fails_only_that_delegate(tmp_path: Path) -> None:
    result = run_with_boot_fault("no_delegate", tmp_path)
    assert result.failures == ["evk vx: failed"]
    rows = result.table.drop_duplicates("cell").set_index("cell")
    assert (
        rows.loc["vx", "error"] == "delegate library /usr/lib/libvx_delegate.so is not on the board"
    )
    assert rows.loc["cpu@1t", "status"] == "ok" and rows.loc["cpu@4t", "status"] == "ok"

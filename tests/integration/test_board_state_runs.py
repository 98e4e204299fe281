"""Issue 16 against the emulator: older BSPs (LF5.15's built-in Ethos-U op and log format), the
board's Vela beside the host's, clock and thermal per step (throttling, --cooldown), the CPU
governor restored after every kind of end, and a failed NPU cell's kernel log."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from imxbench.analysis.plan import ROUTE_BUILTIN_ETHOSU, RunSettings
from imxbench.board import clocks
from imxbench.board.transport import BoardSession
from imxbench.config.delegates import load_catalogue
from imxbench.emulator.launcher import RunningEmulator, start_emulator
from imxbench.model.progress import ProgressEvent
from imxbench.prepare.model_prep import prepare_model
from imxbench.report.build import write_run_report
from imxbench.run.job import run_job
from imxbench.run.pipeline import CancelToken, run_board
from tests.emulator_fixtures import inventory_board, run_ssh
from tests.locations import IMXBENCH, REPO

MODEL = REPO / "imxbench/reference_models/pretrainedResnet_quant.tflite"
FAST = ["--repetitions", "1", "--num-runs", "5", "--warmup-runs", "1", "--min-secs", "0"]
SETTINGS = RunSettings(repetitions=1, num_runs=5, warmup_runs=1, min_secs=0)
GOVERNOR = "/sys/devices/system/cpu/cpufreq/policy0/scaling_governor"


def imxbench_json(tmp_path: Path, *args: str) -> dict:  # type: ignore[type-arg]
    done = subprocess.run(
        [
            *IMXBENCH,
            "run",
            *args,
            "--emulate",
            *FAST,
            "--format",
            "json",
            "--reports",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    out["stderr"] = done.stderr
    out["rows"] = json.loads((Path(out["out_dir"]) / "results.json").read_text())
    return out


def board_text(emulator: RunningEmulator, command: str) -> str:
    done = run_ssh(emulator, command)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


# -- BSP releases -------------------------------------------------------------------------------


def test_lf_5_15_i_mx93_ethosu_runs_on_the_npu_without_an_external_delegate(
    tmp_path: Path,
) -> None:
    out = imxbench_json(tmp_path, "--board", "imx93", "--emulate-bsp", "lf-5.15")
    cells = {row["cell"]: row for row in out["summary"]}
    ethosu = cells["ethosu"]
    assert ethosu["failed"] == 0, ethosu
    assert ethosu["latency_ms"] < cells["cpu@2t"]["latency_ms"] / 3  # the NPU, not the CPU
    assert ethosu["npu_share"] == 1.0  # the op profile's ethos-u row
    assert ethosu["execution"] is None  # no delegate applied: not a "delegation none"
    rows = [r for r in out["rows"] if r["cell"] == "ethosu"]
    assert rows and all(r["npu_route"] == ROUTE_BUILTIN_ETHOSU for r in rows)
    assert all(r["bsp_version_id"] == "5.15-kirkstone" for r in rows)
    profile = next(r for r in rows if r["kind"] == "profile")
    assert [op["node_type"] for op in json.loads(profile["op_profile"])] == ["ethos-u"]
    for log in Path(out["out_dir"], "logs/imx93").glob("ethosu-*.log"):
        command = log.read_text().splitlines()[0]
        assert "_vela" in command and "--external_delegate_path" not in command
    assert "fallback" not in out["stderr"].lower()


def test_lf_6_6_reports_the_board_s_vela_beside_the_host_s(tmp_path: Path) -> None:
    out = imxbench_json(
        tmp_path, "--board", "imx93", "--emulate-bsp", "lf-6.6", "--delegate", "ethosu"
    )
    rows = out["rows"]
    host = {r["vela_host"] for r in rows}
    assert {r["vela_board"] for r in rows} == {"3.12.0"}  # L6.6.36's fork (NXP_FACTS §4.1)
    assert len(host) == 1 and None not in host
    differs = next(iter(host)).split(".")[:2] != ["3", "12"]
    assert {r["vela_mismatch"] for r in rows} == {differs}
    assert {r["npu_route"] for r in rows} == {"external delegate /usr/lib/libethosu_delegate.so"}
    vela_warnings = [w for w in out["warnings"] if "Vela" in w]
    assert len(vela_warnings) == (1 if differs else 0)  # once per run
    if differs:
        assert "3.12.0" in vela_warnings[0] and next(iter(host)) in vela_warnings[0]
        assert out["stderr"].count("WARNING: imx93: the model was compiled with Vela") == 1


def test_lf_5_15_i_mx8mp_old_log_format_parses(tmp_path: Path) -> None:
    out = imxbench_json(
        tmp_path, "--board", "imx8mp", "--emulate-bsp", "lf-5.15", "--delegate", "cpu,vx"
    )
    assert all(row["failed"] == 0 for row in out["summary"]), out["summary"]
    timed = [r for r in out["rows"] if r["kind"] == "timed"]
    assert timed and all(r["tflite_version"] == "2.9.1" for r in timed)
    assert all(r["memory_overall_mb"] and r["inference_avg_us"] for r in timed)
    assert {r["execution"] for r in timed if r["delegate"] == "vx"} == {"full"}


# -- clock and thermal ----------------------------------------------------------------------------


@pytest.fixture(name="hot8")
def fixture_hot8() -> Iterator[RunningEmulator]:
    emulator = start_emulator("imx8mp", seed=11, noise_pct=0.0)
    emulator.set_faults(thermal_time_scale=60.0)  # TAU 90 s -> 1.5 s
    try:
        yield emulator
    finally:
        emulator.stop()


def test_a_long_npu_run_is_flagged_throttled(hot8: RunningEmulator, tmp_path: Path) -> None:
    settings = RunSettings(repetitions=2, num_runs=1, warmup_runs=1, min_secs=5, op_profile=False)
    result = run_job(
        [inventory_board(hot8)], MODEL, load_catalogue(), "vx", settings, tmp_path, tmp_path / "v"
    )
    rows = result.table.to_dict("records")
    cold = next(r for r in rows if r["kind"] == "cold")
    assert cold["temp_c_before"] < 50  # it started cool, and heated the board past the trip
    assert not cold["throttle_reason"] or "before:" not in cold["throttle_reason"]
    hot = [r for r in rows if r["throttled"]]
    assert hot, [(r["kind"], r["temp_c_after"], r["throttle_reason"]) for r in rows]
    assert any("cooling_device0" in r["throttle_reason"] for r in hot)
    assert max(r["temp_c_after"] for r in rows) >= 85
    assert min(r["cpu_freq_khz_after"] for r in hot) < 1_800_000
    report = write_run_report(result.out_dir).read_text()
    assert "THROTTLED" in report and "cooling_device0" in report


def test_cooldown_waits_for_the_board_before_each_step(
    hot8: RunningEmulator, tmp_path: Path
) -> None:
    settings = RunSettings(
        repetitions=2,
        num_runs=1,
        warmup_runs=1,
        min_secs=4,
        op_profile=False,
        cooldown_c=60.0,
        cooldown_timeout_s=30.0,
    )
    events: list[ProgressEvent] = []
    result = run_job(
        [inventory_board(hot8)],
        MODEL,
        load_catalogue(),
        "vx",
        settings,
        tmp_path,
        tmp_path / "v",
        progress=events.append,
    )
    rows = result.table.to_dict("records")
    assert all(r["status"] == "ok" for r in rows)
    assert all(r["temp_c_before"] < 60 for r in rows)  # every step started cool
    assert any(r["cooldown_s"] > 0 for r in rows[1:])  # after a hot step it waited
    assert any(e.message.startswith("cooling down: ") for e in events)


# -- the CPU governor ---------------------------------------------------------------------------


@pytest.fixture(name="board93")
def fixture_board93() -> Iterator[RunningEmulator]:
    emulator = start_emulator("imx93", seed=12)
    try:
        yield emulator
    finally:
        emulator.stop()


def test_governor_is_set_for_the_run_and_restored_after_it(
    board93: RunningEmulator, tmp_path: Path
) -> None:
    settings = replace(SETTINGS, cpu_governor="performance", op_profile=False)
    result = run_job(
        [inventory_board(board93)], MODEL, load_catalogue(), "cpu", settings, tmp_path,
        tmp_path / "v",
    )
    rows = result.table.to_dict("records")
    assert {r["cpu_governor_before"] for r in rows} == {"performance"}
    assert {r["cpu_freq_khz_before"] for r in rows} == {1_700_000}
    assert not any(r["throttled"] for r in rows)  # the clock got to the top before step 1
    assert board_text(board93, f"cat {GOVERNOR}") == "ondemand\n"
    assert result.board_runs[0].governor["restored"] == "ondemand"
    assert board_text(board93, "ls -A /home/root/imxbench/.imxbench || true").strip() == ""


def test_governor_is_restored_after_ctrl_c(board93: RunningEmulator, tmp_path: Path) -> None:
    settings = replace(SETTINGS, cpu_governor="performance", min_secs=5, op_profile=False)
    token = CancelToken()
    catalogue = load_catalogue()
    prepared = {"cpu": prepare_model(MODEL, catalogue["cpu"], tmp_path / "v")}

    def progress(event: ProgressEvent) -> None:
        if event.kind == "step_started":  # Ctrl-C in the middle of the first step
            threading.Timer(1.0, token.cancel).start()

    result = run_board(
        inventory_board(board93),
        [catalogue["cpu"]],
        prepared,
        settings,
        tmp_path,
        progress=progress,
        cancel=token,
    )
    assert result.interrupted
    assert board_text(board93, f"cat {GOVERNOR}") == "ondemand\n"


def test_governor_left_by_a_lost_run_is_restored_on_the_next_connection(
    board93: RunningEmulator, tmp_path: Path
) -> None:
    board = inventory_board(board93)
    lost = BoardSession.connect(board)
    try:
        assert clocks.set_governor(lost, "performance") == "ondemand"
    finally:
        lost.close()  # the run's connection is gone before it could restore anything
    assert board_text(board93, f"cat {GOVERNOR}") == "performance\n"
    events: list[ProgressEvent] = []
    result = run_job(
        [board],
        MODEL,
        load_catalogue(),
        "cpu",
        replace(SETTINGS, op_profile=False),
        tmp_path,
        tmp_path / "v",
        progress=events.append,
    )
    assert board_text(board93, f"cat {GOVERNOR}") == "ondemand\n"
    assert result.board_runs[0].governor["restored_leftover"] == "ondemand"
    assert {r["cpu_governor_before"] for r in result.table.to_dict("records")} == {"ondemand"}
    assert any("an earlier run had left changed" in e.message for e in events)


# -- a failed NPU cell's kernel log ---------------------------------------------------------------


def test_a_failed_npu_cell_keeps_its_kernel_log_in_the_report(tmp_path: Path) -> None:
    """The emulated board's own `dmesg` (emulator/kernel_log.py): the first NPU use boots the
    Ethos-U firmware on the M33 (the remoteproc/rpmsg lines of NXP_FACTS §4.4), then the step
    crashes; the failed cell keeps the lines logged since it began, not the boot's."""
    emulator = start_emulator("imx93", state_dir=tmp_path / "state", bsp="lf-6.6", seed=13)
    try:
        boot = board_text(emulator, "dmesg")
        assert "remoteproc remoteproc0: imx-rproc is available" in boot
        assert "Booting fw image" not in boot  # not before the first NPU use
        emulator.set_faults(crash=True)
        result = run_job(
            [inventory_board(emulator)],
            MODEL,
            load_catalogue(),
            "ethosu",
            replace(SETTINGS, op_profile=False),
            tmp_path / "reports",
            tmp_path / "v",
        )
    finally:
        emulator.stop()
    (row,) = result.table.to_dict("records")
    assert row["status"] == "failed" and row["exit_status"] == 139
    lines = row["dmesg"].splitlines()
    assert lines[0].endswith("remoteproc remoteproc0: powering up imx-rproc")
    assert any("Booting fw image ethosu_firmware, size " in line for line in lines)
    assert lines[-1].endswith("remoteproc remoteproc0: remote processor imx-rproc is now up")
    assert "imx-rproc is available" not in row["dmesg"]  # a boot line, before the step
    assert "Machine model" not in row["dmesg"]  # not a galcore/ethosu/remoteproc line
    assert row["remoteproc_state"] == "remoteproc0 running ethosu_firmware"
    report = write_run_report(result.out_dir).read_text()
    assert "Booting fw image ethosu_firmware" in report and "remoteproc: remoteproc0" in report


def test_a_failed_cell_on_the_plain_emulator_says_what_dmesg_gave(tmp_path: Path) -> None:
    emulator = start_emulator("imx93", seed=14)
    try:
        emulator.set_faults(crash=True)
        result = run_job(
            [inventory_board(emulator)],
            MODEL,
            load_catalogue(),
            "ethosu",
            replace(SETTINGS, op_profile=False),
            tmp_path,
            tmp_path / "v",
        )
    finally:
        emulator.stop()
    (row,) = result.table.to_dict("records")
    assert row["status"] == "failed"
    assert row["dmesg"]  # lines, "no ... lines since the step began" or "dmesg unreadable"
    assert row["remoteproc_state"] in (
        "remoteproc0 offline ethosu_firmware",
        "remoteproc0 running ethosu_firmware",
    )

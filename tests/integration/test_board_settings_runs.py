"""Issue 16, the rest, against the emulator: boards.yaml's cpu_governor, `run --dry-run`,
`--npu-profile`, Vela compiled on the board, and the emulated board's own kernel log."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from imxbench.analysis.plan import RunSettings
from imxbench.config.delegates import load_catalogue, with_vela_on
from imxbench.emulator.launcher import RunningEmulator, start_emulator
from imxbench.run.job import run_job
from imxbench.run.job_record import record_from_job
from imxbench.run.recording import new_header
from tests.emulator_fixtures import inventory_board, run_ssh
from tests.locations import IMXBENCH, REPO

MODEL = REPO / "imxbench/reference_models/pretrainedResnet_quant.tflite"
SETTINGS = RunSettings(repetitions=1, num_runs=5, warmup_runs=1, min_secs=0, op_profile=False)
GOVERNOR = "/sys/devices/system/cpu/cpufreq/policy0/scaling_governor"


def board_text(emulator: RunningEmulator, command: str) -> str:
    done = run_ssh(emulator, command)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


@pytest.fixture(name="board93", scope="module")
def fixture_board93() -> Iterator[RunningEmulator]:
    emulator = start_emulator("imx93", seed=21)
    try:
        yield emulator
    finally:
        emulator.stop()


# -- boards.yaml cpu_governor ---------------------------------------------------------------------


def test_boards_yaml_governor_is_set_for_the_run_and_restored(
    board93: RunningEmulator, tmp_path: Path
) -> None:
    board = inventory_board(board93, cpu_governor="performance")
    result = run_job([board], MODEL, load_catalogue(), "cpu", SETTINGS, tmp_path, tmp_path / "v")
    rows = result.table.to_dict("records")
    assert {r["cpu_governor_before"] for r in rows} == {"performance"}
    assert {r["cpu_governor_set"] for r in rows} == {"performance"}
    assert board_text(board93, f"cat {GOVERNOR}") == "ondemand\n"
    assert result.board_runs[0].governor == {
        "set": "performance",
        "previous": "ondemand",
        "restored": "ondemand",
    }
    header = new_header("run", MODEL, SETTINGS, tmp_path, emulated=False, run_id=result.run_id)
    (fingerprint,) = record_from_job(result, header).fingerprints
    assert fingerprint.governor == "performance"  # what the steps ran under, not the probe's

    # --cpu-governor wins over the board's key
    result = run_job(
        [board],
        MODEL,
        load_catalogue(),
        "cpu",
        replace(SETTINGS, cpu_governor="powersave"),
        tmp_path,
        tmp_path / "v",
    )
    assert {r["cpu_governor_before"] for r in result.table.to_dict("records")} == {"powersave"}
    assert board_text(board93, f"cat {GOVERNOR}") == "ondemand\n"


# -- --npu-profile ------------------------------------------------------------------------------

FAST = ["--repetitions", "1", "--num-runs", "3", "--warmup-runs", "1", "--min-secs", "0"]


def imxbench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IMXBENCH, "run", *args, "--reports", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


def test_npu_profile_on_i_mx93_gives_cycle_counts_in_results_and_report(tmp_path: Path) -> None:
    done = imxbench(
        tmp_path,
        "--board",
        "imx93",
        "--emulate",
        "--delegate",
        "ethosu",
        "--npu-profile",
        *FAST,
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    out_dir = Path(json.loads(done.stdout)["out_dir"])
    rows = json.loads((out_dir / "results.json").read_text())
    timed = [r for r in rows if r["kind"] == "timed"]
    (profile,) = [r for r in rows if r["kind"] == "profile"]
    assert all(r["npu_profile"] is None for r in timed)  # never on a timed step
    doc = json.loads(profile["npu_profile"])
    assert doc["inferences"] >= 4 and doc["cycles_median"] == profile["npu_cycles_median"]
    # the emulated NPU time (~0.33 ms) at the modelled 1 GHz
    assert 200_000 < doc["cycles_median"] < 500_000
    assert doc["pmu_events"] == [3, 4, 5, 6] and set(doc["pmu_median"]) == {
        "event3",
        "event4",
        "event5",
        "event6",
    }
    qread = doc["qread"]
    assert len(qread) > 3 and [q["index"] for q in qread] == list(range(len(qread)))
    assert [q["cycle_count"] for q in qread] == sorted(q["cycle_count"] for q in qread)
    log = (out_dir / "logs/imx93/ethosu-profile.log").read_text()
    assert "enable_profiling:true" in log.splitlines()[0]
    assert "Ethos_u qread profiling data." in log
    timed_log = (out_dir / "logs/imx93/ethosu-timed1.log").read_text()
    assert "enable_profiling" not in timed_log.splitlines()[0]
    assert "Ethos-u cycle counter" not in timed_log
    assert profile["status"] == "ok" and all(r["status"] == "ok" for r in timed)
    report = (out_dir / "report.html").read_text()
    assert "NPU profile (--npu-profile)" in report and "cycles since previous" in report


def test_npu_profile_on_vx_sets_the_driver_profiling_env_on_the_profile_step_only(
    tmp_path: Path,
) -> None:
    done = imxbench(
        tmp_path,
        "--board",
        "imx8mp",
        "--emulate",
        "--delegate",
        "vx",
        "--npu-profile",
        *FAST,
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    out_dir = Path(json.loads(done.stdout)["out_dir"])
    profile = (out_dir / "logs/imx8mp/vx-profile.log").read_text().splitlines()[0]
    assert "CNN_PERF=1" in profile and "VIV_VX_DEBUG_LEVEL=1" in profile
    timed = (out_dir / "logs/imx8mp/vx-timed1.log").read_text().splitlines()[0]
    assert "CNN_PERF" not in timed
    rows = json.loads((out_dir / "results.json").read_text())
    assert all(r["npu_profile"] is None for r in rows)  # the driver's lines are not parsed


# -- Vela compiled on the board -----------------------------------------------------------------


def test_vela_on_board_compiles_with_the_board_s_vela_and_fetches_the_summary(
    tmp_path: Path,
) -> None:
    done = imxbench(
        tmp_path,
        "--board",
        "imx93",
        "--emulate",
        "--emulate-bsp",
        "lf-6.6",
        "--delegate",
        "ethosu",
        "--vela-on",
        "board",
        *FAST,
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert not [w for w in out["warnings"] if "Vela" in w]  # nothing compiled on the host
    out_dir = Path(out["out_dir"])
    rows = json.loads((out_dir / "results.json").read_text())
    assert {r["status"] for r in rows} == {"ok"}
    assert {r["vela_compiled_on"] for r in rows} == {"board"}
    assert {r["vela_version"] for r in rows} == {"3.12.0"}  # L6.6.36's fork (NXP_FACTS §4.1)
    assert {r["vela_board"] for r in rows} == {"3.12.0"} and {r["vela_host"] for r in rows} == {
        None
    }
    assert all(r["vela_npu_operators"] and r["vela_estimate_us"] > 0 for r in rows)
    graph = rows[0]["graph_on_board"]
    assert graph.startswith("/home/root/imxbench/vela/") and "-3.12.0/" in graph
    fetched = out_dir / "vela/imx93/ethosu"
    assert (fetched / Path(graph).name).is_file()
    provenance = json.loads((fetched / (Path(graph).name + ".json")).read_text())
    assert provenance["compiled_on"] == "board" and provenance["vela_version"] == "3.12.0"
    log = (fetched / "vela.log").read_text()
    assert "NXP's Vela fork 3.12.0 emulated" in log and "fork's i.MX 93 defaults" in log
    step = (out_dir / "logs/imx93/ethosu-timed1.log").read_text().splitlines()[0]
    assert f"--graph={graph}" in step
    run_doc = json.loads((out_dir / "run.json").read_text())
    assert run_doc["settings"]["vela_on"] == "board"  # its own series


@pytest.fixture(name="no_vela93")
def fixture_no_vela93() -> Iterator[RunningEmulator]:
    """An i.MX 93 image without ethos-u-vela (boot fault no_vela: the package is optional)."""
    emulator = start_emulator("imx93", seed=22, boot_faults=["no_vela"])
    try:
        yield emulator
    finally:
        emulator.stop()


def test_vela_auto_without_a_board_vela_compiles_on_the_host_with_a_warning(
    no_vela93: RunningEmulator, tmp_path: Path
) -> None:
    settings = replace(SETTINGS, vela_on="auto")
    result = run_job(
        [inventory_board(no_vela93)],
        MODEL,
        load_catalogue(),
        "ethosu",
        settings,
        tmp_path,
        tmp_path / "v",
    )
    rows = result.table.to_dict("records")
    assert {r["status"] for r in rows} == {"ok"}
    assert {r["vela_compiled_on"] for r in rows} == {"host"}
    (warning,) = result.warnings
    assert "no `vela` on the board" in warning and "host's Vela" in warning
    # compile: board on the same board fails the ethosu cells, says why, and nothing else
    result = run_job(
        [inventory_board(no_vela93)],
        MODEL,
        with_vela_on(load_catalogue(), "board"),
        "cpu,ethosu",
        replace(SETTINGS, vela_on="board"),
        tmp_path,
        tmp_path / "v",
    )
    rows = result.table.to_dict("records")
    assert {r["status"] for r in rows if r["delegate"] == "cpu"} == {"ok"}
    ethosu = [r for r in rows if r["delegate"] == "ethosu"]
    assert ethosu and all(r["status"] == "failed" for r in ethosu)
    assert "the board has no `vela`" in ethosu[0]["error"]


def test_host_and_board_vela_both_in_the_history_fingerprint(tmp_path: Path) -> None:
    from imxbench.model.records import Fingerprint

    older = Fingerprint("b", vela_version="5.2.0", facts={"vela": "3.12.0"})
    newer = Fingerprint("b", vela_version="5.2.0", facts={"vela": "4.2.0"})
    assert older.identity()["vela_board"] == "3.12.0" and older.identity()["vela"] == "5.2.0"
    assert newer.differences(older) == ("vela_board: 3.12.0 -> 4.2.0",)


# -- run --dry-run --------------------------------------------------------------------------------


def test_dry_run_plans_exactly_what_the_run_sends(tmp_path: Path) -> None:
    """The dry run's benchmark_model lines (argv and env) are the ones the real run then logs,
    step by step, on the emulated 8M Plus (vx: env, a cold step that empties its cache)."""
    args = ["--board", "imx8mp", "--emulate", "--npu-profile", *FAST, "--format", "json"]
    planned = imxbench(tmp_path / "dry", *args, "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert not (tmp_path / "dry").exists()  # nothing written
    doc = json.loads(planned.stdout)
    assert doc["dry_run"] is True and doc["connected"] is False
    (board,) = doc["boards"]
    steps = [c for c in board["commands"] if c["phase"] == "step" and c.get("cell")]
    done = imxbench(tmp_path / "real", *args)
    assert done.returncode == 0, done.stderr
    out_dir = Path(json.loads(done.stdout)["out_dir"])
    logs = sorted((out_dir / "logs/imx8mp").glob("*.log"))
    assert len(logs) == len(steps)
    for step in steps:
        rep = step["repetition"] or ""
        log = out_dir / f"logs/imx8mp/{step['cell']}-{step['kind']}{rep}.log"
        words = shlex.split(log.read_text().splitlines()[0].removeprefix("$ "))
        env = dict(w.split("=", 1) for w in words[: len(step["env"])])
        argv = [
            a.replace("tensorflow-lite-VERSION", "tensorflow-lite-2.19.0") for a in step["argv"]
        ]
        assert (env, words[len(step["env"]) :]) == (step["env"], argv), log.name
        command = step["command"].replace("tensorflow-lite-VERSION", "tensorflow-lite-2.19.0")
        if step["kind"] == "cold":
            assert command.startswith("rm -rf ")
        assignments = [f"{k}={v}" for k, v in step["env"].items()]
        expected = ["env", *assignments, *argv] if assignments else argv
        assert shlex.split(command.split(" && ")[-1]) == expected  # the quoting round-trips


def test_dry_run_text_connects_to_nothing(tmp_path: Path) -> None:
    """The inventory's placeholder hosts do not resolve: a connection would fail; the dry run
    prints the plan with its assumptions and exits 0."""
    done = subprocess.run(
        [
            *IMXBENCH,
            "run",
            "--board",
            "imx93",
            "--inventory",
            str(REPO / "boards.yaml"),
            "--dry-run",
            "--cpu-governor",
            "performance",
            "--reports",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith("DRY RUN: nothing was sent to any board.")
    assert "root@imx93-evk.lab.invalid:22" in text
    assert "assumptions:" in text and "2 online CPU cores" in text
    assert "$ sh -s -- /home/root/imxbench   < imxbench/board/scripts/probe.sh" in text
    assert "set the CPU governor performance (--cpu-governor)" in text
    assert "--external_delegate_path=/usr/lib/libethosu_delegate.so" in text
    assert "host$ vela --accelerator-config ethos-u65-256" in text
    assert not (tmp_path / "r").exists()
    bad = subprocess.run(
        [*IMXBENCH, "run", "--board", "imx93", "--emulate", "--dry-run", "--format", "csv"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


# -- the emulated board's own kernel log ----------------------------------------------------------


def test_dmesg_is_the_emulated_board_s_own_kernel_log(tmp_path: Path) -> None:
    emulator = start_emulator("imx8mp", bsp="lf-5.15", seed=23)
    try:
        log = board_text(emulator, "dmesg")
        emulator.set_faults(oom=True)
        result = run_job(
            [inventory_board(emulator)],
            MODEL,
            load_catalogue(),
            "vx",
            SETTINGS,
            tmp_path,
            tmp_path / "v",
        )
    finally:
        emulator.stop()
    lines = log.splitlines()
    assert all(re.match(r"\[ *\d+\.\d{6}\] ", line) for line in lines)
    texts = [line.split("] ", 1)[1] for line in lines]
    assert texts[:3] == [
        "Booting Linux on physical CPU 0x0000000000 [0x410fd034]",  # Cortex-A53 r0p4
        "Linux version 5.15.71-lts-5.15.y-emulated (oe-user@oe-host) (aarch64-poky-linux-gcc) "
        "#1 SMP PREEMPT Thu Dec 15 10:00:00 UTC 2022",
        "Machine model: NXP i.MX8MPlus EVK board",
    ]
    assert any(t.startswith("Galcore version ") for t in texts)
    assert not any("remoteproc" in t for t in texts)  # the 8M Plus NPU has no M33 firmware
    assert len(lines) == 6  # the board's boot log and nothing of the host's
    failed = [r for r in result.table.to_dict("records") if r["status"] == "failed"]
    assert failed and all("Out of memory: Killed process" in r["dmesg"] for r in failed)
    assert "(benchmark_model) total-vm:" in failed[0]["dmesg"]


def test_dry_run_probe_shows_each_bsp_choice(tmp_path: Path) -> None:
    """--dry-run=probe sends only the probe: LF5.15's built-in Ethos-U route (no
    --external_delegate_path), its TFLite path and the board's Vela are in the plan."""
    done = imxbench(
        tmp_path / "r",
        "--board",
        "imx93",
        "--emulate",
        "--emulate-bsp",
        "lf-5.15",
        "--delegate",
        "ethosu",
        "--vela-on",
        "auto",
        "--dry-run=probe",
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "r").exists()  # no run directory, no history
    doc = json.loads(done.stdout)
    assert doc["probed"] is True
    (board,) = doc["boards"]
    assert any("TFLite 2.9.1" in a and "vela 3.5.0" in a for a in board["assumptions"])
    assert any("built-in ethos-u op" in a for a in board["assumptions"])
    steps = [c for c in board["commands"] if c.get("cell") == "ethosu"]
    assert steps and all("--external_delegate_path" not in c["command"] for c in steps)
    assert all(
        c["argv"][0] == "/usr/bin/tensorflow-lite-2.9.1/examples/benchmark_model" for c in steps
    )
    (compile_,) = [c for c in board["commands"] if c["phase"] == "compile"]
    assert "/vela/3c002613d1b2475e-3.5.0 " in compile_["command"]
    assert not [c for c in board["commands"] if c["where"] == "host"]  # the board compiles

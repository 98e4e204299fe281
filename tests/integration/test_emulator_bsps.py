"""The emulator's BSP releases (lf-5.15 ... lf-6.12), board facts, thermal model and governor,
VX partial delegation and the Ethos-U firmware start (docs/DESIGN.md "BSP releases")."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from imxbench.analysis.benchmark_log import parse_log
from imxbench.emulator import board_content, socs, thermal
from imxbench.emulator import cost_model as cm
from imxbench.emulator.board_image import BoardLayout, build_board_state
from imxbench.emulator.launcher import RunningEmulator, start_emulator
from imxbench.emulator.sandbox import ensure_namespaces
from imxbench.emulator.socs import BOARD_JSON
from imxbench.errors import ConfigError, InfrastructureError
from tests.emulator_fixtures import run_ssh
from tests.tiny_models import int8_add_tile_add
from tests.unit.test_model_info import QUANT, vela_compile

REPO = Path(__file__).resolve().parents[2]
PROBE = (REPO / "imxbench/board/scripts/probe.sh").read_bytes()
FAST = ["--num_runs=5", "--min_secs=0", "--warmup_runs=1", "--warmup_min_secs=0"]

# The BSP table of docs/DESIGN.md, restated: TFLite, Vela on the i.MX 93, os-release, kernel.
TFLITE = {"lf-5.15": "2.9.1", "lf-6.1": "2.12.1", "lf-6.6": "2.16.2", "lf-6.12": "2.19.0"}
VELA = {"lf-5.15": "3.5.0", "lf-6.1": "3.9.0", "lf-6.6": "3.12.0", "lf-6.12": "4.2.0"}
DISTRO = {
    "lf-5.15": "5.15-kirkstone",
    "lf-6.1": "6.1-mickledore",
    "lf-6.6": "6.6-scarthgap",
    "lf-6.12": "6.12-walnascar",
}
KERNEL = {"lf-5.15": "5.15.71", "lf-6.1": "6.1.55", "lf-6.6": "6.6.36", "lf-6.12": "6.12.34"}
VX = "/usr/lib/libvx_delegate.so"
ETHOSU = "/usr/lib/libethosu_delegate.so"


def delegates_of(bsp: str, soc: str) -> set[str]:
    if soc == "imx8mp":
        return {VX}
    return set() if bsp == "lf-5.15" else {ETHOSU}


# --- the board image, per BSP (no namespaces needed) -------------------------------------------


@pytest.mark.parametrize("soc", ["imx8mp", "imx93"])
@pytest.mark.parametrize("bsp", list(TFLITE))
def test_board_image_has_the_release_layout(tmp_path: Path, bsp: str, soc: str) -> None:
    layout = build_board_state(soc, tmp_path / "s", bsp=bsp)
    board = json.loads(layout.usr_file(BOARD_JSON).read_text())
    assert board["bsp"] == bsp
    assert board["tflite_version"] == TFLITE[bsp]
    tool = f"/usr/bin/tensorflow-lite-{TFLITE[bsp]}/examples/benchmark_model"
    assert os.access(layout.usr_file(tool), os.X_OK)
    assert [p.name for p in layout.usr_upper.glob("bin/tensorflow-lite-*")] == [
        f"tensorflow-lite-{TFLITE[bsp]}"
    ]
    libraries = {f"/usr/lib/{p.name}" for p in layout.usr_upper.glob("lib/lib*_delegate.so")}
    assert libraries == delegates_of(bsp, soc) == set(board["delegates"])
    assert board["ethosu_builtin"] == (bsp == "lf-5.15" and soc == "imx93")
    assert board["log_format"]["info_prefix"] == (bsp != "lf-5.15")
    os_release = layout.usr_file("/usr/lib/os-release").read_text()
    assert f"VERSION_ID={DISTRO[bsp]}\n" in os_release
    uname = subprocess.run(
        ["sh", str(layout.usr_file("/usr/bin/uname")), "-r"], capture_output=True, text=True
    )
    assert uname.stdout.startswith(KERNEL[bsp] + "-")
    site = next(layout.usr_upper.glob("lib/python3*/site-packages"))
    assert (site / f"tflite_runtime-{TFLITE[bsp]}.dist-info").is_dir()
    vela = layout.usr_file("/usr/bin/vela")
    if soc == "imx93":  # ethos-u-vela is COMPATIBLE_MACHINE mx93
        done = subprocess.run(["sh", str(vela), "--version"], capture_output=True, text=True)
        assert done.stdout == VELA[bsp] + "\n"
        assert (layout.lib_firmware / "ethosu_firmware").is_file()
    else:
        assert not vela.exists()
        assert list(layout.lib_firmware.iterdir()) == []


def test_default_bsp_is_lf_6_12_and_a_state_dir_keeps_its_bsp(tmp_path: Path) -> None:
    layout = build_board_state("imx93", tmp_path / "s")
    assert layout.bsp.name == "lf-6.12"
    old = build_board_state("imx93", tmp_path / "old", bsp="lf-5.15")
    assert build_board_state("imx93", old.root).bsp.name == "lf-5.15"  # a reboot keeps it
    with pytest.raises(ConfigError, match=r"running lf-5\.15, not lf-6\.6"):
        build_board_state("imx93", old.root, bsp="lf-6.6")
    with pytest.raises(ConfigError, match="unknown BSP"):
        build_board_state("imx93", tmp_path / "x", bsp="lf-4.14")


def test_an_i_mx93_on_a_bsp_before_it_existed_is_refused(tmp_path: Path) -> None:
    # The i.MX 93 first ships with L5.15.52 (NXP_FACTS §1.3): an "i.MX 93 on L5.10.52" would
    # pass for an LF5.15 board with TFLite's built-in Ethos-U op, a board nobody has.
    with pytest.raises(ConfigError, match=r"lf-5\.10\.52 .* has no imx93 release"):
        build_board_state("imx93", tmp_path / "x", bsp="lf-5.10.52")
    assert not (tmp_path / "x").exists()
    assert build_board_state("imx8mp", tmp_path / "y", bsp="lf-5.10.52").bsp.nnapi


@pytest.mark.parametrize(("soc", "gib"), [("imx8mp", 6), ("imx93", 2)])
def test_board_facts_are_the_evk_s(tmp_path: Path, soc: str, gib: int) -> None:
    layout = build_board_state(soc, tmp_path / "s")
    meminfo = (layout.proc / "meminfo").read_text()
    total = int(meminfo.split("MemTotal:")[1].split()[0])
    assert 0.85 * gib * 2**20 < total < gib * 2**20  # the EVK's DRAM minus carve-outs
    df = subprocess.run(
        ["sh", str(layout.usr_file("/usr/bin/df")), "-Pk", str(layout.workdir)],
        capture_output=True,
        text=True,
    )
    size, used, available = (int(v) for v in df.stdout.splitlines()[1].split()[1:4])
    assert size == board_content.DISK_SIZE_KB and used + available == size
    zone = layout.sys_class / "thermal/thermal_zone0"
    assert (zone / "trip_point_0_temp").read_text() == "85000\n"
    assert (zone / "trip_point_0_type").read_text() == "passive\n"


# --- benchmark_model per BSP, run on the host against a built board.json ------------------------


def run_tool(layout: BoardLayout, *args: str, board_json: Path | None = None) -> tuple[int, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env["IMXBENCH_EMULATOR_BOARD_JSON"] = str(board_json or layout.usr_file(BOARD_JSON))
    done = subprocess.run(
        [sys.executable, "-m", "imxbench.emulator.benchmark_tool", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=layout.workdir,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def with_delegate_stand_in(layout: BoardLayout, tmp_path: Path) -> tuple[Path, Path]:
    """board.json with its delegate library moved to a host file (the board's /usr/lib is only
    there inside the board); returns (board.json, library)."""
    board = json.loads(layout.usr_file(BOARD_JSON).read_text())
    ((board_path, kind),) = board["delegates"].items()
    library = tmp_path / Path(board_path).name
    library.write_text("stand-in\n")
    board["delegates"] = {str(library): kind}
    path = tmp_path / "board.json"
    path.write_text(json.dumps(board))
    return path, library


@pytest.fixture(scope="module")
def vela_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("deployed")
    vela_compile(QUANT, directory)
    sha = hashlib.sha256(QUANT.read_bytes()).hexdigest()
    shutil.copy(QUANT, directory / f"pretrainedResnet_quant-{sha[:16]}.tflite")
    provenance = {"source_sha256": sha, "vela_version": "3.5.0", "vela_args": []}
    (directory / "pretrainedResnet_quant_vela.tflite.json").write_text(json.dumps(provenance))
    return directory


def test_lf_5_15_log_format_parses(tmp_path: Path) -> None:
    layout = build_board_state("imx8mp", tmp_path / "s", bsp="lf-5.15", noise_pct=0.0)
    code, text = run_tool(layout, f"--graph={QUANT}", *FAST)
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0] == "STARTING!"
    assert "Going to apply 0 delegates one after another." in lines
    assert any(line.startswith("Peak memory footprint (MB): init=") for line in lines)
    assert not any(line.startswith("Signature to run") for line in lines)
    assert not any("median=" in line for line in lines)
    tool_lines = [line for line in lines if line.startswith("INFO: ")]
    assert tool_lines == [  # only the runtime's own lines keep their prefix
        "INFO: Initialized TensorFlow Lite runtime.",
        "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    ]
    (run,) = parse_log(text)
    assert run.status == "ok", run
    assert run.inference_avg_us == pytest.approx(3830, rel=0.02)
    assert run.init_us and run.first_inference_us and run.inference_count == 5
    assert run.memory_init_mb and run.memory_overall_mb


def test_lf_5_15_vx_log_is_fixture_15_shaped(tmp_path: Path) -> None:
    layout = build_board_state("imx8mp", tmp_path / "s", bsp="lf-5.15", noise_pct=0.0)
    board_json, library = with_delegate_stand_in(layout, tmp_path)
    code, text = run_tool(
        layout,
        f"--graph={QUANT}",
        f"--external_delegate_path={library}",
        *FAST,
        board_json=board_json,
    )
    assert code == 0, text
    lines = text.splitlines()
    created = lines.index("EXTERNAL delegate created.")
    assert lines[created + 1] == "Going to apply 1 delegates one after another."
    assert lines[created + 2].startswith("Explicitly applied EXTERNAL delegate, and the model")
    (run,) = parse_log(text)
    assert run.status == "ok" and run.delegates[0].execution == "full"


def test_lf_5_15_i_mx93_runs_vela_models_without_a_delegate(tmp_path: Path, vela_dir: Path) -> None:
    layout = build_board_state("imx93", tmp_path / "s", bsp="lf-5.15", noise_pct=0.0)
    graph = vela_dir / "pretrainedResnet_quant_vela.tflite"
    code, first = run_tool(layout, f"--graph={graph}", *FAST)
    assert code == 0, first
    assert "EthosuDelegate" not in first and "EXTERNAL" not in first
    (run,) = parse_log(first)
    assert run.status == "ok"
    assert run.inference_avg_us == pytest.approx(330, rel=0.02)  # the NPU, not the CPU (1650)
    # the first NPU use after boot starts the M33 firmware; the second run does not pay it
    assert run.init_us == pytest.approx(cm.INIT_BASE_US + cm.ETHOSU_FIRMWARE_BOOT_US)
    state = layout.sys_class / "remoteproc/remoteproc0/state"
    assert state.read_text() == "running\n"
    code, second = run_tool(layout, f"--graph={graph}", *FAST)
    assert parse_log(second)[0].init_us == pytest.approx(cm.INIT_BASE_US)
    # no libethosu_delegate.so on this release: the flag NXP's later docs use fails to load
    code, text = run_tool(layout, f"--graph={graph}", f"--external_delegate_path={ETHOSU}", *FAST)
    assert f"Unable to load external delegate from : {ETHOSU}" in text
    build_board_state("imx93", layout.root)  # a reboot stops the M33 again
    assert state.read_text() == "offline\n"


def test_vx_leaves_unsupported_ops_to_the_cpu(tmp_path: Path) -> None:
    model = int8_add_tile_add(tmp_path / "add_tile_add.tflite")
    layout = build_board_state("imx8mp", tmp_path / "s", noise_pct=0.0)
    board_json, library = with_delegate_stand_in(layout, tmp_path)
    code, text = run_tool(
        layout,
        f"--graph={model}",
        f"--external_delegate_path={library}",
        *FAST,
        board_json=board_json,
    )
    assert code == 0, text
    assert "WARNING: Fallback unsupported op 69 to TfLite" in text.splitlines()  # TILE
    expected = (
        "INFO: Explicitly applied EXTERNAL delegate, and the model graph will be partially"
        " executed by the delegate w/ 2 delegate kernels."
    )
    assert expected in text.splitlines()
    (run,) = parse_log(text)
    assert run.status == "ok"
    assert [(d.execution, d.kernels) for d in run.delegates] == [("partial", 2)]


# --- the thermal model (pure) ---------------------------------------------------------------------


def test_a_cool_board_leaves_timings_alone_and_a_hot_one_throttles() -> None:
    spec = socs.SOCS["imx8mp"]
    base = np.full(2000, 2500, dtype=np.int64)
    common = {"power": 1.0, "cpu_share": 0.0, "time_scale": 1.0, "min_runs": 2000}
    cool = thermal.plan_phase(
        spec, thermal.Governor(), 43.0, base, min_secs=0, max_secs=150, **common
    )
    assert cool.durations_us is base
    hot = thermal.plan_phase(
        spec, thermal.Governor(), 88.0, base, min_secs=0, max_secs=150, **common
    )
    assert hot.durations_us.min() > base.min()
    assert thermal.cooling_state(spec, 88.0) == 2 and thermal.cap_khz(spec, 88.0) == 1_200_000
    # powersave on a cool board slows the CPU by max/min clock, performance does not
    cpu_only = thermal.slowdown(spec, thermal.Governor("powersave"), 43.0, cpu_share=1.0)
    assert cpu_only == pytest.approx(1_800_000 / 1_200_000)
    assert thermal.slowdown(spec, thermal.Governor("performance"), 43.0, cpu_share=1.0) == 1.0


# --- through the emulator over SSH, as the probe reads a board ------------------------------------


def _why_no_emulator() -> str:
    if shutil.which("ssh") is None:
        return "needs the OpenSSH client"
    try:
        ensure_namespaces()
    except InfrastructureError as exc:
        return exc.message
    return ""


_NO_EMULATOR = _why_no_emulator()
needs_emulator = pytest.mark.skipif(bool(_NO_EMULATOR), reason=_NO_EMULATOR)

POLICY = "/sys/devices/system/cpu/cpufreq/policy0"
ZONE = "/sys/class/thermal/thermal_zone0/temp"
COOLING = "/sys/class/thermal/cooling_device0/cur_state"


def ssh_text(board: RunningEmulator, command: str, timeout_s: float = 30.0) -> str:
    done = run_ssh(board, command, timeout_s=timeout_s)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


@pytest.fixture(name="lf515_imx93")
def fixture_lf515_imx93() -> Iterator[RunningEmulator]:
    board = start_emulator("imx93", bsp="lf-5.15", seed=5)
    try:
        yield board
    finally:
        board.stop()


@needs_emulator
@pytest.mark.emulator
def test_probe_reads_the_lf_5_15_i_mx93(lf515_imx93: RunningEmulator) -> None:
    done = run_ssh(lf515_imx93, "sh -s /home/root/imxbench", stdin=PROBE)
    facts = json.loads(done.stdout)
    assert facts["tflite"] == [
        {
            "version": "2.9.1",
            "benchmark_model": "/usr/bin/tensorflow-lite-2.9.1/examples/benchmark_model",
            "executable": True,
        }
    ]
    assert facts["tflite_runtime"] == "2.9.1"
    assert facts["vela"] == "3.5.0"
    assert facts["delegates"] == []
    assert facts["ethosu_firmware"] is True
    assert facts["kernel"].startswith("5.15.71-")
    assert facts["os_release"]["version_id"] == "5.15-kirkstone"
    assert facts["mem_total_kb"] == socs.SOCS["imx93"].mem_total_kb
    assert 0 < facts["workdir_free_kb"] <= board_content.DISK_SIZE_KB
    firmware = ssh_text(lf515_imx93, "ls /lib/firmware /usr/lib/firmware")
    assert firmware.split() == [
        "/lib/firmware:",
        "ethosu_firmware",
        "/usr/lib/firmware:",
        "ethosu_firmware",
    ]  # nothing of the host's
    assert ssh_text(lf515_imx93, "vela --version") == "3.5.0\n"


@needs_emulator
@pytest.mark.emulator
def test_governor_write_persists_and_performance_pins_the_clock() -> None:
    board = start_emulator("imx93", seed=3)
    try:
        assert ssh_text(board, f"cat {POLICY}/scaling_governor") == "ondemand\n"
        assert ssh_text(board, f"cat {POLICY}/scaling_cur_freq") == "900000\n"  # idle
        ssh_text(board, f"echo performance > {POLICY}/scaling_governor")
        time.sleep(2 * 0.5 + 0.2)  # two thermal refreshes
        assert ssh_text(board, f"cat {POLICY}/scaling_governor") == "performance\n"
        assert ssh_text(board, f"cat {POLICY}/scaling_cur_freq") == "1700000\n"
        board.restart()  # like a real board: the kernel's default governor again
        assert ssh_text(board, f"cat {POLICY}/scaling_governor") == "ondemand\n"
    finally:
        board.stop()


@needs_emulator
@pytest.mark.emulator
def test_a_long_npu_run_heats_the_board_past_the_trip_point_and_throttles() -> None:
    board = start_emulator("imx8mp", seed=9, noise_pct=0.0)
    try:
        board.set_faults(thermal_time_scale=60.0)  # TAU 90 s -> 1.5 s
        shutil.copy(QUANT, board.layout.workdir / "resnet.tflite")
        assert int(ssh_text(board, f"cat {ZONE}")) < 50000
        tool = socs.BSPS["lf-6.12"].benchmark_model
        run = subprocess.Popen(
            [
                "ssh",
                *_ssh_argv(board),
                f"cd imxbench && {tool} --graph=resnet.tflite --external_delegate_path={VX}"
                " --warmup_runs=1 --warmup_min_secs=0 --num_runs=1 --min_secs=6",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        samples = []
        while run.poll() is None:
            values = ssh_text(board, f"cat {ZONE} {POLICY}/scaling_cur_freq {COOLING}").split()
            samples.append(tuple(int(v) for v in values))
            time.sleep(0.3)
        log = run.stdout.read().decode() if run.stdout else ""
        assert run.returncode == 0, log
        temps, freqs, states = zip(*samples, strict=True)
        assert max(temps) >= socs.PASSIVE_TRIP_MILLIC, samples
        assert min(freqs) < 1_800_000 and max(states) >= 1, samples
        (result,) = parse_log(log)
        assert result.status == "ok"
        assert result.inference_max_us > 1.3 * 220  # throttled runs are slower
        time.sleep(3.0)  # idle: it cools down and the clock comes back
        assert int(ssh_text(board, f"cat {ZONE}")) < socs.PASSIVE_TRIP_MILLIC
        assert ssh_text(board, f"cat {COOLING}") == "0\n"
    finally:
        board.stop()


def _ssh_argv(board: RunningEmulator) -> list[str]:
    from tests.emulator_fixtures import ssh_options

    return [*ssh_options(board), "-p", str(board.port), f"root@{board.host}"]

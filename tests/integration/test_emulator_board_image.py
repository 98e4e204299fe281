"""The emulated board's disk image and fault file (no namespaces needed)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from imxbench.emulator import board_image, socs
from imxbench.emulator.board_image import build_board_state, remove_state
from imxbench.emulator.faults import (
    DEFAULT_FAULTS,
    check_boot_faults,
    load_faults,
    update_faults,
)
from imxbench.emulator.socs import BENCHMARK_MODEL, BOARD_JSON
from imxbench.emulator.ssh_session import ByteBudget
from imxbench.errors import ConfigError


@pytest.mark.parametrize(
    ("soc", "soc_id", "cpus", "delegates"),
    [
        ("imx8mp", "i.MX8MP", 4, {"/usr/lib/libvx_delegate.so": "vx"}),
        ("imx93", "i.MX93", 2, {"/usr/lib/libethosu_delegate.so": "ethosu"}),
    ],
)
def test_board_json_follows_the_design_contract(
    tmp_path: Path, soc: str, soc_id: str, cpus: int, delegates: dict[str, str]
) -> None:
    layout = build_board_state(soc, tmp_path / "s", noise_pct=2.5, seed=7)
    board = json.loads(layout.usr_file(BOARD_JSON).read_text())
    assert board == {
        "format": 1,
        "emulated": True,
        "soc": soc,
        "soc_id": soc_id,
        "machine": socs.SOCS[soc].machine,
        "cpu_count": cpus,
        "bsp": "lf-6.12",
        "bsp_release": socs.BSPS["lf-6.12"].release,
        "tflite_version": "2.19.0",
        "delegates": delegates,
        "ethosu_builtin": False,
        "log_format": socs.LogFormat().as_json(),
        "noise_pct": 2.5,
        "seed": 7,
        "control_dir": str(tmp_path / "s" / "control"),
        "sys_class_dir": str(tmp_path / "s" / "sys-class"),
        "sys_devices_dir": str(tmp_path / "s" / "sys-devices"),
        "python": board["python"],
    }
    assert Path(board["python"]).is_absolute() and os.access(board["python"], os.X_OK)
    for library in delegates:
        assert layout.usr_file(library).read_text().startswith("imxbench emulator stand-in")
    assert (layout.dev / socs.SOCS[soc].npu_node).exists()
    assert load_faults(layout.control_dir) == DEFAULT_FAULTS
    online = (layout.sys_devices / "system/cpu/online").read_text()
    assert online == f"0-{cpus - 1}\n"
    assert (layout.sys_devices / f"system/cpu/cpu{cpus - 1}/cpufreq/scaling_governor").exists()
    cpuinfo = (layout.proc / "cpuinfo").read_text()
    assert cpuinfo.count("processor\t:") == cpus


def test_rebuild_keeps_the_disk_and_resets_generated_files(tmp_path: Path) -> None:
    layout = build_board_state("imx8mp", tmp_path)
    (layout.workdir / "model.tflite").write_bytes(b"kept")
    governor = layout.sys_devices / "system/cpu/cpufreq/policy0/scaling_governor"
    governor.write_text("performance\n")
    layout.usr_file(BENCHMARK_MODEL).unlink()
    update_faults(layout.control_dir, crash=True)
    build_board_state("imx8mp", tmp_path)
    assert (layout.workdir / "model.tflite").read_bytes() == b"kept"
    assert governor.read_text() == "ondemand\n"
    assert os.access(layout.usr_file(BENCHMARK_MODEL), os.X_OK)
    assert load_faults(layout.control_dir)["crash"] is False


def test_a_state_dir_belongs_to_one_soc(tmp_path: Path) -> None:
    build_board_state("imx8mp", tmp_path)
    with pytest.raises(ConfigError, match="holds an emulated imx8mp board"):
        build_board_state("imx93", tmp_path)
    with pytest.raises(ConfigError, match="unknown SoC 'imx95'; the emulator knows: imx8mp, imx93"):
        build_board_state("imx95", tmp_path / "other")
    with pytest.raises(ConfigError, match="below /usr"):
        build_board_state("imx93", Path("/usr/lib/imxbench-state"))


def test_a_state_folder_that_is_not_a_boards_disk_is_bad_input(tmp_path: Path) -> None:
    """`emulate --state DIR` with a file where the board's /usr overlay goes: before, a
    FileExistsError traceback; now one line naming the folder, and nothing removed."""
    from imxbench.emulator.launcher import start_emulator

    (tmp_path / "usr-upper").write_text("not a folder")
    with pytest.raises(ConfigError, match=f"{tmp_path}: not an emulated board's state folder"):
        start_emulator("imx8mp", state_dir=tmp_path)
    assert (tmp_path / "usr-upper").read_text() == "not a folder"


def test_ctrl_c_while_a_board_stops_kills_it_at_once(tmp_path: Path) -> None:
    """Before: Ctrl-C while `run --emulate` stopped its board (after the report's table) left
    the board's process waited for no more and its temporary state folder in /tmp."""
    import signal
    import threading
    import time

    from imxbench.emulator.launcher import STOP_TIMEOUT_S, terminate

    board = subprocess.Popen(  # a board process slow to stop: it ignores SIGTERM
        ["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"], start_new_session=True
    )
    time.sleep(0.3)
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        terminate(board)
    assert board.poll() is not None  # killed, not left running
    assert time.monotonic() - started < STOP_TIMEOUT_S


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "Linux"),
        (["-r"], socs.KERNEL_RELEASE),
        (["-m"], "aarch64"),
        (["-n"], "imx93evk"),
        (["-s", "-r"], f"Linux {socs.KERNEL_RELEASE}"),
        (["-rm"], f"{socs.KERNEL_RELEASE} aarch64"),
        (
            ["-a"],
            f"Linux imx93evk {socs.KERNEL_RELEASE} {socs.KERNEL_VERSION} aarch64 GNU/Linux",
        ),
    ],
)
def test_uname_script(tmp_path: Path, args: list[str], expected: str) -> None:
    layout = build_board_state("imx93", tmp_path)
    done = subprocess.run(
        ["sh", str(layout.usr_file("/usr/bin/uname")), *args], capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (0, expected + "\n")
    bad = subprocess.run(["sh", str(layout.usr_file("/usr/bin/uname")), "-x"], capture_output=True)
    assert bad.returncode == 1


def test_board_python_never_resolves_to_its_own_wrapper(tmp_path: Path) -> None:
    link = tmp_path / "python"
    link.symlink_to("/usr/bin/python3")
    assert board_image._reaches_overlay(str(link))
    assert board_image._reaches_overlay("/usr/bin/python3")
    assert not board_image._reaches_overlay(os.path.realpath("/usr/bin/python3"))
    python, _ = board_image.board_python_command()
    assert not board_image._reaches_overlay(python)


def test_remove_state_handles_overlayfs_leftovers(tmp_path: Path) -> None:
    layout = build_board_state("imx93", tmp_path / "s")
    locked = layout.usr_work / "work"
    locked.mkdir()
    (locked / "inner").mkdir()
    locked.chmod(0)
    remove_state(layout.root)
    assert not layout.root.exists()


def test_fault_file_validation(tmp_path: Path) -> None:
    update_faults(tmp_path, slowdown=2.0, drop_connection_after_bytes=10)
    assert load_faults(tmp_path) == {
        **DEFAULT_FAULTS,
        "slowdown": 2.0,
        "drop_connection_after_bytes": 10,
    }
    with pytest.raises(ConfigError, match="unknown fault 'explode'"):
        update_faults(tmp_path, explode=True)
    with pytest.raises(ConfigError, match="fault 'slowdown': bad value 0"):
        update_faults(tmp_path, slowdown=0)
    with pytest.raises(ConfigError, match="unknown boot fault 'no_disk'"):
        check_boot_faults(["disk_full", "no_disk"])


def test_byte_budget_fires_once_past_the_limit() -> None:
    fired: list[bool] = []
    budget = ByteBudget(10, lambda: fired.append(True))
    assert [budget.take(4), budget.take(6), budget.take(5), budget.take(5)] == [4, 6, 0, 0]
    assert fired == [True]
    unlimited = ByteBudget(None, lambda: fired.append(True))
    assert unlimited.take(1 << 30) == 1 << 30

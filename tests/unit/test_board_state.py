"""Issue 16, the pure parts: the clock/thermal snapshot and its throttle judgement, the failure
diagnosis, the LF5.15 built-in Ethos-U route and the Vela comparison (board/clocks.py,
analysis/plan.py, model/facts.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from imxbench.analysis.plan import (
    ROUTE_BUILTIN_ETHOSU,
    RunSettings,
    plan_cells,
    resolve_specs,
    route_of,
)
from imxbench.board import clocks
from imxbench.config.delegates import load_catalogue
from imxbench.model.facts import BoardFacts, major_minor

IDLE = """uptime 1234.56
governor ondemand
cur_khz 900000
max_khz 1700000
scaling_max_khz 1700000
setspeed_khz <unsupported>
zone thermal_zone0 39000 85000 cpu-thermal
cooling cooling_device0 0 2 thermal-cpufreq-0
"""


def test_a_cool_idle_board_is_not_throttled() -> None:
    snap = clocks.parse_snapshot(IDLE)
    assert snap.uptime_s == pytest.approx(1234.56)
    assert (snap.governor, snap.cur_khz, snap.max_khz) == ("ondemand", 900000, 1700000)
    assert snap.max_temp_c == 39.0 and snap.setspeed_khz is None
    assert snap.expected_khz() is None  # ondemand: any clock is expected
    assert snap.throttle_reasons() == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("cooling cooling_device0 0 2", "cooling cooling_device0 1 2"), "cooling_device0"),
        (("zone thermal_zone0 39000 85000", "zone thermal_zone0 86500 85000"), "passive trip"),
        (("governor ondemand", "governor performance"), "below the 1700000 kHz performance"),
    ],
)
def test_each_throttle_signal_is_flagged(change: tuple[str, str], reason: str) -> None:
    snap = clocks.parse_snapshot(IDLE.replace(*change))
    reasons = snap.throttle_reasons()
    assert len(reasons) == 1 and reason in reasons[0]


def test_step_columns_judge_before_and_after() -> None:
    cool = clocks.parse_snapshot(
        IDLE.replace("governor ondemand", "governor performance").replace("900000", "1700000")
    )
    hot = clocks.parse_snapshot(
        IDLE.replace("governor ondemand", "governor performance")
        .replace("900000", "1400000")
        .replace("39000 85000", "87000 85000")
        .replace("cooling_device0 0 2", "cooling_device0 1 2")
    )
    columns = clocks.step_columns(cool, hot)
    assert columns["throttled"] is True
    assert columns["cpu_freq_khz_before"] == 1700000 and columns["cpu_freq_khz_after"] == 1400000
    assert columns["temp_c_before"] == 39.0 and columns["temp_c_after"] == 87.0
    assert columns["cpu_freq_expected_khz"] == 1700000
    assert columns["throttle_reason"].startswith("after: ")
    assert clocks.step_columns(cool, cool)["throttled"] is False
    assert clocks.step_columns(None, None)["throttled"] is None  # not read: not judged


def test_the_snapshot_parser_is_total() -> None:
    garbage = "zone\ncooling x\ncur_khz abc\nuptime nan-ish\n\x00\n" + "junk line\n" * 5000
    snap = clocks.parse_snapshot(garbage)
    assert snap.cur_khz is None and snap.zones == () and snap.throttle_reasons() == []


def test_the_snapshot_script_reads_a_sysfs_tree(tmp_path: Path) -> None:
    """The script is POSIX sh: run it with /sys paths rewritten to a fake tree."""
    policy = tmp_path / "sys/devices/system/cpu/cpufreq/policy0"
    zone = tmp_path / "sys/class/thermal/thermal_zone0"
    cooling = tmp_path / "sys/class/thermal/cooling_device0"
    for folder in (policy, zone, cooling):
        folder.mkdir(parents=True)
    files = {
        policy / "scaling_governor": "performance",
        policy / "scaling_cur_freq": "1200000",
        policy / "cpuinfo_max_freq": "1800000",
        policy / "scaling_max_freq": "1800000",
        zone / "temp": "88000",
        zone / "type": "cpu-thermal",
        zone / "trip_point_0_type": "critical",
        zone / "trip_point_0_temp": "95000",
        zone / "trip_point_1_type": "passive",
        zone / "trip_point_1_temp": "85000",
        cooling / "cur_state": "2",
        cooling / "max_state": "2",
        cooling / "type": "thermal-cpufreq-0",
    }
    for path, text in files.items():
        path.write_text(text + "\n")
    script = clocks.SNAPSHOT_SCRIPT.replace("/sys/", f"{tmp_path}/sys/")
    done = subprocess.run(["sh", "-s"], input=script, capture_output=True, text=True, check=True)
    snap = clocks.parse_snapshot(done.stdout)
    assert snap.governor == "performance" and snap.cur_khz == 1200000
    assert snap.zones[0].passive_mc == 85000 and snap.zones[0].temp_mc == 88000
    assert snap.coolings[0].cur_state == 2
    assert len(snap.throttle_reasons()) == 3


def test_the_diagnosis_keeps_npu_lines_since_the_step_began(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "dmesg").write_text(
        "#!/bin/sh\ncat <<'EOF'\n"
        "[  10.000000] ethosu ethosu: old line before the step\n"
        "[ 100.500000] usb 1-1: new device\n"
        "[ 101.000000] ethosu ethosu: Message timeout\n"
        "[ 101.100000] remoteproc remoteproc0: crash detected in imx-rproc\n"
        "[ 101.200000] Out of memory: Killed process 42 (benchmark_model)\n"
        "EOF\n"
    )
    (fake / "dmesg").chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin"}
    done = subprocess.run(
        ["sh", "-s", "--", "100.0"],
        input=clocks.DIAGNOSIS_SCRIPT,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    found = clocks.parse_diagnosis(done.stdout)
    assert found["dmesg"] == [
        "[ 101.000000] ethosu ethosu: Message timeout",
        "[ 101.100000] remoteproc remoteproc0: crash detected in imx-rproc",
        "[ 101.200000] Out of memory: Killed process 42 (benchmark_model)",
    ]
    assert found["dmesg_note"] is None


def test_an_unreadable_dmesg_is_said_so() -> None:
    found = clocks.parse_diagnosis(
        "dmesg-unreadable dmesg: read kernel buffer failed: Operation not permitted\n"
        "remoteproc remoteproc0 crashed ethosu_firmware\n"
    )
    assert found["dmesg"] == [] and "not root" in found["dmesg_note"]
    assert found["remoteproc"] == ["remoteproc0 crashed ethosu_firmware"]
    columns = clocks.diagnosis_columns(found)
    assert columns["remoteproc_state"] == "remoteproc0 crashed ethosu_firmware"
    assert "Operation not permitted" in columns["dmesg"]


def test_governor_names_are_checked() -> None:
    assert clocks.check_governor_name("performance") == "performance"
    with pytest.raises(Exception, match="governor"):
        clocks.check_governor_name("perf; reboot")


# -- the LF5.15 i.MX 93 route, decided from the probe's facts ----------------------------------


def facts(
    tflite: str, delegates: list[str], ethosu0: bool = True, vela: str | None = None
) -> BoardFacts:
    return BoardFacts(
        {
            "soc_id": "i.MX93",
            "tflite": [
                {
                    "version": tflite,
                    "benchmark_model": f"/usr/bin/tensorflow-lite-{tflite}/examples/bm",
                    "executable": True,
                }
            ],
            "delegates": [{"path": p, "sha256": None} for p in delegates],
            "npu_devices": {"/dev/ethosu0": ethosu0},
            "vela": vela,
            "os_release": {"version_id": "5.15-kirkstone"},
        }
    )


ETHOSU = "/usr/lib/libethosu_delegate.so"


@pytest.mark.parametrize(
    ("board", "builtin"),
    [
        (facts("2.9.1", []), True),  # LF5.15: the built-in op
        (facts("2.9.1", [ETHOSU]), False),  # a delegate library after all: use it
        (facts("2.9.1", [], ethosu0=False), False),  # no NPU: nothing to route to
        (facts("2.12.1", []), False),  # a newer TFLite without the library: a broken image
    ],
)
def test_the_builtin_ethosu_route_needs_all_three_facts(board: BoardFacts, builtin: bool) -> None:
    assert board.ethosu_builtin_op is builtin
    catalogue = load_catalogue()
    specs = resolve_specs([catalogue["cpu"], catalogue["ethosu"]], board)
    ethosu = specs[1]
    assert (ethosu.external_delegate_path is None) is builtin
    assert (route_of(ethosu) == ROUTE_BUILTIN_ETHOSU) is builtin
    assert route_of(specs[0]) == "cpu"


def test_the_plan_runs_the_vela_model_without_the_delegate_flag() -> None:
    board = facts("2.9.1", [])
    specs = resolve_specs([load_catalogue()["ethosu"]], board)
    (cell,) = plan_cells(
        specs, {"ethosu": "/w/m_vela.tflite"}, "/bm", "/w", 2, RunSettings(repetitions=1)
    )
    assert cell.route == ROUTE_BUILTIN_ETHOSU
    for step in cell.steps:
        assert not any(a.startswith("--external_delegate") for a in step.argv)
        assert "--graph=/w/m_vela.tflite" in step.argv


def test_board_vela_and_bsp_come_from_the_probe() -> None:
    board = facts("2.16.2", [ETHOSU], vela="3.12.0")
    assert board.vela_version == "3.12.0" and board.bsp_version_id == "5.15-kirkstone"
    assert facts("2.16.2", [], vela=None).vela_version is None
    assert major_minor("4.2.0") == (4, 2) and major_minor("vela 3.12.0rc1") == (3, 12)
    assert major_minor(None) is None


def test_new_settings_leave_the_series_settings_alone() -> None:
    assert "cpu_governor" not in RunSettings().as_dict()
    assert RunSettings(cpu_governor="performance").as_dict()["cpu_governor"] == "performance"


@pytest.mark.parametrize("shell", [["dash", "-c"], ["busybox", "sh", "-c"]])
@pytest.mark.parametrize("printed", [b"INFO: timings\n", b"no newline at the end", b""])
def test_a_step_carries_its_own_snapshots(
    tmp_path: Path, shell: list[str], printed: bytes
) -> None:
    """One command, one round trip: the snapshots come out, the command's own stdout and exit
    status are left exactly as they were."""
    if shutil.which(shell[0]) is None:
        pytest.skip(f"{shell[0]} is not installed")
    zone = tmp_path / "sys/class/thermal/thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("51000\n")
    (zone / "type").write_text("cpu-thermal\n")
    (tmp_path / "out.bin").write_bytes(printed)
    command = f"cat {tmp_path}/out.bin; echo 'to stderr' >&2; false"
    wrapped = clocks.with_snapshots(command, "ab12").replace("/sys/", f"{tmp_path}/sys/")
    done = subprocess.run([*shell, wrapped], capture_output=True, check=False)
    stdout, before, after = clocks.split_snapshots(done.stdout, "ab12")
    assert done.returncode == 1 and done.stderr == b"to stderr\n"
    assert stdout == printed
    assert before is not None and after is not None
    assert before.max_temp_c == after.max_temp_c == 51.0
    assert before.uptime_s is not None and after.uptime_s is not None
    assert before.uptime_s <= after.uptime_s


def test_a_killed_step_has_no_after_snapshot() -> None:
    """Output cut before the closing snapshot (the command was killed): nothing is made up, and
    lines that only look like a snapshot under another tag stay in the output."""
    mark = clocks.SNAPSHOT_MARK
    out = f"{mark} t before\nuptime 5.0\n{mark} t end\nINFO: half a log\n{mark} x after\n".encode()
    stdout, before, after = clocks.split_snapshots(out, "t")
    assert before is not None and before.uptime_s == 5.0
    assert after is None
    assert stdout == f"INFO: half a log\n{mark} x after\n".encode()

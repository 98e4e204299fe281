"""The board probe (board/scripts/probe.sh): the facts of an emulated board, and the same JSON
document under every POSIX shell a BSP image may have (dash, busybox ash, bash)."""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from imxbench.emulator.launcher import RunningEmulator, start_emulator
from tests.emulator_fixtures import run_ssh
from tests.locations import IMXBENCH

REPO = Path(__file__).resolve().parents[2]
PROBE = (REPO / "imxbench/board/scripts/probe.sh").read_bytes()
VOLATILE = {"mem_available_kb", "temperature_mc", "workdir_free_kb"}


@pytest.fixture(scope="module")
def board() -> Iterator[RunningEmulator]:
    emulator = start_emulator("imx93", seed=3)
    yield emulator
    emulator.stop()


def test_probe_reports_the_emulated_i_mx93() -> None:
    done = subprocess.run(
        [*IMXBENCH, "boards", "probe", "imx93", "--emulate",
         "--format", "json"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert (facts["soc_id"], facts["arch"], facts["cpu_count"]) == ("i.MX93", "aarch64", 2)
    assert [d["path"] for d in facts["delegates"]] == ["/usr/lib/libethosu_delegate.so"]
    assert facts["npu_devices"]["/dev/ethosu0"] and facts["ethosu_firmware"]
    assert facts["tflite"][0]["version"] == "2.19.0"
    # Python facts without starting Python's site machinery: `python3 --version` and the
    # wheel's metadata directory under /usr/lib/python3.<N>/site-packages (NXP_FACTS §1.2)
    assert facts["python3"] == "/usr/bin/python3"
    assert facts["python_version"] == platform.python_version()  # the board runs this Python
    assert (facts["tflite_runtime"], facts["ai_edge_litert"]) == ("2.19.0", None)
    assert facts["emulated"] is True


@pytest.mark.parametrize("shell", ["dash", "busybox sh", "bash"])
def test_probe_prints_the_same_document_under_every_shell(
    board: RunningEmulator, shell: str
) -> None:
    def probe(with_shell: str) -> dict[str, object]:
        done = run_ssh(board, f"{with_shell} -s /home/root/imxbench", stdin=PROBE)
        assert done.returncode == 0, done.stderr
        document = json.loads(done.stdout)
        return {k: v for k, v in document.items() if k not in VOLATILE}

    reference = probe("sh")
    assert reference["tflite_runtime"] == "2.19.0"
    assert probe(shell) == reference

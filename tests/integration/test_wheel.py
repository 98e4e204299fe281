"""The package as a user gets it: a wheel built from the repository, installed into a new
virtual environment, runs the main job in an empty folder (no checkout, no delegates/ beside it).

The new environment takes imxbench from the wheel only; its dependencies (several hundred MB)
come from the test environment's site-packages through a .pth line, so the test needs no
network. docs/DESIGN.md says how to do the same by hand with a full `pip install`.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.locations import REPO

CLEAN_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
"""No PYTHONPATH: the new environment must find imxbench in its own site-packages only."""


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work), str(REPO)],
        check=True,
        capture_output=True,
        env=CLEAN_ENV,
    )
    (wheel,) = work.glob("imxbench-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        env=CLEAN_ENV,  # with PYTHONPATH on a checkout, pip took imxbench as installed
    )
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    ours = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    (purelib / "test_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    return venv


def test_the_wheel_ships_its_catalogue_and_runs_the_main_job(
    wheel_venv: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    where = subprocess.run(
        [
            str(wheel_venv / "bin/python"),
            "-c",
            "import imxbench, imxbench.config.delegates as d; print(imxbench.__file__);"
            "print(d.DEFAULT_FOLDER); print(sorted(d.load_catalogue()))",
        ],
        cwd=empty,
        capture_output=True,
        text=True,
        check=True,
        env=CLEAN_ENV,
    ).stdout.splitlines()
    assert where[0].startswith(str(wheel_venv))  # the wheel's copy, not the checkout
    assert where[1].startswith(str(wheel_venv)) and where[1].endswith("imxbench/catalogue")
    assert where[2] == "['cpu', 'ethosu', 'gpu', 'vx']"
    done = subprocess.run(
        [
            str(wheel_venv / "bin/imxbench"),
            "run",
            "--board",
            "imx8mp",
            "--emulate",
            "--repetitions",
            "2",
            "--num-runs",
            "5",
            "--min-secs",
            "0",
            "--format",
            "json",
        ],
        cwd=empty,
        capture_output=True,
        text=True,
        timeout=300,
        env=CLEAN_ENV,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)["summary"]
    assert {row["delegate"] for row in summary} == {"cpu", "vx", "gpu"}
    run_dirs = list((empty / "reports").iterdir())
    assert any((d / "report.html").is_file() for d in run_dirs)

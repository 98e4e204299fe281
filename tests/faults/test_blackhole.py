"""A board that goes silent mid-run (crashed, unplugged, its network blackholed): imxbench must
not wait forever. Every packet is dropped, without a reset, inside a network namespace the test
creates (tests/netns_blackhole.py runs the board and imxbench there)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("ip") is None or os.geteuid() != 0,
    reason="needs root and iproute2 (setup.sh installs it) for a network namespace",
)


def test_a_blackholed_board_ends_the_run_within_bounds(tmp_path: Path) -> None:
    namespace = f"imxbench-blackhole-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        done = subprocess.run(
            ["ip", "netns", "exec", namespace, sys.executable,
             str(REPO / "tests/netns_blackhole.py"), str(tmp_path), "60"],
            capture_output=True, text=True, timeout=400, cwd=REPO,
        )
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    stderr = "\n".join(result["stderr"])
    assert result["blackholed"], stderr
    # keepalive_s 1: the kernel ends the silent connection after ~3 s (TCP_USER_TIMEOUT), the
    # reconnects (5 tries, connect timeout 3 s, backoff 1+2+4+8 s) give up after ~30 s: the
    # step's own 60 s timeout is never needed
    assert result["status"] == 3, stderr  # the board was lost; no cell failed
    assert result["ended_after_s"] < 50, result["ended_after_s"]
    assert "Traceback" not in stderr
    failures = json.loads(result["stdout"])["failures"]
    assert any(
        f.startswith("lab: connection lost during cpu@4t rep 2; reconnecting failed: ")
        for f in failures
    ), failures
    run_dir = Path(result["run_dir"])
    assert json.loads((run_dir / "run.json").read_text())["status"] == "partial"
    rows = json.loads((run_dir / "results.json").read_text())
    kept = [(r["cell"], r["kind"], r["repetition"], r["status"]) for r in rows]
    assert ("cpu@4t", "timed", 1, "ok") in kept  # what finished before the blackhole is kept

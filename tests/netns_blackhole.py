"""A board whose network goes silent mid-run: run inside a network namespace of its own.

    ip netns exec NS python tests/netns_blackhole.py WORKDIR STEP_TIMEOUT_S

In the namespace (only a loopback), it starts OpenSSH's sshd inside an emulated i.MX 8M Plus,
runs `imxbench run` against it, and once the first benchmark step has finished and the next
has started, takes the loopback down: from then on every packet either way is dropped without
a reset or an error — the connection is blackholed, as when a board hangs or a switch port dies.
It prints one JSON document: imxbench's exit status, how long it took to end after the
blackhole, its stderr, and the run directory. The test (tests/faults/test_blackhole.py) judges.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from imxbench.emulator.board_image import build_board_state  # noqa: E402
from tests.locations import IMXBENCH  # noqa: E402
from tests.ssh_servers import start_board_sshd  # noqa: E402

GIVE_UP_S = 300.0  # imxbench not ended by then: a hang (the test fails on it)


def main() -> None:
    work, step_timeout = Path(sys.argv[1]), sys.argv[2]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    layout = build_board_state("imx8mp", work / "state")
    server = start_board_sshd(layout, work / "sshd")
    inventory = work / "boards.yaml"
    inventory.write_text(
        f"boards:\n  lab:\n    soc: imx8mp\n    host: 127.0.0.1\n    port: {server.port}\n"
        f"    auth: {{type: key, key_file: {server.client_key}}}\n"
        f"    known_hosts: {server.known_hosts}\n    connect_timeout_s: 3\n    keepalive_s: 1\n"
    )
    argv = [
        *IMXBENCH, "run", "--board", "lab", "--inventory", str(inventory),
        "--reports", str(work / "reports"), "--delegate", "cpu,vx", "--threads", "4",
        "--repetitions", "2", "--no-op-profile", "--min-secs", "3",
        "--timeout", step_timeout, "--format", "json",
    ]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout is not None and proc.stderr is not None
    stdout: list[str] = []
    threading.Thread(target=lambda: stdout.append(proc.stdout.read()), daemon=True).start()
    lines: list[str] = []
    second_step = threading.Event()

    def read_stderr() -> None:
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if line.rstrip().endswith("rep 2 ..."):
                second_step.set()

    threading.Thread(target=read_stderr, daemon=True).start()
    blackholed_at = None
    if second_step.wait(timeout=60):
        subprocess.run(["ip", "link", "set", "lo", "down"], check=True)
        blackholed_at = time.monotonic()
    try:
        status: int | None = proc.wait(timeout=GIVE_UP_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        status = None
    time.sleep(0.5)  # the last output lines
    ended_after = time.monotonic() - blackholed_at if blackholed_at else None
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    server.stop()
    reports = work / "reports"
    runs = [p for p in reports.glob("*/run.json")] if reports.is_dir() else []
    print(
        json.dumps(
            {
                "status": status,
                "blackholed": blackholed_at is not None,
                "ended_after_s": ended_after,
                "stderr": lines,
                "run_dir": str(runs[0].parent) if runs else None,
                "stdout": stdout[0] if stdout else "",
            }
        )
    )


if __name__ == "__main__":
    main()

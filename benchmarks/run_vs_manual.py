"""P1 and P2: `imxbench run` against the script a lab engineer writes by hand.

Both drive the same OpenSSH sshd serving an emulated i.MX 8M Plus and run the SAME
benchmark_model command lines (taken from imxbench's own logs): the manual script scp's the
model, then one `ssh ... benchmark_model ...` per step. Rounds are interleaved.
P1 target: imxbench <= 0.8x the manual script's wall time.
P2 target: harness overhead (wall time minus the benchmark_model processes' own time) <= 0.3 s.
"""

from __future__ import annotations

import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from imxbench.emulator.board_image import build_board_state  # noqa: E402
from tests.ssh_servers import SshServer, start_board_sshd  # noqa: E402

ROUNDS = 3
ARGS = [
    "--delegate",
    "cpu,vx,gpu",
    "--threads",
    "4",
    "--repetitions",
    "1",
    "--no-op-profile",
    "--num-runs",
    "20",
    "--min-secs",
    "0",
]
MODEL = REPO / "imxbench/reference_models/pretrainedResnet_quant.tflite"


def imxbench_run(inventory: Path, reports: Path) -> tuple[float, dict]:  # type: ignore[type-arg]
    started = time.perf_counter()
    done = subprocess.run(
        [
            str(REPO / ".venv/bin/imxbench"),
            "run",
            "--board",
            "lab",
            "--inventory",
            str(inventory),
            "--reports",
            str(reports),
            "--format",
            "json",
            *ARGS,
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return time.perf_counter() - started, json.loads(done.stdout)


def manual_script(server: SshServer, run_dir: Path, remote_model: str) -> str:
    """What a lab engineer writes: scp the model, then ssh each command (fresh connection each)."""
    ssh = (
        f"ssh -F /dev/null -o BatchMode=yes -o UserKnownHostsFile={server.known_hosts} "
        f"-i {server.client_key} -p {server.port} root@127.0.0.1"
    )
    lines = [
        "set -e",
        f'ssh_() {{ {ssh} "$@"; }}',
        f"ssh_ mkdir -p {shlex.quote(str(Path(remote_model).parent))}",
        f"scp -q -F /dev/null -o BatchMode=yes -o UserKnownHostsFile={server.known_hosts} "
        f"-i {server.client_key} -P {server.port} {MODEL} root@127.0.0.1:{remote_model}",
    ]
    for log in sorted((run_dir / "logs/lab").glob("*.log")):
        command = log.read_text().splitlines()[0].removeprefix("$ ").strip()
        if "cold" in log.name:  # imxbench empties the graph cache before a cold run
            cache = command.split("VIV_VX_CACHE_BINARY_GRAPH_DIR=")[1].split()[0]
            lines.append(f"ssh_ 'rm -rf {cache} && mkdir -p {cache}'")
        lines.append(f"ssh_ {shlex.quote(command)} > /dev/null 2>&1")
    return "\n".join(lines) + "\n"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = start_board_sshd(build_board_state("imx8mp", tmp / "state"), tmp / "sshd")
        try:
            measure(server, tmp)
        finally:
            server.stop()


def measure(server: SshServer, tmp: Path) -> None:
    inventory = tmp / "boards.yaml"
    inventory.write_text(
        f"boards:\n  lab:\n    soc: imx8mp\n    host: 127.0.0.1\n    port: {server.port}\n"
        f"    auth: {{type: key, key_file: {server.client_key}}}\n"
        f"    known_hosts: {server.known_hosts}\n"
    )
    _, first = imxbench_run(inventory, tmp / "warmup")  # vela/model caches, like any 2nd run
    run_dir = Path(first["out_dir"])
    results = json.loads((run_dir / "results.json").read_text())
    remote_model = results[0]["graph_on_board"].replace(".tflite", "-manual.tflite")
    script = tmp / "manual.sh"
    script.write_text(manual_script(server, run_dir, remote_model))
    ours, theirs, overheads = [], [], []
    for r in range(ROUNDS):
        started = time.perf_counter()
        subprocess.run(["bash", str(script)], check=True)
        theirs.append(time.perf_counter() - started)
        wall, out = imxbench_run(inventory, tmp / f"r{r}")
        ours.append(wall)
        rows = json.loads((Path(out["out_dir"]) / "results.json").read_text())
        overheads.append(wall - sum(row["duration_s"] for row in rows))
    o, t = statistics.median(ours), statistics.median(theirs)
    steps = len(results)
    print(
        f"P1: manual ssh script {t:.2f} s, imxbench run {o:.2f} s for the same {steps} "
        f"benchmark_model runs: ratio {o / t:.2f}x (target <= 0.8x)"
    )
    print(
        f"P2: harness overhead beyond benchmark_model's own time: "
        f"{statistics.median(overheads):.2f} s (target <= 0.3 s; includes interpreter start, "
        "probe, deploy check and report writing)"
    )


if __name__ == "__main__":
    main()

"""P4: deploying 50 MB with imxbench versus OpenSSH `scp` and `sftp`, whole processes.

Each side is a fresh process, as a user pays it: imxbench's is a new Python interpreter that
imports imxbench, connects (`BoardSession.connect`) and calls `deploy_file`; against it,
`scp FILE board:PATH` and `sftp -b` with one `put`. All three go over loopback to the same
OpenSSH sshd, in interleaved rounds (the order rotates each round), a fresh 50 MB file each
round (nothing to skip); figures are medians. An unchanged re-deploy must send 0 bytes (checked
each round, in one more process, untimed).

Target: imxbench >= 0.9x scp's throughput. Also printed: the median of each round's own ratio
(the machine's load drifts less within a round), and on a second line the medians of where the
imxbench process spent its time (imports, connect, deploy; the rest is interpreter start and
exit) and the load average. The board is this host: its side of every upload (sshd, the
shell, the checks) shares the same cores.

    .venv/bin/python benchmarks/upload_throughput.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.ssh_servers import SshServer, start_sshd  # noqa: E402

SIZE = 50 * 1024 * 1024
ROUNDS = 7

# The imxbench side: what a user's run pays to upload one file, from interpreter start to exit.
DEPLOY_PROCESS = """
import time
started = time.perf_counter()
import json, sys
from pathlib import Path
from imxbench.board.deploy import deploy_file
from imxbench.board.transport import BoardSession
from imxbench.config.inventory import AuthSpec, Board
imported = time.perf_counter()
spec = json.loads(sys.argv[1])
board = Board(
    name="p4", soc="imx8mp", host="127.0.0.1", port=spec["port"], user="root",
    auth=AuthSpec(type="key", key_file=spec["key"]), known_hosts=spec["known_hosts"],
    workdir=spec["workdir"], connect_timeout_s=5.0,
)
with BoardSession.connect(board) as session:
    connected = time.perf_counter()
    deployed = deploy_file(session, Path(spec["local"]))
    done = time.perf_counter()
print(json.dumps({
    "transferred_bytes": deployed.transferred_bytes, "remote": deployed.remote,
    "import_s": imported - started, "connect_s": connected - imported, "deploy_s": done - connected,
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = start_sshd(tmp / "sshd")
        try:
            measure(server, tmp, args.rounds)
        finally:
            server.stop()


def openssh_options(server: SshServer) -> list[str]:
    return [
        "-q", "-F", "/dev/null", "-o", "BatchMode=yes",
        "-o", f"UserKnownHostsFile={server.known_hosts}", "-i", str(server.client_key),
        "-P", str(server.port),
    ]  # fmt: skip


def deploy_argv(server: SshServer, local: Path, workdir: Path) -> list[str]:
    spec = {
        "port": server.port,
        "key": str(server.client_key),
        "known_hosts": str(server.known_hosts),
        "workdir": str(workdir),
        "local": str(local),
    }
    return [sys.executable, "-c", DEPLOY_PROCESS, json.dumps(spec)]


# As installed (pip compiles every module): Python may write the bytecode it compiles, even
# where the environment says not to (then each process would compile imxbench anew).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str]) -> tuple[float, str]:
    """Run one process; its wall time (s) and its stdout."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, env=ENV, check=True, capture_output=True, text=True)
    return time.perf_counter() - started, done.stdout


def measure(server: SshServer, tmp: Path, rounds: int) -> None:
    times: dict[str, list[float]] = {"scp": [], "sftp": [], "imxbench": []}
    parts: dict[str, list[float]] = {"import_s": [], "connect_s": [], "deploy_s": []}
    warm_up = tmp / "warm-up.bin"  # bytecode written, caches warm: untimed
    warm_up.write_bytes(os.urandom(1024))
    timed(deploy_argv(server, warm_up, tmp / "warm-up"))
    for r in range(rounds):
        local = tmp / f"blob{r}.bin"
        local.write_bytes(os.urandom(SIZE))
        landing = tmp / f"round{r}"
        landing.mkdir()
        batch = tmp / "batch"
        batch.write_text(f'put "{local}" "{landing / "sftp.bin"}"\n')
        sides = [
            (
                "scp",
                ["scp", *openssh_options(server), str(local), f"root@127.0.0.1:{landing}/scp.bin"],
            ),
            ("sftp", ["sftp", *openssh_options(server), "-b", str(batch), "root@127.0.0.1"]),
            ("imxbench", deploy_argv(server, local, landing / "workdir")),
        ]
        outcome: dict[str, Any] = {}
        for name, argv in sides[r % 3 :] + sides[: r % 3]:
            wall_s, stdout = timed(argv)
            times[name].append(wall_s)
            if name == "imxbench":
                outcome = json.loads(stdout)
        assert outcome["transferred_bytes"] == SIZE, outcome
        for key, values in parts.items():
            values.append(outcome[key])
        for copy in (landing / "scp.bin", landing / "sftp.bin", Path(outcome["remote"])):
            assert copy.stat().st_size == SIZE, copy
        again = json.loads(timed(deploy_argv(server, local, landing / "workdir"))[1])
        assert again["transferred_bytes"] == 0, again
        shutil.rmtree(landing)
        local.unlink()
    mb_s = {name: SIZE / 1e6 / statistics.median(values) for name, values in times.items()}
    paired = {  # each round's ratio: the machine's load drifts less within a round
        name: statistics.median(o / i for o, i in zip(times[name], times["imxbench"], strict=True))
        for name in ("scp", "sftp")
    }
    load = os.getloadavg()
    print(
        f"P4: imxbench deploy {mb_s['imxbench']:.0f} MB/s, scp {mb_s['scp']:.0f} MB/s, "
        f"sftp -b {mb_s['sftp']:.0f} MB/s (50 MB, whole processes, medians of {rounds} "
        f"interleaved rounds): {mb_s['imxbench'] / mb_s['scp']:.2f}x scp (target >= 0.9x), "
        f"{mb_s['imxbench'] / mb_s['sftp']:.2f}x sftp (median of the rounds' own ratios: "
        f"{paired['scp']:.2f}x, {paired['sftp']:.2f}x); an unchanged re-deploy sent 0 bytes"
    )
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(
        "    seconds: "
        + ", ".join(f"{name} {value:.3f}" for name, value in medians.items())
        + "; imxbench: "
        + ", ".join(f"{key[:-2]} {statistics.median(v):.3f}" for key, v in parts.items())
        + f"; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


if __name__ == "__main__":
    main()

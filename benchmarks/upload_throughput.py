"""P4: deploying 50 MB with imxbench versus OpenSSH scp, over loopback to the same sshd.

Target: imxbench >= 0.9x scp's throughput; an unchanged re-deploy transfers 0 bytes.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imxbench.board.deploy import deploy_file
from imxbench.board.transport import BoardSession
from tests.ssh_servers import start_sshd

SIZE = 50 * 1024 * 1024
ROUNDS = 5


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = start_sshd(tmp / "sshd")
        try:
            measure(server, tmp)
        finally:
            server.stop()


def measure(server, tmp: Path) -> None:  # type: ignore[no-untyped-def]
    scp_base = ["scp", "-q", "-F", "/dev/null", "-o", "BatchMode=yes",
                "-o", f"UserKnownHostsFile={server.known_hosts}", "-i", str(server.client_key),
                "-P", str(server.port)]
    scp_s, ours_s = [], []
    for r in range(ROUNDS):  # interleaved, a fresh file each round (nothing to skip)
        local = tmp / f"blob{r}.bin"
        local.write_bytes(os.urandom(SIZE))
        remote = tmp / f"remote-scp{r}.bin"
        started = time.perf_counter()
        subprocess.run([*scp_base, str(local), f"root@127.0.0.1:{remote}"], check=True)
        scp_s.append(time.perf_counter() - started)
        board = server.board(workdir=str(tmp / f"workdir{r}"))
        started = time.perf_counter()
        with BoardSession.connect(board) as session:
            deployed = deploy_file(session, local)
        ours_s.append(time.perf_counter() - started)
        assert deployed.transferred_bytes == SIZE
        with BoardSession.connect(board) as session:
            again = deploy_file(session, local)
        assert again.transferred_bytes == 0
    scp_mb_s = SIZE / 1e6 / statistics.median(scp_s)
    ours_mb_s = SIZE / 1e6 / statistics.median(ours_s)
    print(
        f"P4: scp {scp_mb_s:.0f} MB/s, imxbench deploy {ours_mb_s:.0f} MB/s (50 MB, medians of "
        f"{ROUNDS} interleaved rounds, connection included on both sides): ratio "
        f"{ours_mb_s / scp_mb_s:.2f}x (target >= 0.9x); an unchanged re-deploy sent 0 bytes"
    )


if __name__ == "__main__":
    main()

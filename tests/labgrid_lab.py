"""A labgrid lab on 127.0.0.1 for the tests: a real `labgrid-coordinator`, a real
`labgrid-exporter` exporting one NetworkService per emulated board, and one place per board
(created with the real `labgrid-client`, with tags).

`lab` (module scope) starts four emulated boards (three i.MX 8M Plus, one i.MX 93), the
coordinator (in a temporary directory: it writes places.yaml there) and the exporter, waits
until the places see their resources, and stops everything at the end. `Lab.env` is the
environment for imxbench subprocesses: LG_COORDINATOR, and HOME with a ~/.ssh/known_hosts that
has the four boards' host keys (the strict default for boards found as places).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from imxbench.emulator.launcher import RunningEmulator, start_emulator
from imxbench.lab.places import LEASE_TAG

BIN = Path(sys.executable).parent
EXPORTER = "lab-exporter"
BOARDS = {  # place -> soc
    "lab-8mp-1": "imx8mp",
    "lab-8mp-2": "imx8mp",
    "lab-8mp-3": "imx8mp",
    "lab-93-1": "imx93",
}


def labgrid_missing() -> str | None:
    """Why the labgrid tests cannot run here, or None."""
    try:
        import labgrid.remote.client  # noqa: F401
    except ImportError:
        return "labgrid is not installed (pip install -e '.[lab]'; setup.sh does)"
    for tool in ("labgrid-coordinator", "labgrid-exporter", "labgrid-client"):
        if not (BIN / tool).exists():
            return f"{tool} not found next to {sys.executable}"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Lab:
    root: Path
    address: str
    boards: dict[str, RunningEmulator]
    env: dict[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def client(
        self, *args: str, user: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`labgrid-client ARGS` (as labgrid user bench/USER when `user` is given)."""
        env = {**self.env}
        if user:
            env |= {"LG_USERNAME": user, "LG_HOSTNAME": "bench"}
        done = subprocess.run(
            [str(BIN / "labgrid-client"), "-x", self.address, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"labgrid-client {' '.join(args)}:\n{done.stdout}{done.stderr}")
        return done

    def place(self, name: str) -> dict[str, str]:
        """What `labgrid-client show` says: acquired, reservation, tags."""
        out = self.client("-p", name, "show").stdout
        found = {"acquired": "None", "reservation": "", "tags": ""}
        for line in out.splitlines():
            key, _, value = line.strip().partition(": ")
            if key in found and value:
                found[key] = value
        return found

    def reservations(self) -> str:
        return self.client("reservations").stdout

    def assert_idle(self, *names: str) -> None:
        """Not acquired, no reservation, no lease tag, no reservation left anywhere."""
        for name in names or tuple(BOARDS):
            state = self.place(name)
            assert state["acquired"] == "None", (name, state)
            assert not state["reservation"], (name, state)
            assert LEASE_TAG not in state["tags"], (name, state)
        assert "Reservation" not in self.reservations()

    def stop(self) -> None:
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        for board in self.boards.values():
            board.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _exporter_config(boards: dict[str, RunningEmulator]) -> str:
    """The exporter's resources: one group per board, its NetworkService (YAML)."""
    lines = []
    for place, board in boards.items():
        lines += [
            f"{place}:",
            "  NetworkService:",
            f"    address: {board.host}",
            f"    port: {board.port}",
            f"    username: {board.user}",
        ]
    return "\n".join(lines) + "\n"


def start_lab() -> Lab:
    root = Path(tempfile.mkdtemp(prefix="imxbench-lab-"))
    address = f"127.0.0.1:{_free_port()}"
    home = root / "home"
    (home / ".ssh").mkdir(parents=True)
    env = {
        **os.environ,
        "LG_COORDINATOR": address,
        "HOME": str(home),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("LG_TOKEN", None)
    env.pop("LG_PLACE", None)
    lab = Lab(root, address, {}, env)
    try:
        for i, (place, soc) in enumerate(BOARDS.items()):
            lab.boards[place] = start_emulator(soc, seed=100 + i)
        known = "".join(b.known_hosts_path.read_text() for b in lab.boards.values())
        (home / ".ssh" / "known_hosts").write_text(known)
        (root / "exporter.yaml").write_text(_exporter_config(lab.boards))
        coordinator = root / "coordinator"
        coordinator.mkdir()
        lab.processes.append(
            _spawn(["labgrid-coordinator", "-l", address], coordinator, root / "coordinator.log")
        )
        _wait_port(address, lab)
        exporter = [
            "labgrid-exporter", "-c", address, "-n", EXPORTER, "--hostname", "127.0.0.1",
            str(root / "exporter.yaml"),
        ]  # fmt: skip
        lab.processes.append(_spawn(exporter, root, root / "exporter.log"))
        for place, soc in BOARDS.items():
            lab.client("-p", place, "create")
            lab.client("-p", place, "add-match", f"{EXPORTER}/{place}/NetworkService")
            lab.client("-p", place, "set-tags", f"soc={soc}", "lab=nightly")
        _wait_resources(lab)
    except BaseException:
        lab.stop()
        raise
    return lab


def _spawn(argv: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(BIN / argv[0]), *argv[1:]], cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )


def _wait_port(address: str, lab: Lab, timeout_s: float = 20.0) -> None:
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((host, int(port))) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"labgrid-coordinator did not listen:\n{_log(lab, 'coordinator')}")


def _wait_resources(lab: Lab, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        listed = lab.client("resources", check=False).stdout
        if all(f"{EXPORTER}/{place}/NetworkService" in listed for place in BOARDS):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the exporter's resources did not appear:\n{_log(lab, 'exporter')}")


def _log(lab: Lab, name: str) -> str:
    path = lab.root / f"{name}.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"


@pytest.fixture(scope="module", name="lab")
def fixture_lab() -> Iterator[Lab]:
    why = labgrid_missing()
    if why:
        pytest.skip(why)
    lab = start_lab()
    try:
        yield lab
    finally:
        lab.stop()

"""Start, stop and restart emulated boards; run other programs (sshd, dropbear) on a board.

`start_emulator("imx8mp")` boots a board (a temporary state dir unless given one) and returns
once its SSH server listens; `ssh -p PORT root@127.0.0.1` then sees /sys/devices/soc0/soc_id =
i.MX8MP. `set_faults(crash=True)` is read by the emulated tools at their next invocation;
`restart()` is a reboot (same disk, port and host key); `stop()` ends every board process.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from imxbench.emulator.board_image import (
    PACKAGE_ROOT,
    BoardLayout,
    build_board_state,
    remove_state,
    soc_spec,
)
from imxbench.emulator.faults import FAULTS_FILE, check_boot_faults, load_faults, update_faults
from imxbench.emulator.sandbox import board_command, ensure_namespaces
from imxbench.emulator.socs import bsp_spec
from imxbench.emulator.ssh_server import client_host
from imxbench.errors import ConfigError, InfrastructureError

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0


def _board_env() -> dict[str, str]:
    """This environment, with the imxbench package importable inside the board."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH")) if p)
    return env


def run_in_board(
    layout: BoardLayout,
    argv: Sequence[str],
    *,
    boot_faults: Sequence[str] = (),
    **popen_kw: Any,
) -> subprocess.Popen[Any]:
    """Start `argv` on the board described by `layout` (in fresh namespaces, like the emulator).

    The process leads its own process group: stop it with `terminate(proc)`, which also ends
    everything it started on the board.
    """
    ensure_namespaces()
    popen_kw.setdefault("start_new_session", True)
    popen_kw.setdefault("env", _board_env())
    popen_kw.setdefault("cwd", "/")
    return subprocess.Popen(board_command(layout, argv, boot_faults=boot_faults), **popen_kw)


def terminate(proc: subprocess.Popen[Any], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the process group of a board process, SIGKILL it after `timeout_s`; wait.
    Ctrl-C while it waits kills the group at once, then goes on (nothing left running)."""
    try:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=timeout_s)
                return
            except subprocess.TimeoutExpired:
                continue
    except KeyboardInterrupt:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout_s)
        raise


class RunningEmulator:
    """A running emulated board: where to reach it, its fault switches, stop and restart."""

    user = "root"

    def __init__(
        self,
        layout: BoardLayout,
        *,
        bind: str,
        port: int,
        noise_pct: float,
        seed: int | None,
        boot_faults: tuple[str, ...],
        owns_state: bool,
    ) -> None:
        self.layout = layout
        self.soc = layout.spec.soc
        self.bind = bind
        self.host = client_host(bind)
        self.port = port
        self.host_key_fingerprint = ""
        self.boot_faults = boot_faults
        self._noise_pct = noise_pct
        self._seed = seed
        self._owns_state = owns_state
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def state_dir(self) -> Path:
        return self.layout.root

    @property
    def control_dir(self) -> Path:
        return self.layout.control_dir

    @property
    def known_hosts_path(self) -> Path:
        return self.layout.known_hosts_path

    @property
    def log_path(self) -> Path:
        return self.layout.log_path

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def set_faults(self, **faults: Any) -> None:
        """Switch runtime faults (faults.py names); the others keep their current value."""
        update_faults(self.control_dir, **faults)

    def faults(self) -> dict[str, Any]:
        return load_faults(self.control_dir)

    def stop(self) -> None:
        """Stop the board (every process on it) and remove a temporary state dir, also when
        Ctrl-C comes while it stops. Idempotent."""
        try:
            self._halt()
        finally:
            if self._owns_state:
                remove_state(self.state_dir)
                self._owns_state = False

    def restart(self, *, boot_faults: Sequence[str] | None = None) -> None:
        """Reboot: same state dir (the workdir survives), port and host key; faults reset."""
        self._halt()
        if boot_faults is not None:
            self.boot_faults = check_boot_faults(list(boot_faults))
        build_board_state(
            self.soc,
            self.state_dir,
            bsp=self.layout.bsp.name,
            noise_pct=self._noise_pct,
            seed=self._seed,
        )
        self._boot()

    def describe(self) -> list[str]:
        """How to reach the board, one line each (for the CLI)."""
        known = self.known_hosts_path
        return [
            f"EMULATED {self.layout.spec.soc_id} board ({self.soc}): not real hardware",
            f"  BSP {self.layout.bsp.name} ({self.layout.bsp.release}),"
            f" TFLite {self.layout.bsp.tflite_version}",
            f"  host {self.host}  port {self.port}  user {self.user}  password: (empty)",
            f"  host key {self.host_key_fingerprint}  known_hosts {known}",
            f"  ssh -o UserKnownHostsFile={known} -p {self.port} {self.user}@{self.host}",
            f"  sftp -o UserKnownHostsFile={known} -P {self.port} {self.user}@{self.host}",
            f"  state {self.state_dir}  faults {self.control_dir / FAULTS_FILE}",
            f"  log {self.log_path}",
        ]

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _boot(self) -> None:
        server = [
            sys.executable,
            "-m",
            "imxbench.emulator.ssh_server",
            f"--state={self.state_dir}",
            f"--soc={self.soc}",
            f"--port={self.port}",
            f"--bind={self.bind}",
        ]
        with open(self.log_path, "ab") as log:
            self._proc = run_in_board(
                self.layout,
                server,
                boot_faults=self.boot_faults,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        try:
            ready = self._wait_ready()
        except BaseException:
            self._halt()
            raise
        self.port = int(ready["port"])
        self.host_key_fingerprint = str(ready["host_key_fingerprint"])

    def _wait_ready(self) -> dict[str, Any]:
        """Read the server's JSON ready line; raise with the log's tail if it dies or stalls."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + READY_TIMEOUT_S
        received = b""
        while b"\n" not in received:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InfrastructureError(
                    f"emulated {self.soc} board did not start within {READY_TIMEOUT_S:.0f} s",
                    hint=self.log_tail(),
                )
            readable, _, _ = select.select([fd], [], [], min(remaining, 0.5))
            chunk = os.read(fd, 4096) if readable else b""
            if readable and not chunk:
                self._proc.wait()
                raise InfrastructureError(
                    f"emulated {self.soc} board failed to start "
                    f"(exit status {self._proc.returncode})",
                    hint=self.log_tail(),
                )
            received += chunk
        ready: dict[str, Any] = json.loads(received.split(b"\n", 1)[0])
        return ready

    def _halt(self) -> None:
        if self._proc is not None:
            terminate(self._proc)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None


def start_emulator(
    soc: str,
    *,
    bsp: str | None = None,
    port: int = 0,
    state_dir: Path | None = None,
    bind: str = "127.0.0.1",
    noise_pct: float = 1.0,
    seed: int | None = None,
    boot_faults: Sequence[str] = (),
) -> RunningEmulator:
    """Boot an emulated `soc` board and return once its SSH server accepts connections.

    `state_dir=None` uses a temporary state dir, removed by `stop()`; `port=0` picks a free port
    (kept by `restart()`). `bsp` names the BSP release (socs.BSPS; None: the state dir's own,
    else lf-6.12).
    """
    soc_spec(soc)
    if bsp is not None:
        bsp_spec(bsp)
    faults = check_boot_faults(list(boot_faults))
    ensure_namespaces()
    owns_state = state_dir is None
    root = Path(tempfile.mkdtemp(prefix=f"imxbench-{soc}-")) if state_dir is None else state_dir
    try:
        try:
            layout = build_board_state(soc, root, bsp=bsp, noise_pct=noise_pct, seed=seed)
        except OSError as exc:  # a --state folder that is not a board's disk
            if owns_state:
                raise
            raise ConfigError(
                f"{root}: not an emulated board's state folder ({exc.strerror}: {exc.filename})",
                "give --state an empty or new folder, or one an earlier `emulate` made",
            ) from None
        emulator = RunningEmulator(
            layout,
            bind=bind,
            port=port,
            noise_pct=noise_pct,
            seed=seed,
            boot_faults=faults,
            owns_state=owns_state,
        )
        emulator._boot()
    except BaseException:
        if owns_state:
            remove_state(root)
        raise
    return emulator


def serve(
    soc: str,
    port: int,
    state_dir: Path | None,
    *,
    bsp: str | None = None,
    bind: str = "127.0.0.1",
    noise_pct: float = 1.0,
    seed: int | None = None,
    boot_faults: Sequence[str] = (),
    write: Callable[[str], None],
) -> None:
    """Run one emulated board until Ctrl-C or SIGTERM (for `imxbench emulate`)."""
    with start_emulator(
        soc,
        bsp=bsp,
        port=port,
        state_dir=state_dir,
        bind=bind,
        noise_pct=noise_pct,
        seed=seed,
        boot_faults=boot_faults,
    ) as emulator:
        for line in emulator.describe():
            write(line)
        write("Ctrl-C stops the board.")
        _block_until_stopped(emulator)
        write(f"stopping the emulated {soc} board")


def _block_until_stopped(emulator: RunningEmulator) -> None:
    """Return on Ctrl-C / SIGTERM; raise if the board dies on its own."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, interrupt) if in_main else None
    try:
        while emulator.running:
            time.sleep(0.5)
        raise InfrastructureError(
            f"the emulated {emulator.soc} board stopped unexpectedly", hint=emulator.log_tail()
        )
    except KeyboardInterrupt:
        return
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)

"""Real SSH servers for the tests: OpenSSH sshd and Dropbear on 127.0.0.1 with temporary keys."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from imxbench.config.inventory import AuthSpec, Board
from imxbench.emulator.board_image import BoardLayout

SSHD = "/usr/sbin/sshd"
DROPBEAR = "/usr/sbin/dropbear"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"server exited with {proc.returncode}: {err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if s.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


@dataclass
class SshServer:
    kind: str
    port: int
    proc: subprocess.Popen[bytes]
    known_hosts: Path
    client_key: Path

    def board(
        self, name: str = "testboard", workdir: str = "/tmp/imxbench-test", **kw: object
    ) -> Board:
        values: dict[str, object] = {
            "name": name,
            "soc": "imx8mp",
            "host": "127.0.0.1",
            "port": self.port,
            "user": "root",
            "auth": AuthSpec(type="key", key_file=str(self.client_key)),
            "known_hosts": str(self.known_hosts),
            "workdir": workdir,
            "connect_timeout_s": 5.0,
        }
        values.update(kw)
        return Board(**values)  # type: ignore[arg-type]

    @property
    def known_hosts_path(self) -> Path:
        return self.known_hosts

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return Path(f"{path}.pub").read_text().strip()


def _known_hosts_line(port: int, public_key: str) -> str:
    kind, blob = public_key.split()[:2]
    return f"[127.0.0.1]:{port} {kind} {blob}\n"


def start_sshd(
    tmp: Path, prefix: Sequence[str] = (), force_command: str | None = None
) -> SshServer:
    """OpenSSH sshd with SFTP, root login by key only. `prefix` runs it inside e.g. a sandbox."""
    tmp.mkdir(parents=True, exist_ok=True)
    host_pub = keygen(tmp / "host_ed25519")
    client_pub = keygen(tmp / "client_ed25519")
    (tmp / "authorized_keys").write_text(client_pub + "\n")
    port = free_port()
    config = tmp / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp / 'host_ed25519'}\nPidFile none\n"
        "UsePAM no\nPermitRootLogin yes\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}\nStrictModes no\n"
        f"Subsystem sftp {SFTP_SERVER}\nLogLevel ERROR\nMaxSessions 50\nMaxStartups 50\n"
        + (f"ForceCommand {force_command}\n" if force_command else "")
    )
    _privilege_separation_dir()
    proc = subprocess.Popen(
        [*prefix, SSHD, "-D", "-e", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_for_port(port, proc)
    known = tmp / "known_hosts"
    known.write_text(_known_hosts_line(port, host_pub))
    return SshServer("sshd", port, proc, known, tmp / "client_ed25519")


def start_board_sshd(layout: BoardLayout, tmp: Path) -> SshServer:
    """OpenSSH sshd inside an emulated board: root logs in with its empty password, like a
    debug-tweaks NXP image (the client key works too)."""
    from imxbench.emulator.launcher import run_in_board

    tmp.mkdir(parents=True, exist_ok=True)
    host_pub = keygen(tmp / "host_ed25519")
    client_pub = keygen(tmp / "client_ed25519")
    (tmp / "authorized_keys").write_text(client_pub + "\n")
    port = free_port()
    config = tmp / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp / 'host_ed25519'}\nPidFile none\n"
        "UsePAM no\nPermitRootLogin yes\nPermitEmptyPasswords yes\nPasswordAuthentication yes\n"
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}\nStrictModes no\nLogLevel ERROR\n"
        f"Subsystem sftp {SFTP_SERVER}\nMaxSessions 50\nMaxStartups 50\n"
    )
    _privilege_separation_dir()  # sshd refuses to start without it, in the board's view too
    proc = run_in_board(
        layout,
        [SSHD, "-D", "-e", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_for_port(port, proc)
    known = tmp / "known_hosts"
    known.write_text(_known_hosts_line(port, host_pub))
    return SshServer("board-sshd", port, proc, known, tmp / "client_ed25519")


def start_dropbear(tmp: Path) -> SshServer:
    """Dropbear with NO SFTP server (like L5.10 images), root login by key.

    It runs in a private mount namespace where /root/.ssh is a temporary folder (Dropbear only
    reads ~/.ssh/authorized_keys) and the sftp-server binaries are hidden.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    ssh_dir = tmp / "dot-ssh"
    ssh_dir.mkdir()
    client_pub = keygen(tmp / "client_ed25519")
    (ssh_dir / "authorized_keys").write_text(client_pub + "\n")
    ssh_dir.chmod(0o700)
    (ssh_dir / "authorized_keys").chmod(0o600)
    host_key = tmp / "dropbear_ed25519"
    subprocess.run(
        ["dropbearkey", "-t", "ed25519", "-f", str(host_key)], check=True, capture_output=True
    )
    out = subprocess.run(
        ["dropbearkey", "-y", "-f", str(host_key)], check=True, capture_output=True, text=True
    ).stdout
    host_pub = next(line for line in out.splitlines() if line.startswith("ssh-"))
    port = free_port()
    Path("/root/.ssh").mkdir(mode=0o700, exist_ok=True)
    hide = " ".join(
        f"mount --bind /dev/null {p};"
        for p in ("/usr/lib/sftp-server", SFTP_SERVER, "/usr/libexec/sftp-server")
        if Path(p).exists()
    )
    script = (
        f"mount --bind {ssh_dir} /root/.ssh && {hide} exec {DROPBEAR} -F -E -s -g "
        f"-p 127.0.0.1:{port} -r {host_key}"
    )
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_for_port(port, proc)
    known = tmp / "known_hosts"
    known.write_text(_known_hosts_line(port, host_pub))
    return SshServer("dropbear", port, proc, known, tmp / "client_ed25519")


def have(binary: str) -> bool:
    return Path(binary).exists() or shutil.which(binary) is not None


def _privilege_separation_dir() -> None:
    """OpenSSH's sshd needs /run/sshd (systemd makes it at boot; a fresh CI machine has none)."""
    with contextlib.suppress(PermissionError):  # not root: sshd then says what it misses
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

"""The transport against real servers: OpenSSH sshd (with SFTP) and Dropbear (without)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import paramiko
import pytest

from imxbench.board.deploy import content_name, deploy_file, file_sha256
from imxbench.board.transport import BoardSession
from imxbench.errors import ConnectError, HostKeyError, RemoteCommandError, RemoteTimeout
from tests.ssh_servers import SshServer, have

pytestmark = pytest.mark.skipif(
    not (have("/usr/sbin/sshd") and have("/usr/sbin/dropbear")),
    reason="needs Debian's openssh-server and dropbear-bin (.ci/run installs them)",
)


@pytest.fixture
def session(server: SshServer, tmp_path: Path) -> Iterator[BoardSession]:
    workdir = f"/tmp/imxbench-test-{uuid.uuid4().hex[:8]}"
    with BoardSession.connect(server.board(workdir=workdir)) as s:
        yield s
    subprocess.run(["rm", "-rf", workdir], check=False)


def test_run_returns_output_and_status(session: BoardSession) -> None:
    result = session.run("echo out; echo err >&2; exit 3", check=False)
    assert result.exit_status == 3
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"  # the process-group marker never reaches the caller


def test_failure_carries_board_command_status_and_stderr_tail(session: BoardSession) -> None:
    with pytest.raises(RemoteCommandError) as info:
        session.run(["sh", "-c", "echo boom >&2; exit 5"])
    assert info.value.exit_status == 5
    assert info.value.board == "testboard"
    assert "boom" in info.value.stderr_tail


HOSTILE = [
    "a b",
    "$(touch /tmp/pwned-imxbench)",
    "`id`",
    "x;y",
    "it's",
    'say "hi"',
    "new\nline",
    "*",
    "--flag",
    "\\back",
    "tab\there",
    "$HOME",
]


def test_every_argument_and_env_value_is_quoted(session: BoardSession) -> None:
    result = session.run(["printf", "%s\\0", *HOSTILE], env={"IMX_VAL": "$(id); `x` 'q'"})
    assert result.stdout.split(b"\0")[:-1] == [h.encode() for h in HOSTILE]
    env = session.run(["sh", "-c", 'printf %s "$IMX_VAL"'], env={"IMX_VAL": "$(id); `x` 'q'"})
    assert env.stdout == b"$(id); `x` 'q'"
    assert not Path("/tmp/pwned-imxbench").exists()


def test_stdin_is_streamed(session: BoardSession) -> None:
    data = os.urandom(3 * 1024 * 1024)
    result = session.run("sha256sum", stdin=data)
    assert result.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_output_is_streamed_to_callbacks(session: BoardSession) -> None:
    seen: list[bytes] = []
    session.run("for i in 1 2 3; do echo line$i; done", on_stdout=seen.append)
    assert b"".join(seen) == b"line1\nline2\nline3\n"


def _leftovers(tag: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", tag], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def test_timeout_kills_the_whole_process_group(session: BoardSession) -> None:
    tag = str(1000 + int(uuid.uuid4().int % 8000))
    started = time.monotonic()
    with pytest.raises(RemoteTimeout):
        # a child in the background and one in the foreground: both must die
        session.run(f"sleep {tag}.5 & sleep {tag}.25; echo never", timeout_s=1.0)
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 5
    while _leftovers(f"sleep {tag}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _leftovers(f"sleep {tag}") == []


def test_ctrl_c_kills_the_remote_process_group(session: BoardSession) -> None:
    tag = str(1000 + int(uuid.uuid4().int % 8000))
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), 2))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        session.run(f"sleep {tag}.75", timeout_s=60)
    deadline = time.monotonic() + 5
    while _leftovers(f"sleep {tag}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _leftovers(f"sleep {tag}") == []


def test_sftp_is_used_when_offered(sshd: SshServer, dropbear: SshServer) -> None:
    with BoardSession.connect(sshd.board()) as s:
        assert s.sftp() is not None
    with BoardSession.connect(dropbear.board()) as s:
        assert s.sftp() is None  # old Dropbear images: no SFTP subsystem


def test_deploy_is_content_addressed_and_skips_unchanged(
    session: BoardSession, tmp_path: Path
) -> None:
    local = tmp_path / "model.tflite"
    local.write_bytes(os.urandom(2_000_000))
    first = deploy_file(session, local, "models")
    assert first.transferred_bytes == 2_000_000
    assert first.remote.endswith(content_name(local, file_sha256(local)))
    assert Path(first.remote).read_bytes() == local.read_bytes()  # the server is this host
    again = deploy_file(session, local, "models")
    assert again.remote == first.remote and again.transferred_bytes == 0
    back = tmp_path / "back.bin"
    session.get(first.remote, back)
    assert back.read_bytes() == local.read_bytes()


def test_interrupted_upload_leaves_nothing_that_passes_as_complete(
    server: SshServer, tmp_path: Path
) -> None:
    workdir = f"/tmp/imxbench-test-{uuid.uuid4().hex[:8]}"
    local = tmp_path / "big.bin"
    local.write_bytes(os.urandom(40_000_000))
    session = BoardSession.connect(server.board(workdir=workdir))
    session.run(["mkdir", "-p", workdir])

    def cut_mid_upload() -> None:
        """Close the connection once 2 MB of the 40 have arrived (the board is this host)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):  # a part file may come and go
                if any(p.stat().st_size > 2_000_000 for p in Path(workdir).glob("*.part*")):
                    break
            time.sleep(0.002)
        session._transport.close()

    killer = threading.Thread(target=cut_mid_upload)
    killer.start()
    with pytest.raises(
        (ConnectError, RemoteCommandError, OSError, EOFError, paramiko.SSHException)
    ):
        deploy_file(session, local)
    killer.join()
    final = Path(workdir) / content_name(local, file_sha256(local))
    assert not final.exists()
    subprocess.run(["rm", "-rf", workdir], check=False)


def test_changed_host_key_is_refused(sshd: SshServer, tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kind, blob = Path(f"{other}.pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {kind} {blob}\n")
    with pytest.raises(HostKeyError, match="HOST KEY CHANGED"):
        BoardSession.connect(sshd.board(known_hosts=str(known)))


def test_unknown_host_key_is_refused_unless_accept_new(sshd: SshServer, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    with pytest.raises(HostKeyError, match="unknown host key"):
        BoardSession.connect(sshd.board(known_hosts=str(known)))
    assert not known.exists()
    board = sshd.board(known_hosts=str(known), host_key_policy="accept-new")
    BoardSession.connect(board).close()
    assert f"[127.0.0.1]:{sshd.port} ssh-ed25519" in known.read_text()
    BoardSession.connect(replace(board, host_key_policy="strict")).close()  # now known


def test_wrong_key_fails_authentication_without_retrying(sshd: SshServer, tmp_path: Path) -> None:
    other = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    from imxbench.config.inventory import AuthSpec

    started = time.monotonic()
    with pytest.raises(ConnectError, match="authentication"):
        BoardSession.connect(sshd.board(auth=AuthSpec(type="key", key_file=str(other))))
    assert time.monotonic() - started < 5


def test_unreachable_board_retries_then_fails(tmp_path: Path) -> None:
    from tests.ssh_servers import free_port

    board = SshServer("none", free_port(), None, tmp_path / "kh", tmp_path / "k")  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(ConnectError, match="cannot connect"):
        BoardSession.connect(board.board(), retries=2, backoff_s=0.1)
    assert 0.3 <= time.monotonic() - started < 5  # 0.1 + 0.2 s of backoff

"""Large, pipelined and out-of-order SFTP transfers through the emulator (issues 15 and 17).

Stock OpenSSH `scp` (SFTP mode) and `sftp -b`, and paramiko's client, move 50 MB of random bytes
to the emulated board and back; every copy is compared byte for byte (sha256). The handle class is
also driven directly with writes and reads in shuffled order from several threads, and the SSH
server's accepted sockets must have TCP_NODELAY set, as OpenSSH's sshd does.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from imxbench.emulator import sandbox
from imxbench.emulator.board_image import layout_for
from imxbench.emulator.launcher import RunningEmulator
from imxbench.emulator.sftp_files import BoardFile, BoardSftp
from imxbench.emulator.ssh_server import BoardSshServer
from imxbench.emulator.ssh_session import ByteBudget
from imxbench.errors import InfrastructureError
from tests.emulator_fixtures import (  # noqa: F401 (fixtures, used by name)
    SshTarget,
    fixture_imx8mp_board,
    run_sftp,
    run_ssh,
    ssh_options,
)

SIZE = 50 * 1024 * 1024 + 12_345  # not a multiple of any request size: a short last request
CHUNK = 32_768
TRANSFER_TIMEOUT_S = 300.0


def _why_no_emulator() -> str:
    if any(shutil.which(tool) is None for tool in ("ssh", "sftp", "scp")):
        return "needs the OpenSSH clients"
    try:
        sandbox.ensure_namespaces()
    except InfrastructureError as exc:
        return exc.message
    return ""


_NO_EMULATOR = _why_no_emulator()
needs_emulator = pytest.mark.skipif(bool(_NO_EMULATOR), reason=_NO_EMULATOR)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def board_sha256(board: SshTarget, path: str) -> str:
    done = run_ssh(board, f"sha256sum {path}", timeout_s=60)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().split()[0]


@pytest.fixture(scope="module", name="payload")
def fixture_payload(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """50 MB of random bytes on the host, and their sha256."""
    path = tmp_path_factory.mktemp("sftp") / "payload.bin"
    data = os.urandom(SIZE)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def run_scp(target: SshTarget, source: str, destination: str) -> subprocess.CompletedProcess[bytes]:
    """Stock `scp -s` (the SFTP protocol, the default of OpenSSH >= 9) to or from the board."""
    argv = ["scp", "-s", *ssh_options(target), "-P", str(target.port), source, destination]
    return subprocess.run(
        argv, capture_output=True, timeout=TRANSFER_TIMEOUT_S, stdin=subprocess.DEVNULL
    )


@pytest.mark.emulator
@needs_emulator
def test_stock_scp_sftp_mode_50mb_upload_and_download(
    imx8mp_board: RunningEmulator, payload: tuple[Path, str], tmp_path: Path
) -> None:
    local, digest = payload
    remote = "imxbench/scp-big.bin"
    target = f"root@{imx8mp_board.host}:{remote}"
    up = run_scp(imx8mp_board, str(local), target)  # in place, then fsetstat(size)
    uploaded = board_sha256(imx8mp_board, remote)
    assert (up.returncode, uploaded) == (0, digest), up.stderr.decode()
    fetched = tmp_path / "scp-fetched.bin"
    down = run_scp(imx8mp_board, target, str(fetched))
    assert down.returncode == 0, down.stderr.decode()
    assert fetched.stat().st_size == SIZE
    assert sha256_file(fetched) == digest


@pytest.mark.emulator
@needs_emulator
def test_stock_sftp_batch_50mb_put_and_get(
    imx8mp_board: RunningEmulator, payload: tuple[Path, str], tmp_path: Path
) -> None:
    local, digest = payload
    remote = "/home/root/imxbench/sftp-big.bin"
    fetched = tmp_path / "sftp-fetched.bin"
    done = run_sftp(
        imx8mp_board,
        [f"put {local} {remote}", f"get {remote} {fetched}"],
        timeout_s=TRANSFER_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert board_sha256(imx8mp_board, remote) == digest
    assert sha256_file(fetched) == digest


@pytest.fixture(name="sftp")
def fixture_sftp(imx8mp_board: RunningEmulator) -> Iterator[paramiko.SFTPClient]:
    transport = paramiko.Transport((imx8mp_board.host, imx8mp_board.port))
    transport.connect()
    transport.auth_none("root")
    client = paramiko.SFTPClient.from_transport(transport)
    assert client is not None
    yield client
    client.close()
    transport.close()


@pytest.mark.emulator
@needs_emulator
def test_paramiko_put_and_get_50mb(
    imx8mp_board: RunningEmulator,
    sftp: paramiko.SFTPClient,
    payload: tuple[Path, str],
    tmp_path: Path,
) -> None:
    local, digest = payload
    remote = "imxbench/paramiko-big.bin"
    attrs = sftp.put(str(local), remote)  # pipelined writes, then a stat (confirm)
    assert attrs.st_size == SIZE
    assert board_sha256(imx8mp_board, remote) == digest
    fetched = tmp_path / "paramiko-fetched.bin"
    sftp.get(remote, str(fetched))  # prefetch: every read request in flight at once
    assert sha256_file(fetched) == digest


@pytest.mark.emulator
@needs_emulator
def test_out_of_order_pipelined_writes_and_reads(
    imx8mp_board: RunningEmulator, sftp: paramiko.SFTPClient
) -> None:
    """Each SSH_FXP_WRITE/READ carries its own offset: requests in any order land right."""
    size = 4 * 1024 * 1024 + 777
    data = os.urandom(size)
    offsets = list(range(0, size, CHUNK))
    random.Random(15).shuffle(offsets)
    remote = "imxbench/shuffled.bin"
    with sftp.open(remote, "w", bufsize=0) as f:
        f.set_pipelined(True)  # no waiting for a reply before the next request
        for offset in offsets:
            f.seek(offset)
            f.write(data[offset : offset + CHUNK])
    assert board_sha256(imx8mp_board, remote) == hashlib.sha256(data).hexdigest()
    with sftp.open(remote, "r") as f:
        pieces = list(f.readv([(offset, CHUNK) for offset in offsets]))
    assert all(
        bytes(piece) == data[offset : offset + CHUNK]
        for offset, piece in zip(offsets, pieces, strict=True)
    )


@pytest.mark.emulator
@needs_emulator
def test_truncate_by_handle_and_by_path_keeps_the_data(
    imx8mp_board: RunningEmulator, sftp: paramiko.SFTPClient
) -> None:
    """SSH_FXP_FSETSTAT / SSH_FXP_SETSTAT with a size: ftruncate, the data before it kept."""
    data = os.urandom(3 * CHUNK + 5)
    remote = "imxbench/truncated.bin"
    with sftp.open(remote, "w") as f:
        f.write(data)
        f.truncate(len(data))  # what scp (SFTP mode, in place) sends after the last write
        f.truncate(2 * CHUNK)
    assert board_sha256(imx8mp_board, remote) == hashlib.sha256(data[: 2 * CHUNK]).hexdigest()
    sftp.truncate(remote, CHUNK + 1)
    with sftp.open(remote, "r") as f:
        assert f.read() == data[: CHUNK + 1]
    sftp.truncate(remote, 2 * CHUNK)  # extends with zeros
    with sftp.open(remote, "r") as f:
        assert f.read() == data[: CHUNK + 1] + bytes(CHUNK - 1)


def test_board_file_writes_and_reads_at_their_own_offsets(tmp_path: Path) -> None:
    """The handle class itself: shuffled writes and reads from 4 threads, no shared position."""
    size = 2 * 1024 * 1024 + 99
    data = os.urandom(size)
    offsets = list(range(0, size, 4096))
    random.Random(17).shuffle(offsets)
    path = tmp_path / "f.bin"
    budget = ByteBudget(None, lambda: None)
    flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC
    handle = BoardSftp(paramiko.ServerInterface(), budget).open(
        str(path), flags, paramiko.SFTPAttributes()
    )
    assert isinstance(handle, BoardFile)

    def run(part: int, action: str) -> None:
        for offset in offsets[part::4]:
            if action == "write":
                assert handle.write(offset, data[offset : offset + 4096]) == paramiko.sftp.SFTP_OK
            else:
                assert handle.read(offset, 4096) == data[offset : offset + 4096]

    for action in ("write", "read"):
        threads = [threading.Thread(target=run, args=(n, action)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert path.read_bytes() == data
    assert handle.read(size, 10) == b""  # end of file
    handle.close()


def test_accepted_sockets_have_tcp_nodelay(tmp_path: Path) -> None:
    """Like sshd: no Nagle delay on the server's small packets (exit status, channel close)."""
    layout = layout_for("imx8mp", tmp_path / "state")
    layout.root.mkdir()
    server = BoardSshServer(layout, "127.0.0.1", 0)
    serving = threading.Thread(target=server.serve_one, daemon=True)
    serving.start()
    transport = paramiko.Transport(("127.0.0.1", server.port))
    try:
        transport.connect()
        transport.auth_none("root")
        serving.join(timeout=10)
        accepted = [t.sock for t in server.transports]
        assert len(accepted) == 1
        sock = accepted[0]
        assert isinstance(sock, socket.socket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        transport.close()
        server.close()

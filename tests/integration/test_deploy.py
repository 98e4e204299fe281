"""Uploads (board/deploy.py) against real servers: OpenSSH sshd and Dropbear (no SFTP).

The board is this host, so the tests look at the landed files directly.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from imxbench.board.deploy import CHECK_FAILED, Upload, deploy_file, upload_checked, upload_script
from imxbench.board.transport import BoardSession, CommandResult
from imxbench.errors import InfrastructureError
from tests.ssh_servers import SshServer, have

pytestmark = pytest.mark.skipif(
    not (have("/usr/sbin/sshd") and have("/usr/sbin/dropbear")),
    reason="needs Debian's openssh-server and dropbear-bin (.ci/run installs them)",
)


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(f"/tmp/imxbench-test-{uuid.uuid4().hex[:8]}")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def session(server: SshServer, workdir: Path) -> Iterator[BoardSession]:
    with BoardSession.connect(server.board(workdir=str(workdir))) as s:
        yield s


def _upload(workdir: Path, local: Path, **changes: object) -> Upload:
    upload = Upload(local, str(workdir), str(workdir / f".{local.name}.part-test"), 0)
    return replace(upload, **{"size_bytes": local.stat().st_size, **changes})  # type: ignore[arg-type]


def _landed(workdir: Path) -> list[str]:
    return sorted(p.name for p in workdir.iterdir()) if workdir.exists() else []


def test_a_stream_whose_sha256_differs_is_refused_and_removed(
    session: BoardSession, workdir: Path, tmp_path: Path
) -> None:
    local = tmp_path / "model.tflite"
    local.write_bytes(os.urandom(300_000))
    with pytest.raises(InfrastructureError, match=r"upload of model.tflite corrupted: sha256 "):
        upload_checked(session, _upload(workdir, local), sha256="0" * 64)  # changed on the way
    assert _landed(workdir) == []  # neither the .part file nor the final name


def test_a_short_stream_is_refused_and_removed(
    session: BoardSession, workdir: Path, tmp_path: Path
) -> None:
    local = tmp_path / "model.tflite"
    local.write_bytes(os.urandom(300_000))
    upload = _upload(workdir, local, size_bytes=300_001)  # one byte never arrives
    with pytest.raises(InfrastructureError, match=r"incomplete \(300000/300001 bytes\)"):
        upload_checked(session, upload)
    assert _landed(workdir) == []


@pytest.mark.parametrize("hasher", ["openssl", "sha256sum", None])
def test_the_board_checks_with_the_hash_tool_it_has(
    session: BoardSession, workdir: Path, tmp_path: Path, hasher: str | None
) -> None:
    tools = tmp_path / "bin"  # a PATH with what the script needs and one hash tool, or none
    tools.mkdir()
    for tool in ("mkdir", "tee", "cat", "wc", "tr", "mv", "rm", *([hasher] if hasher else [])):
        found = shutil.which(tool)
        assert found is not None
        (tools / tool).symlink_to(found)
    local = tmp_path / "model.tflite"
    data = os.urandom(100_000)
    local.write_bytes(data)
    script = f"PATH={tools}; export PATH; {upload_script(_upload(workdir, local))}"
    sha = hashlib.sha256(data).hexdigest()

    def send(announced: str, payload: bytes) -> CommandResult:
        header = f"{announced} {announced[:16]}\n".encode()
        return session.run(script, stdin=header + payload, check=False)

    assert send(sha, data).stdout == b"send\n"
    landed = workdir / f"model-{sha[:16]}.tflite"
    assert landed.read_bytes() == data
    assert send(sha, data).stdout == b"have\n"  # there already: nothing more is read
    landed.unlink()
    short = send(sha, data[:-1])
    assert short.exit_status == 1 and f"{CHECK_FAILED} 99999 " in short.stdout_text
    wrong = "0" * 64  # as if the bytes had changed on the way
    if hasher is None:  # the size alone is checked
        assert send(wrong, data).exit_status == 0
        assert _landed(workdir) == [f"model-{wrong[:16]}.tflite"]
    else:
        corrupted = send(wrong, data)
        assert corrupted.exit_status == 1
        assert f"{CHECK_FAILED} 100000 {sha}" in corrupted.stdout_text
        assert _landed(workdir) == []  # the .part files are gone


def test_hostile_names_land_as_given(session: BoardSession, workdir: Path, tmp_path: Path) -> None:
    local = tmp_path / "it's a $(echo x) `id`;x.tflite"
    local.write_bytes(os.urandom(50_000))
    deployed = deploy_file(session, local, "sub dir $(id)")
    assert Path(deployed.remote).read_bytes() == local.read_bytes()
    assert Path(deployed.remote).name.startswith("it's a $(echo x) `id`;x-")  # not expanded
    assert Path(deployed.remote).parent == workdir / "sub dir $(id)"
    assert _landed(workdir) == ["sub dir $(id)"]


def test_ctrl_c_mid_upload_leaves_no_part_file(
    session: BoardSession, workdir: Path, tmp_path: Path
) -> None:
    local = tmp_path / "big.bin"
    local.write_bytes(os.urandom(40_000_000))
    seen = threading.Event()

    def ctrl_c_mid_upload() -> None:
        """SIGINT once 2 MB of the 40 have arrived (the board is this host)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):  # a part file may come and go
                if any(p.stat().st_size > 2_000_000 for p in workdir.glob(".*.part-*")):
                    seen.set()
                    break
            time.sleep(0.002)
        os.kill(os.getpid(), signal.SIGINT)

    watcher = threading.Thread(target=ctrl_c_mid_upload)
    watcher.start()
    with pytest.raises(KeyboardInterrupt):
        deploy_file(session, local)
        time.sleep(5)  # finished before the signal (a very fast machine): let it land here
    watcher.join()
    assert seen.is_set(), "the upload finished before 2 MB were seen on the board"
    deadline = time.monotonic() + 5
    while _landed(workdir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _landed(workdir) == []
    assert _board_processes(f"tee {workdir}") == []  # killed with its process group
    assert session.run("echo still usable").stdout == b"still usable\n"


def _board_processes(tag: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", tag], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]

"""Content-addressed, atomic uploads into the board's workdir.

A file lands as `<workdir>/<subdir>/<stem>-<sha256[:16]><suffix>`. It is written under a
temporary `.part` name and renamed only once its size has been checked on the board, so a
dropped connection never leaves a partial file under a name that passes as complete; and a
file whose name already exists is not sent again (the name says what the content is).
"""

from __future__ import annotations

import posixpath
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path

from imxbench.board.ssh_import import paramiko
from imxbench.board.transport import BoardSession
from imxbench.errors import InfrastructureError
from imxbench.rundir.atomic import file_sha256

HASH_CHARS = 16


@dataclass(frozen=True)
class Deployed:
    local: Path
    remote: str
    sha256: str
    size_bytes: int
    transferred_bytes: int


def content_name(path: Path, sha256: str) -> str:
    return f"{path.stem}-{sha256[:HASH_CHARS]}{path.suffix}"


def deploy_file(session: BoardSession, local: Path, subdir: str = "") -> Deployed:
    """Upload `local` into the workdir unless the same content is already there."""
    sha = file_sha256(local)
    size = local.stat().st_size
    folder = posixpath.join(session.board.workdir, subdir) if subdir else session.board.workdir
    remote = posixpath.join(folder, content_name(local, sha))
    if _remote_size(session, remote) == size:
        return Deployed(local, remote, sha, size, 0)
    part = posixpath.join(folder, f".{content_name(local, sha)}.part-{secrets.token_hex(4)}")
    session.run(["mkdir", "-p", folder], timeout_s=30)
    try:
        _upload_checked(session, local, part, remote, size)
    except BaseException:
        _remove_quietly(session, part)
        raise
    return Deployed(local, remote, sha, size, size)


def _upload_checked(session: BoardSession, local: Path, part: str, remote: str, size: int) -> None:
    sftp = session.sftp()
    if sftp is not None:
        sftp.put(str(local), part, confirm=False)
        written = sftp.stat(part).st_size
        if written != size:
            raise InfrastructureError(
                f"{session.board.name}: upload of {local.name} incomplete ({written}/{size} bytes)"
            )
        sftp.posix_rename(part, remote)
        return
    # No SFTP (old Dropbear images): stream over an exec channel; the size test guards the
    # rename, so a connection dropped mid-stream leaves only the .part file behind.
    q_part, q_remote = shlex.quote(part), shlex.quote(remote)
    script = (
        f'cat > {q_part} && [ "$(wc -c < {q_part} | tr -d " ")" = "{size}" ] '
        f"&& mv -f {q_part} {q_remote}"
    )
    with local.open("rb") as fh:
        session.run(script, stdin=fh, timeout_s=max(60.0, size / 1e6))


def _remote_size(session: BoardSession, remote: str) -> int | None:
    sftp = session.sftp()
    if sftp is not None:
        try:
            return sftp.stat(remote).st_size
        except OSError:
            return None
    result = session.run(
        f"wc -c < {shlex.quote(remote)} 2>/dev/null || true", timeout_s=30, check=False
    )
    text = result.stdout_text.strip()
    return int(text) if text.isdigit() else None


def _remove_quietly(session: BoardSession, remote: str) -> None:
    try:
        if session.is_alive:
            session.run(["rm", "-f", remote], timeout_s=15, check=False)
    except (InfrastructureError, paramiko.SSHException, OSError):
        pass


def deploy_bytes(session: BoardSession, data: bytes, remote: str) -> None:
    """Write small content (e.g. a provenance note) to an exact path, atomically."""
    part = f"{remote}.part-{secrets.token_hex(4)}"
    q_part, q_remote = shlex.quote(part), shlex.quote(remote)
    session.run(
        f'mkdir -p "$(dirname {q_remote})" && cat > {q_part} && mv -f {q_part} {q_remote}',
        stdin=data,
        timeout_s=60,
    )

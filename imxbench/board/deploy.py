"""Content-addressed, atomic uploads into the board's workdir.

A file lands as `<workdir>/<subdir>/<stem>-<sha256[:16]><suffix>`. It is streamed over an exec
channel into a temporary `.part` name and renamed only once the board has checked its size and
sha256, so a dropped connection, a Ctrl-C or a corrupted stream never leaves a partial file
under a name that passes as complete; and a file whose name already exists is not sent again
(the name says what the content is).
"""

from __future__ import annotations

import posixpath
import secrets
import shlex
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from imxbench.board.ssh_import import paramiko
from imxbench.board.transport import STDERR_TAIL_CHARS, BoardSession
from imxbench.errors import InfrastructureError, RemoteCommandError
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
    size = local.stat().st_size
    folder = posixpath.join(session.board.workdir, subdir) if subdir else session.board.workdir
    part = posixpath.join(folder, f".{local.name}.part-{secrets.token_hex(4)}")
    try:
        sha, sent = upload_checked(session, Upload(local, folder, part, size))
    except BaseException:
        _remove_quietly(session, part)
        raise
    remote = posixpath.join(folder, content_name(local, sha))
    return Deployed(local, remote, sha, size, size if sent else 0)


@dataclass(frozen=True)
class Upload:
    local: Path
    folder: str
    part: str
    """The temporary name on the board (in `folder`), renamed once checked."""
    size_bytes: int


CHECK_FAILED = "imxbench-upload-check:"
"""What the upload script prints, then the size and sha256 it found, when its check fails."""


def upload_script(upload: Upload) -> str:
    """The board's side of an upload, in one command (one channel, one shell: each costs a
    round trip and the start of a login shell, which `scp` also pays once).

    It first reads a line `SHA256 SHA256[:16]`: the host hashes the file (whose sha256 names
    it) while the board starts this command. Its first line out is then `have` (the final
    name exists with the right size: exit, nothing more is read) or `send`. The bytes that
    follow on stdin go into the .part file, which must then have the size sent and the
    announced sha256 to be renamed; else it is removed and CHECK_FAILED printed (exit 1).
    The sha256: `openssl dgst` of the file written, where there is one (~5x faster than
    `sha256sum`: it uses the CPU's SHA instructions, ARMv8 ones too); else `sha256sum` of the
    stream, through `tee` as it arrives (so that a slow hash overlaps the transfer); else none
    (the size alone is checked). A dropped connection or a Ctrl-C ends the stream early: the
    size check fails.
    """
    local, size = upload.local, upload.size_bytes
    folder, part = shlex.quote(upload.folder), shlex.quote(upload.part)
    named = posixpath.join(upload.folder, f"{local.stem}-")  # + sha256[:16] + suffix
    remote = f'{shlex.quote(named)}"$short"{shlex.quote(local.suffix)}'
    return (
        f"read -r sha short || exit 1; r={remote}; "
        f'if [ -f "$r" ] && [ "$(wc -c < "$r" | tr -d \' \')" = {size} ]; '
        f"then echo have; exit 0; fi; mkdir -p {folder} || exit; echo send; "
        "if command -v openssl >/dev/null 2>&1; "
        f"then cat > {part}; sum=$(openssl dgst -sha256 -r < {part}); "
        f"elif command -v sha256sum >/dev/null 2>&1; then sum=$(tee {part} | sha256sum); "
        f"else cat > {part}; sum=unchecked; fi; sum=${{sum%% *}}; "
        f"got=$(wc -c < {part} | tr -d ' '); "
        f'if [ "$got" = {size} ] && {{ [ "$sum" = "$sha" ] || [ "$sum" = unchecked ]; }} '
        f'&& mv -f {part} "$r"; then exit 0; fi; '
        f'rm -f {part}; echo "{CHECK_FAILED} ${{got:-0}} ${{sum:--}}"; exit 1'
    )


def upload_checked(
    session: BoardSession, upload: Upload, sha256: str | None = None
) -> tuple[str, bool]:
    """Stream a file to the board over an exec channel, checked and renamed there
    (`upload_script`), unless it is there already; returns its sha256 (`sha256`: as given,
    else computed) and whether it was sent.

    An exec channel, not SFTP: no request/acknowledge protocol, half the SSH packets (an SFTP
    write of 32 KiB does not fit one 32 KiB channel packet) and servers without SFTP alike."""
    with upload.local.open("rb") as fh:
        stdin = _UploadStdin(upload.local, fh, sha256)
        try:
            result = session.run(
                upload_script(upload),
                stdin=cast(BinaryIO, stdin),  # read() is all that run() uses of it
                on_stdout=stdin.on_stdout,
                timeout_s=max(60.0, upload.size_bytes / 1e6),
                check=False,
            )
        finally:
            stdin.close()
    if stdin.error is not None:
        raise stdin.error
    assert stdin.sha256 is not None  # computed by the first read()
    if result.exit_status == 0:
        return stdin.sha256, stdin.send
    name, board = upload.local.name, session.board.name
    found = result.stdout_text.partition(CHECK_FAILED)[2].split()
    if len(found) == 2:
        got, sha = found
        if got != str(upload.size_bytes):
            raise InfrastructureError(
                f"{board}: upload of {name} incomplete ({got}/{upload.size_bytes} bytes)"
            )
        raise InfrastructureError(
            f"{board}: upload of {name} corrupted: sha256 {sha[:16]}... on the board, "
            f"{stdin.sha256[:16]}... here"
        )
    raise RemoteCommandError(
        board,
        result.command,
        result.exit_status,
        result.stderr_text[-STDERR_TAIL_CHARS:].strip(),
        f"{board}: upload of {name} to {upload.folder} failed (exit status {result.exit_status})",
    )


class _UploadStdin:
    """An upload's stdin, read by run()'s feeder thread: first the line with the file's
    sha256, hashed on the first read (while the board starts the command); then nothing
    until the board's first line says `send`, and the file; end of file at once if the board
    says anything else (`have`) or the command ends first (`close`)."""

    def __init__(self, local: Path, stream: BinaryIO, sha256: str | None) -> None:
        self._local = local
        self._stream = stream
        self.sha256 = sha256
        self.error: Exception | None = None
        self._announced = False
        self._first_line = bytearray()
        self._decided = threading.Event()
        self.send = False

    def on_stdout(self, data: bytes) -> None:
        if not self._decided.is_set():
            self._first_line += data
            if b"\n" in self._first_line:
                self.send = self._first_line.startswith(b"send\n")
                self._decided.set()

    def read(self, size: int = -1) -> bytes:
        if not self._announced:
            self._announced = True
            try:
                if self.sha256 is None:
                    self.sha256 = file_sha256(self._local)
            except Exception as exc:  # raised by upload_checked once the command has ended
                self.error = exc
                return b""
            return f"{self.sha256} {self.sha256[:HASH_CHARS]}\n".encode()
        self._decided.wait()
        return self._stream.read(size) if self.send else b""

    def close(self) -> None:
        self._decided.set()


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

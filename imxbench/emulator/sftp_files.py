"""The emulator's SFTP subsystem: paramiko's SFTPServer over the board's real filesystem.

Paths are the board's own (the server runs inside the board's mount namespace); relative paths
are relative to /home/root, as with OpenSSH's sftp-server started in the user's home.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, Any

import paramiko
from paramiko.sftp import SFTP_FAILURE, SFTP_OK

from imxbench.emulator.socs import BOARD_HOME
from imxbench.emulator.ssh_session import ByteBudget

if TYPE_CHECKING:
    from typing_extensions import Buffer

Attributes = paramiko.SFTPAttributes


def _errno(exc: OSError) -> int:
    return int(paramiko.SFTPServer.convert_errno(exc.errno or errno.EIO))


def _mode(attr: Attributes | None, default: int) -> int:
    if attr is None or attr.st_mode is None:
        return default
    return attr.st_mode & 0o7777


def _fdopen_mode(flags: int) -> str:
    if flags & os.O_WRONLY:
        return "ab" if flags & os.O_APPEND else "wb"
    if flags & os.O_RDWR:
        return "a+b" if flags & os.O_APPEND else "r+b"
    return "rb"


class BoardFile(paramiko.SFTPHandle):
    """An open file; writes count against the channel's byte budget (a connection-drop fault)."""

    def __init__(self, flags: int, path: str, fileobj: Any, budget: ByteBudget) -> None:
        super().__init__(flags)
        self.path = path
        self.readfile = fileobj
        self.writefile = fileobj
        self._budget = budget

    def write(self, offset: int, data: Buffer) -> int:
        view = memoryview(data)
        allowed = self._budget.take(view.nbytes)
        result: int = super().write(offset, view[:allowed].tobytes())
        return result if allowed == view.nbytes else SFTP_FAILURE

    def stat(self) -> Attributes | int:
        try:
            return Attributes.from_stat(os.fstat(self.readfile.fileno()))
        except OSError as exc:
            return _errno(exc)

    def chattr(self, attr: Attributes) -> int:
        try:
            paramiko.SFTPServer.set_file_attr(self.path, attr)
        except OSError as exc:
            return _errno(exc)
        return SFTP_OK


class BoardSftp(paramiko.SFTPServerInterface):
    """SFTPServerInterface over real paths. One instance per SFTP channel."""

    def __init__(self, server: paramiko.ServerInterface, budget: ByteBudget) -> None:
        super().__init__(server)
        self._budget = budget

    @staticmethod
    def _real(path: str) -> str:
        return os.path.join(BOARD_HOME, path or ".")

    def canonicalize(self, path: str) -> str:
        return os.path.realpath(self._real(path))

    def open(self, path: str, flags: int, attr: Attributes) -> BoardFile | int:
        """Like OpenSSH's sftp-server: only the permissions of `attr` are used (with umask)."""
        real = self._real(path)
        try:
            fd = os.open(real, flags | os.O_CLOEXEC, _mode(attr, 0o666))
        except OSError as exc:
            return _errno(exc)
        return BoardFile(flags, real, os.fdopen(fd, _fdopen_mode(flags)), self._budget)

    def list_folder(self, path: str) -> list[Attributes] | int:
        real = self._real(path)
        try:
            entries = []
            for name in os.listdir(real):
                entries.append(Attributes.from_stat(os.lstat(os.path.join(real, name)), name))
        except OSError as exc:
            return _errno(exc)
        return entries

    def stat(self, path: str) -> Attributes | int:
        try:
            return Attributes.from_stat(os.stat(self._real(path)))
        except OSError as exc:
            return _errno(exc)

    def lstat(self, path: str) -> Attributes | int:
        try:
            return Attributes.from_stat(os.lstat(self._real(path)))
        except OSError as exc:
            return _errno(exc)

    def remove(self, path: str) -> int:
        return self._call(os.remove, self._real(path))

    def rename(self, oldpath: str, newpath: str) -> int:
        """SFTP v3 rename: refuses to replace an existing file (posix_rename does)."""
        if os.path.lexists(self._real(newpath)):
            return SFTP_FAILURE
        return self._call(os.rename, self._real(oldpath), self._real(newpath))

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        return self._call(os.rename, self._real(oldpath), self._real(newpath))

    def mkdir(self, path: str, attr: Attributes) -> int:
        return self._call(os.mkdir, self._real(path), _mode(attr, 0o777))

    def rmdir(self, path: str) -> int:
        return self._call(os.rmdir, self._real(path))

    def chattr(self, path: str, attr: Attributes) -> int:
        return self._call(paramiko.SFTPServer.set_file_attr, self._real(path), attr)

    def readlink(self, path: str) -> str | int:
        try:
            return os.readlink(self._real(path))
        except OSError as exc:
            return _errno(exc)

    def symlink(self, target_path: str, path: str) -> int:
        return self._call(os.symlink, target_path, self._real(path))

    @staticmethod
    def _call(action: Any, *args: Any) -> int:
        try:
            action(*args)
        except OSError as exc:
            return _errno(exc)
        return SFTP_OK

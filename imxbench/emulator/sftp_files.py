"""The emulator's SFTP subsystem: paramiko's SFTPServer over the board's real filesystem.

Paths are the board's own (the server runs inside the board's mount namespace); relative paths
are relative to /home/root, as with OpenSSH's sftp-server started in the user's home.

Like OpenSSH's sftp-server, every SSH_FXP_READ/WRITE goes to its own offset (pread/pwrite on the
descriptor: no file object, no buffer, no remembered position), so pipelined requests may come
in any order. SETSTAT/FSETSTAT with a size truncate (paramiko's `set_file_attr` would reopen the
file with "w+", emptying it first: the zeroed uploads of scp, which sets the size after writing in
place). The channel ends with exit status 0, as sshd reports sftp-server's exit.
"""

from __future__ import annotations

import contextlib
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

# What one SSH_FXP_READ returns at most, as OpenSSH's sftp-server (a short read is allowed).
MAX_READ = 256 * 1024 - 1024


def _errno(exc: OSError) -> int:
    return int(paramiko.SFTPServer.convert_errno(exc.errno or errno.EIO))


def _mode(attr: Attributes | None, default: int) -> int:
    if attr is None or attr.st_mode is None:
        return default
    return attr.st_mode & 0o7777


def set_attributes(target: int | str, attr: Attributes) -> None:
    """SETSTAT (a path) or FSETSTAT (a descriptor) as sftp-server: size, mode, times, owner.

    Only the fields the client sent are set (paramiko leaves the others None).
    """
    if attr.st_size is not None:
        os.truncate(target, attr.st_size)
    if attr.st_mode is not None:
        os.chmod(target, attr.st_mode & 0o7777)
    if attr.st_atime is not None and attr.st_mtime is not None:
        os.utime(target, (attr.st_atime, attr.st_mtime))
    if attr.st_uid is not None and attr.st_gid is not None:
        os.chown(target, attr.st_uid, attr.st_gid)


class BoardFile(paramiko.SFTPHandle):
    """An open file: reads and writes at each request's own offset (pread/pwrite), so requests
    may arrive pipelined, in any order, from any thread. Writes count against the channel's byte
    budget (a connection-drop fault).
    """

    def __init__(self, flags: int, path: str, fd: int, budget: ByteBudget) -> None:
        super().__init__(flags)
        self.path = path
        self.fd = fd
        self._append = bool(flags & os.O_APPEND)  # O_APPEND: the kernel writes at the end
        self._budget = budget
        self._closed = False

    def read(self, offset: int, length: int) -> bytes | int:
        try:
            return os.pread(self.fd, min(length, MAX_READ), offset)
        except OSError as exc:
            return _errno(exc)

    def write(self, offset: int, data: Buffer) -> int:
        view = memoryview(data).cast("B")
        allowed = self._budget.take(view.nbytes)
        try:
            self._write_all(offset, view[:allowed])
        except OSError as exc:
            return _errno(exc)
        return SFTP_OK if allowed == view.nbytes else SFTP_FAILURE

    def _write_all(self, offset: int, view: memoryview) -> None:
        while view.nbytes:
            fd = self.fd
            written = os.write(fd, view) if self._append else os.pwrite(fd, view, offset)
            view = view[written:]
            offset += written

    def stat(self) -> Attributes | int:
        try:
            return Attributes.from_stat(os.fstat(self.fd))
        except OSError as exc:
            return _errno(exc)

    def chattr(self, attr: Attributes) -> int:
        try:
            set_attributes(self.fd, attr)
        except OSError as exc:
            return _errno(exc)
        return SFTP_OK

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self.fd)


class BoardSftpServer(paramiko.SFTPServer):
    """paramiko's SFTP server, ending its channel as sshd ends sftp-server's: exit status 0 first.

    Without it `ssh` exits 255 ("Exit status -1") and `scp` in SFTP mode reports a failure.
    """

    def finish_subsystem(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                self.sock.send_exit_status(0)
        super().finish_subsystem()


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
        return BoardFile(flags, real, fd, self._budget)

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
        return self._call(set_attributes, self._real(path), attr)

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

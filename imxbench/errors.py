"""The one error hierarchy. Library code raises these; only cli.py prints and exits."""

from __future__ import annotations


class ImxbenchError(Exception):
    """A user-facing failure: `message` is one line, `hint` an optional second line."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(ImxbenchError):
    """Bad input: a file, key or value the user supplied is wrong (exit 2)."""


class InfrastructureError(ImxbenchError):
    """The lab failed us: unreachable board, dropped connection, missing tool (exit 3)."""

    exit_code = 3


class ConnectError(InfrastructureError):
    """Could not open or keep an SSH connection to a board."""


class HostKeyError(ConnectError):
    """The board's host key is unknown or changed; refused by policy."""


class RemoteCommandError(InfrastructureError):
    """A remote command failed: carries board, command, exit status and the stderr tail."""

    def __init__(
        self,
        board: str,
        command: str,
        exit_status: int | None,
        stderr_tail: str,
        message: str | None = None,
    ) -> None:
        status = "timed out" if exit_status is None else f"exit status {exit_status}"
        super().__init__(message or f"{board}: `{command}` failed ({status})", stderr_tail or None)
        self.board = board
        self.command = command
        self.exit_status = exit_status
        self.stderr_tail = stderr_tail


class RemoteTimeout(RemoteCommandError):
    """A remote command outlived its timeout; its process group was killed."""

"""One board's connection for a job: re-opened with backoff when it drops, in every phase
(`Connection.retrying`), and cancelled from the main thread on Ctrl-C/SIGTERM (`CancelToken`,
which kills the remote process groups of the steps in flight). A model matrix hands each
board's connection from one model's job to the next (`BoardSessions`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from imxbench.board.ssh_import import paramiko
from imxbench.board.transport import BoardSession
from imxbench.config.inventory import Board
from imxbench.errors import ConnectError, InfrastructureError

RECONNECT_TRIES = 4
BOARD_SIDE_ERRORS = (OSError, EOFError, paramiko.SSHException)
"""What paramiko raises when a connection or an SFTP request fails."""
T = TypeVar("T")


class PhaseFailed(InfrastructureError):
    """A phase after the benchmark cells (the accuracy evaluation) failed as a whole: the phase
    is marked failed and the run partial; what had finished is kept."""

    def __init__(self, phase: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.phase = phase


class Cancelled(Exception):
    """The job was interrupted (Ctrl-C, SIGTERM): stop after the step in flight."""


class CancelToken:
    """Shared by a job's board threads: `cancel()` (from the main thread, on Ctrl-C or SIGTERM)
    stops every board after killing the remote process groups of the steps in flight."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._sessions: set[BoardSession] = set()
        self._lock = threading.Lock()

    def is_set(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        self._event.set()
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.interrupt()

    def watch(self, session: BoardSession | None, old: BoardSession | None = None) -> None:
        with self._lock:
            self._sessions.discard(old)  # type: ignore[arg-type]
            if session is not None:
                self._sessions.add(session)


class Connection:
    """The session to one board, re-opened with backoff when the connection drops (a board
    reboot, a flaky link). `session`: an open one to go on with (`reused`) instead of
    connecting anew (BoardSessions)."""

    def __init__(
        self, target: Board, cancel: CancelToken, session: BoardSession | None = None
    ) -> None:
        self.target = target
        self.cancel = cancel
        self.reused = session is not None
        self.session = session if session is not None else BoardSession.connect(target)
        cancel.watch(self.session)
        self.reconnects = 0

    def reconnect(self) -> None:
        old = self.session
        old.close()
        self.session = BoardSession.connect(self.target, retries=RECONNECT_TRIES, backoff_s=1.0)
        self.cancel.watch(self.session, old)
        self.reconnects += 1

    def retrying(self, what: str, work: Callable[[BoardSession], T]) -> T:
        """`work(session)`; when the connection drops, reconnect (with backoff) and do it again,
        once. `what` names the work in the error when the board stays away. Cancelled when the
        job is being cancelled: a failure then is the cancel's doing."""
        board = self.target.name
        try:
            return work(self.session)
        except (ConnectError, *BOARD_SIDE_ERRORS) as exc:
            if self.cancel.is_set():
                raise Cancelled() from None
            if self.session.is_alive and not isinstance(exc, ConnectError):
                raise  # not the connection: the caller's to judge (e.g. an SFTP "disk full")
            lost = exc
        try:
            self.reconnect()
        except ConnectError as away:  # the board stays away: say what was lost, and when
            raise ConnectError(
                f"{board}: connection lost during {what}; "
                f"reconnecting failed: {away.message.removeprefix(board + ': ')}",
                lost.hint if isinstance(lost, ConnectError) else None,
            ) from None
        if self.cancel.is_set():
            raise Cancelled()
        try:
            return work(self.session)
        except BOARD_SIDE_ERRORS as exc:  # the second drop: as the first would have been
            raise ConnectError(f"{board}: connection lost again during {what}: {exc}") from None

    def close(self) -> None:
        self.cancel.watch(None, self.session)
        self.session.close()


class BoardSessions:
    """A model matrix's connections, handed from one model's job to the next per board
    (run/matrix.py): one SSH handshake per board for the whole matrix. A dropped connection is
    not handed on: the next job connects anew, as any job does. Each job still probes the
    board (one round trip): its facts are its own, as fresh as a single run's (free space,
    temperature, a board re-flashed meanwhile). `close()` when the matrix ends."""

    def __init__(self) -> None:
        self._sessions: dict[str, BoardSession] = {}
        self._lock = threading.Lock()  # the boards' threads take and keep at once

    def connect(self, board: Board, cancel: CancelToken) -> Connection:
        """The board's connection for a job: the kept one if it is alive, else a new one."""
        with self._lock:
            session = self._sessions.pop(board.name, None)
        if session is not None and not session.is_alive:
            session.close()
            session = None
        return Connection(board, cancel, session)

    def keep(self, conn: Connection) -> None:
        """At the end of a job on `conn.target`: its connection, for the next job."""
        conn.cancel.watch(None, conn.session)  # that job's Ctrl-C is over
        if conn.session.is_alive:
            with self._lock:
                self._sessions[conn.target.name] = conn.session
            return
        conn.session.close()

    def close(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()

"""Board locks: two jobs never share a board, and a lock dies with its job.

Local (always): an flock on `<lock_dir>/<board>.lock`. The kernel drops it when the process
that holds it ends, however it ends (kill -9 included), so there is nothing stale to clean up.
The holder writes `{"holder": "user@host", "pid": N, "job": "...", "since": ISO}` into the
file, so a busy board names who has it.

Shared (when the results database is PostgreSQL, i.e. a lab's jobs on several machines): also a
session-level advisory lock `pg_try_advisory_lock(NAMESPACE, key(board))` on a connection kept
open for the job. The server drops it when that connection ends (the job exits, or dies and
its socket closes). The holder is named from `pg_stat_activity.application_name`, which the
lock's connection sets to `imxbench user@host pid N <job>`.

`wait_s` = 0 fails fast on a busy board; > 0 polls until that many seconds have passed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imxbench.errors import InfrastructureError
from imxbench.model.records import holder_name, utc_now

if TYPE_CHECKING:  # SQLAlchemy loads only for a shared (PostgreSQL) lock: `run` locks locally
    from sqlalchemy import Connection, Engine

PG_NAMESPACE = 0x1A7B
POLL_S = 0.25


class BoardBusy(InfrastructureError):
    """The board is locked by another job (the message names it)."""


def board_key(board: str) -> int:
    """The advisory lock's second key: a positive int4 from the board name."""
    return zlib.crc32(board.encode()) & 0x7FFF_FFFF


class BoardLock:
    """One board, held from `acquire()` until `release()` (or the end of the process)."""

    def __init__(
        self, board: str, lock_dir: Path, *, engine: Engine | None = None, job: str = ""
    ) -> None:
        self.board = board
        self.path = lock_dir / f"{board}.lock"
        self.engine = engine if engine is not None and engine.dialect.name == "postgresql" else None
        self.job = job
        self._fd: int | None = None
        self._conn: Connection | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait_s: float = 0.0) -> None:
        """Take the board or raise BoardBusy naming its holder (after `wait_s` seconds)."""
        deadline = time.monotonic() + max(0.0, wait_s)
        while True:
            holder = self._try()
            if holder is None:
                return
            if time.monotonic() >= deadline:
                waited = f" after waiting {wait_s:g} s" if wait_s > 0 else ""
                raise BoardBusy(
                    f"{self.board}: busy{waited}: held by {holder}",
                    "wait for that job, or pass --lock-wait SECONDS to queue behind it",
                )
            time.sleep(POLL_S)

    def release(self) -> None:
        if self._conn is not None:
            from sqlalchemy import text
            from sqlalchemy.exc import SQLAlchemyError

            with contextlib.suppress(SQLAlchemyError):
                self._conn.execute(
                    text("SELECT pg_advisory_unlock(:ns, :key)"),
                    {"ns": PG_NAMESPACE, "key": board_key(self.board)},
                )
            with contextlib.suppress(SQLAlchemyError):
                self._conn.close()
            self._conn = None
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = None

    def _try(self) -> str | None:
        """None when taken now, else a description of the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return describe_holder(read_holder(self.path))
        except BaseException:
            os.close(fd)
            raise
        info = {"holder": holder_name(), "pid": os.getpid(), "job": self.job, "since": utc_now()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode() + b"\n", 0)
        self._fd = fd
        if self.engine is not None:
            busy = self._try_database(info)
            if busy is not None:
                self.release()
                return busy
        return None

    def _try_database(self, info: dict[str, Any]) -> str | None:
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        assert self.engine is not None
        params = {"ns": PG_NAMESPACE, "key": board_key(self.board)}
        try:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            name = f"imxbench {info['holder']} pid {info['pid']} {self.job}"[:63]
            conn.execute(
                text("SELECT set_config('application_name', :name, false)"), {"name": name}
            )
            taken = conn.execute(text("SELECT pg_try_advisory_lock(:ns, :key)"), params).scalar()
            if taken:
                self._conn = conn
                return None
            row = conn.execute(
                text(
                    "SELECT a.application_name, a.client_addr, a.backend_start "
                    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :ns "
                    "AND l.objid = :key AND l.objsubid = 2"
                ),
                params,
            ).first()
            conn.close()
        except SQLAlchemyError as exc:
            raise InfrastructureError(
                f"{self.board}: cannot take the shared board lock: "
                f"{str(getattr(exc, 'orig', exc)).strip().splitlines()[0]}"
            ) from None
        if row is None:
            return "another job (through the shared database)"
        since = row[2].strftime("%Y-%m-%dT%H:%M:%S%z") if row[2] else "?"
        return f"{row[0] or 'another job'} from {row[1] or 'local socket'} since {since}"


def read_holder(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text() or "null")
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def describe_holder(info: dict[str, Any] | None) -> str:
    if not info:
        return "another job (holder unknown)"
    job = f" ({info['job']})" if info.get("job") else ""
    return (
        f"{info.get('holder', '?')} pid {info.get('pid', '?')}{job} since {info.get('since', '?')}"
    )


@contextmanager
def hold_boards(
    boards: Sequence[str],
    lock_dir: Path,
    *,
    engine: Engine | None = None,
    job: str = "",
    wait_s: float = 0.0,
) -> Iterator[tuple[list[str], dict[str, str]]]:
    """Lock every board it can: yields (boards held, {busy board: message}); releases all."""
    held: list[BoardLock] = []
    busy: dict[str, str] = {}
    try:
        for board in boards:
            lock = BoardLock(board, lock_dir, engine=engine, job=job)
            try:
                lock.acquire(wait_s)
            except BoardBusy as exc:
                busy[board] = exc.message
                continue
            held.append(lock)
        yield [lock.board for lock in held], busy
    finally:
        for lock in held:
            lock.release()


@contextmanager
def locked_boards(boards: Sequence[str], lock_dir: Path, *, job: str = "") -> Iterator[None]:
    """All of `boards` (local locks) or none: `imxbench run` fails fast, naming who holds a
    busy board, rather than measuring a board another job is measuring."""
    with hold_boards(boards, lock_dir, job=job) as (_held, busy):
        if busy:
            raise BoardBusy(
                "; ".join(busy.values()),
                "wait for that job (a run and a nightly sharing a reports dir share the locks)",
            )
        yield


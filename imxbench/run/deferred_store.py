"""The results history of `imxbench run`, opened while its boards work.

Opening the history costs ~0.2 s of host CPU (importing SQLAlchemy, connecting, migrating,
announcing the run): two thirds of what imxbench otherwise adds to a short run. `run` hands a
`DeferredStore` to `announced_run` and to the job, whose background thread calls `open_now`
once every board is busy benchmarking — the host only waits then. Whatever needs the history
earlier (Ctrl-C, a crash, the final record) opens it in the caller's thread; bad input before
that opens nothing. A history that cannot be opened stops the job: the job cancels its boards
and re-raises the error, reported like any bad `--db`.

`nightly` opens its store up front: its board locks live in the database.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imxbench.history.store import Store
    from imxbench.model.records import RunHeader, RunRecord


class DeferredStore:
    """Store's writing methods (what `announced_run` and `run` use), opened on first need."""

    def __init__(self, url: str | None, reports_dir: Path) -> None:
        self._url = url
        self._reports_dir = reports_dir
        self._lock = threading.Lock()
        self._header: RunHeader | None = None
        self._store: Store | None = None
        self._error: BaseException | None = None
        self._closed = False

    @property
    def error(self) -> BaseException | None:
        """Why the history could not be opened (None: not tried yet, or it is open)."""
        return self._error

    def open_now(self) -> None:
        """Open the history and announce the run (if `begin_run` was called); idempotent.
        Raises what opening raised, every time."""
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._store is not None or self._closed:
                return
            from imxbench.history.store import open_store

            try:
                store = open_store(self._url, self._reports_dir)
            except BaseException as exc:
                self._error = exc
                raise
            try:
                if self._header is not None:
                    store.begin_run(self._header)
            except BaseException as exc:
                store.close()
                self._error = exc
                raise
            self._store = store

    def _opened(self) -> Store:
        self.open_now()
        if self._store is None:
            raise RuntimeError("the results history was closed")
        return self._store

    # -- what announced_run and run call --------------------------------------------------------
    def begin_run(self, header: RunHeader) -> None:
        """Remember the run to announce when the history opens; announce it at once when the
        history is open already (the second model of a matrix, run/matrix.py)."""
        with self._lock:
            self._header = header
            store = self._store
        if store is not None:
            store.begin_run(header)

    def record_run(self, record: RunRecord, *args: Any, **kwargs: Any) -> None:
        self._opened().record_run(record, *args, **kwargs)

    def mark_partial(self, run_id: str, note: str) -> None:
        if self._error is None:  # the history that failed to open has nothing to mark
            self._opened().mark_partial(run_id, note)

    def discard_run(self, run_id: str) -> None:
        """Bad input: forget the run; when the history was never opened there is nothing to
        forget, and it stays unopened."""
        with self._lock:
            if self._store is None:
                self._closed = True
                return
        self._store.discard_run(run_id)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._store is not None:
                self._store.close()

    def __enter__(self) -> DeferredStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

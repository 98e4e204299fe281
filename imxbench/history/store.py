"""The results history: runs, board fingerprints, cells, repetitions, accuracy, verdicts.

SQLite by default (`<reports>/imxbench.sqlite`, i.e. `reports/imxbench.sqlite`); `--db URL` for
a lab's shared PostgreSQL (`postgresql://user@host/db`, through SQLAlchemy Core and psycopg), so
a whole lab keeps one history. The schema is versioned (store_schema.py), migrated on open.

Writes are transactional. `begin_run` announces a run (status `partial`, note "not finished")
before any board is touched; `record_run` then writes everything of it — fingerprints, cells,
samples, accuracy, verdicts — in ONE transaction that also sets its final status (`complete`, or
`partial` when a board failed or the job was interrupted). A crash at any point leaves the
earlier runs untouched and this one marked partial.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from imxbench.analysis.regression import CellVerdict
from imxbench.errors import ConfigError, InfrastructureError
from imxbench.history.schema import (
    SCHEMA_VERSION,
    accuracy,
    baselines,
    board_fingerprints,
    cells,
    current_version,
    migrate,
    runs,
    samples,
    verdicts,
)
from imxbench.model.records import (
    SAMPLE_METRICS,
    AccuracyResult,
    CellRecord,
    Fingerprint,
    RunHeader,
    RunRecord,
    Sample,
    utc_now,
)

DEFAULT_DB_NAME = "imxbench.sqlite"
CONNECT_TIMEOUT_S = 10
"""PostgreSQL: the most a connection attempt may take (a server that accepts and never answers
included)."""
STATEMENT_TIMEOUT_S = 120
"""PostgreSQL: the most one statement may run on the server (a migration waiting for another
job's included); the connection's TCP keepalives and user timeout end a silent server's."""
SQLITE_BUSY_TIMEOUT_S = 30
"""SQLite: how long a write waits for another process's write lock before failing."""
NOT_FINISHED = "not finished: interrupted, or still running"


def database_url(url: str | None, reports_dir: Path) -> str:
    """The SQLAlchemy URL for `--db`: None = `<reports_dir>/imxbench.sqlite`; a plain path =
    SQLite there; `postgresql://` / `postgres://` use psycopg (version 3)."""
    if url is None:
        return f"sqlite:///{(reports_dir / DEFAULT_DB_NAME).resolve()}"
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    scheme, rest = url.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    if scheme.startswith(("postgresql+", "sqlite")):
        return url
    raise ConfigError(
        f"--db {url}: unsupported database URL", "use sqlite:///PATH or postgresql://USER@HOST/DB"
    )


@dataclass(frozen=True)
class RunSummary:
    """One line of `imxbench history`."""

    run_id: str
    kind: str
    status: str
    started_at: str
    finished_at: str | None
    model: str
    model_sha256: str
    holder: str | None
    emulated: bool
    note: str | None
    out_dir: str | None
    boards: tuple[str, ...] = ()
    cells: int = 0
    failed_cells: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    board_errors: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "model": self.model,
            "model_sha256": self.model_sha256,
            "holder": self.holder,
            "emulated": self.emulated,
            "note": self.note,
            "out_dir": self.out_dir,
            "boards": list(self.boards),
            "cells": self.cells,
            "failed_cells": self.failed_cells,
            "verdicts": dict(self.verdicts),
            "board_errors": dict(self.board_errors),
        }


@dataclass(frozen=True)
class SeriesPoint:
    """One earlier run of a series: its samples and what was said of it."""

    run_id: str
    started_at: str
    kind: str
    status: str  # the cell's: ok | failed
    latencies_us: tuple[float, ...]
    verdict: str | None  # None: never judged (e.g. an `imxbench run`)
    accuracy: tuple[AccuracyResult, ...] = ()
    fingerprint: Fingerprint | None = None


class Store:
    """An open results history. Use `open_store`; close it (or use it as a context manager)."""

    def __init__(self, engine: Engine, where: str) -> None:
        self.engine = engine
        self.where = where

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction; database errors become InfrastructureError (exit 3)."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise InfrastructureError(f"{self.where}: database error: {_short(exc)}") from exc

    # -- writing ------------------------------------------------------------------------------
    def begin_run(self, header: RunHeader) -> None:
        """Announce a run before it touches a board: it shows as partial until recorded (a
        resumed run, already known, goes back to partial)."""
        pending = {"status": "partial", "note": NOT_FINISHED, "finished_at": None}
        with self.transaction() as conn:
            if _run_exists(conn, header.run_id):
                conn.execute(update(runs).where(runs.c.run_id == header.run_id).values(**pending))
            else:
                conn.execute(insert(runs).values(**_run_values(header), **pending))

    def mark_partial(self, run_id: str, note: str) -> None:
        """A run announced and not recorded yet ends partial, saying why. A run recorded
        already keeps its record: a failure after it (Ctrl-C while the report is written)
        changes nothing of what was stored."""
        with self.transaction() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.run_id == run_id, runs.c.finished_at.is_(None))
                .values(status="partial", note=note, finished_at=utc_now())
            )

    def discard_run(self, run_id: str) -> None:
        """Forget an announced run that recorded nothing (it failed on bad input)."""
        with self.transaction() as conn:
            has_cells = conn.execute(select(cells.c.id).where(cells.c.run_id == run_id)).first()
            if has_cells is None:
                conn.execute(
                    delete(board_fingerprints).where(board_fingerprints.c.run_id == run_id)
                )
                conn.execute(delete(runs).where(runs.c.run_id == run_id))

    def record_run(
        self, record: RunRecord, judged: Sequence[CellVerdict] = (), policy: str = ""
    ) -> None:
        """Everything of a finished (or interrupted) run, in one transaction; it replaces what
        an earlier recording of the same run (a resumed one) stored."""
        with self.transaction() as conn:
            _write_run(conn, record, judged, policy)

    def set_baseline(self, name: str, run_id: str, set_by: str) -> None:
        with self.transaction() as conn:
            conn.execute(delete(baselines).where(baselines.c.name == name))
            conn.execute(
                insert(baselines).values(name=name, run_id=run_id, set_at=utc_now(), set_by=set_by)
            )

    # -- reading ------------------------------------------------------------------------------
    def resolve_run(self, ref: str) -> str:
        """A run id from an id, a unique prefix, or `latest`; ConfigError otherwise."""
        with self.transaction() as conn:
            if ref == "latest":
                found = conn.execute(
                    select(runs.c.run_id).order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
                ).first()
                if found is None:
                    raise ConfigError(f"{self.where}: no runs recorded yet")
                return str(found[0])
            rows = conn.execute(
                select(runs.c.run_id).where(runs.c.run_id.startswith(ref, autoescape=True))
            ).all()
        ids = sorted(str(r[0]) for r in rows)
        if ref in ids:
            return ref
        if len(ids) == 1:
            return ids[0]
        if not ids:
            raise ConfigError(f"{self.where}: no run {ref!r}", "imxbench history lists the runs")
        raise ConfigError(f"{self.where}: {ref!r} matches {len(ids)} runs: {', '.join(ids[:5])}")

    def baseline_run(self, name: str) -> str | None:
        with self.transaction() as conn:
            found = conn.execute(select(baselines.c.run_id).where(baselines.c.name == name)).first()
        return None if found is None else str(found[0])

    def baselines(self) -> list[dict[str, Any]]:
        with self.transaction() as conn:
            rows = conn.execute(select(baselines).order_by(baselines.c.name)).mappings().all()
        return [dict(r) for r in rows]

    def list_runs(
        self,
        *,
        board: str | None = None,
        delegate: str | None = None,
        model: str | None = None,
        since: str | None = None,
        kind: str | None = None,
        limit: int = 50,
    ) -> list[RunSummary]:
        """Runs, newest first, filtered by board / delegate (or cell) / model (name or sha256
        prefix) / start date (ISO, UTC) / kind."""
        query = select(runs)
        if board or delegate:
            inner = select(cells.c.run_id)
            if board:
                inner = inner.where(cells.c.board == board)
            if delegate:
                inner = inner.where(or_(cells.c.delegate == delegate, cells.c.cell == delegate))
            query = query.where(runs.c.run_id.in_(inner))
        if model:
            query = query.where(
                or_(runs.c.model == model, runs.c.model_sha256.startswith(model, autoescape=True))
            )
        if since:
            query = query.where(runs.c.started_at >= since)
        if kind:
            query = query.where(runs.c.kind == kind)
        query = query.order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(limit)
        with self.transaction() as conn:
            rows = conn.execute(query).mappings().all()
            return [_summary(conn, dict(r)) for r in rows]

    def known_boards(self) -> list[str]:
        """Every board the history has a run of, sorted."""
        with self.transaction() as conn:
            found = conn.execute(select(board_fingerprints.c.board).distinct()).scalars()
            return sorted(str(b) for b in found)

    def load_run(self, run_id: str) -> RunRecord:
        """A recorded run as a RunRecord (cells with samples and accuracy)."""
        with self.transaction() as conn:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).mappings().first()
            if row is None:
                raise ConfigError(f"{self.where}: no run {run_id!r}")
            fps = conn.execute(
                select(board_fingerprints).where(board_fingerprints.c.run_id == run_id)
            ).mappings()
            cell_rows = (
                conn.execute(select(cells).where(cells.c.run_id == run_id).order_by(cells.c.id))
                .mappings()
                .all()
            )
            by_cell = _samples_of(conn, [c["id"] for c in cell_rows])
            acc = _accuracy_of(conn, [c["id"] for c in cell_rows])
            record_cells = tuple(_cell_record(dict(c), by_cell, acc) for c in cell_rows)
            fingerprints = tuple(_fingerprint(dict(f)) for f in fps)
        return RunRecord(
            header=_header(dict(row)),
            fingerprints=fingerprints,
            cells=record_cells,
            finished_at=row["finished_at"],
            note=row["note"],
        )

    def run_status(self, run_id: str) -> tuple[str, str | None] | None:
        with self.transaction() as conn:
            found = conn.execute(
                select(runs.c.status, runs.c.note).where(runs.c.run_id == run_id)
            ).first()
        return None if found is None else (str(found[0]), found[1])

    def verdicts_of(self, run_id: str) -> list[dict[str, Any]]:
        with self.transaction() as conn:
            rows = (
                conn.execute(
                    select(verdicts).where(verdicts.c.run_id == run_id).order_by(verdicts.c.id)
                )
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]

    def series_points(
        self,
        series: str,
        *,
        before: tuple[str, str],
        kinds: Sequence[str] | None = None,
        limit: int = 60,
        emulated: bool | None = None,
    ) -> list[SeriesPoint]:
        """The series' earlier runs (before `(started_at, run_id)`), newest first; `emulated`:
        only runs on emulated (True) or real (False) boards (histories written before the
        series key said so share a digest)."""
        started, run_id = before
        query = (
            select(
                cells.c.id,
                cells.c.run_id,
                cells.c.board,
                cells.c.status,
                runs.c.started_at,
                runs.c.kind,
            )
            .join(runs, runs.c.run_id == cells.c.run_id)
            .where(cells.c.series == series)
            .where(
                or_(
                    runs.c.started_at < started,
                    and_(runs.c.started_at == started, runs.c.run_id < run_id),
                )
            )
            .order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
            .limit(limit)
        )
        if kinds:
            query = query.where(runs.c.kind.in_(list(kinds)))
        if emulated is not None:
            query = query.where(runs.c.emulated == emulated)
        with self.transaction() as conn:
            rows = conn.execute(query).mappings().all()
            ids = [r["id"] for r in rows]
            by_cell = _samples_of(conn, ids)
            acc = _accuracy_of(conn, ids)
            said = {
                r.cell_id: r.verdict
                for r in conn.execute(
                    select(verdicts.c.cell_id, verdicts.c.verdict).where(
                        verdicts.c.cell_id.in_(ids)
                    )
                )
            }
            fps = _fingerprints_of(conn, {(r["run_id"], r["board"]) for r in rows})
        return [
            SeriesPoint(
                run_id=r["run_id"],
                started_at=r["started_at"],
                kind=r["kind"],
                status=r["status"],
                latencies_us=tuple(
                    s["inference_avg_us"]
                    for s in by_cell.get(r["id"], [])
                    if s["status"] == "ok" and (s["inference_avg_us"] or 0) > 0
                ),
                verdict=said.get(r["id"]),
                accuracy=acc.get(r["id"], ()),
                fingerprint=fps.get((r["run_id"], r["board"])),
            )
            for r in rows
        ]

    def latest_run_with_board(
        self,
        board: str,
        *,
        before: tuple[str, str],
        model_sha256: str,
        series_settings: str,
        kinds: Sequence[str],
        emulated: bool | None = None,
    ) -> str | None:
        """The newest earlier run of the same model and settings that has cells on `board`
        (`emulated`: only runs on emulated, or only on real, boards)."""
        started, run_id = before
        query = (
            select(runs.c.run_id)
            .join(cells, cells.c.run_id == runs.c.run_id)
            .where(cells.c.board == board)
            .where(runs.c.model_sha256 == model_sha256)
            .where(runs.c.series_settings == series_settings)
            .where(runs.c.kind.in_(list(kinds)))
            .where(
                or_(
                    runs.c.started_at < started,
                    and_(runs.c.started_at == started, runs.c.run_id < run_id),
                )
            )
            .order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
            .limit(1)
        )
        if emulated is not None:
            query = query.where(runs.c.emulated == emulated)
        with self.transaction() as conn:
            found = conn.execute(query).first()
        return None if found is None else str(found[0])

    def baseline_run_ids(self) -> set[str]:
        with self.transaction() as conn:
            return {str(r[0]) for r in conn.execute(select(baselines.c.run_id))}


def history_location(url: str | None, reports_dir: Path) -> str:
    """Where `--db` points, for people: the URL with any password hidden."""
    full = database_url(url, reports_dir)
    try:
        return make_url(full).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        return full


class NoHistory(ConfigError):
    """`open_store(create=False)`: no results history there yet (no SQLite file, or a database
    without imxbench's tables); with `upgrade=False` also one an older imxbench wrote, which
    opening would migrate. Nothing was created or changed."""


def open_store(
    url: str | None,
    reports_dir: Path = Path("reports"),
    create: bool = True,
    upgrade: bool = True,
) -> Store:
    """Open (and migrate) the results history at `url` (None: the default SQLite file).

    `create=False` (the read-only commands: history, compare, baseline list): a SQLite file
    that does not exist, or a database without imxbench's tables, is a NoHistory naming it,
    never a new empty database. `upgrade=False` (`nightly --dry-run`, which writes nothing):
    an older schema is a NoHistory too, not migrated."""
    full = database_url(url, reports_dir)
    try:
        parsed = make_url(full)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise ConfigError(f"--db {url}: {exc}") from None
    where = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ConfigError(
                f"--db {url}: an in-memory SQLite database keeps nothing",
                "use sqlite:///PATH or a file path",
            )
        if parsed.database and parsed.database != ":memory:":
            _sqlite_file(Path(parsed.database), create)
        engine = create_engine(full, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        _sqlite_transactions(engine)
    elif parsed.get_backend_name() == "postgresql":
        engine = create_engine(full, pool_pre_ping=True, connect_args=_pg_timeouts(parsed))
    else:
        engine = create_engine(full, pool_pre_ping=True)
    store = Store(engine, where)
    try:
        with store.engine.begin() as conn:
            found = current_version(conn) if not (create and upgrade) else None
            if found == 0:
                engine.dispose()
                raise NoHistory(
                    f"{where}: no imxbench results history in this database",
                    "`imxbench run` or `nightly` with this --db creates it",
                )
            if found and found < SCHEMA_VERSION and not upgrade:
                engine.dispose()
                raise NoHistory(
                    f"{where}: results schema version {found}, older than this imxbench's "
                    f"({SCHEMA_VERSION})",
                    "`imxbench run` or `nightly` with this --db migrates it",
                )
            migrate(conn, SCHEMA_VERSION, where)
    except OperationalError as exc:
        engine.dispose()
        raise InfrastructureError(
            f"{where}: cannot open the results database: {_short(exc)}"
        ) from None
    except SQLAlchemyError as exc:
        engine.dispose()
        raise InfrastructureError(f"{where}: database error: {_short(exc)}") from exc
    return store


def _sqlite_file(path: Path, create: bool) -> None:
    """The SQLite file's folder made (create) or the file required (not create)."""
    if path.is_dir():  # SQLite's own word for it is "unable to open database file"
        raise ConfigError(f"{path}: a directory, not a results database (--db / --reports)")
    if not create:
        if not path.is_file():
            raise NoHistory(
                f"{path}: no results database there",
                "check --db / --reports; `imxbench run` and `nightly` create it",
            )
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot create the results database's folder ({exc.strerror or exc})"
        ) from None


def _pg_timeouts(parsed: Any) -> dict[str, Any]:
    """psycopg connection arguments bounding every wait; the URL's own settings win."""
    given = set(parsed.query)
    args: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "options": f"-c statement_timeout={STATEMENT_TIMEOUT_S * 1000}",
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": 30_000,
    }
    return {k: v for k, v in args.items() if k not in given}


def _sqlite_transactions(engine: Engine) -> None:
    """Real transactions on SQLite (DDL included), each taking the write lock up front so
    two processes never deadlock upgrading a read lock; foreign keys enforced."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys = ON")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _short(exc: Exception) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]


# ---------------------------------------------------------------------------------------------
# Rows


def _run_values(header: RunHeader) -> dict[str, Any]:
    return {
        "run_id": header.run_id,
        "kind": header.kind,
        "started_at": header.started_at,
        "model": header.model,
        "model_sha256": header.model_sha256,
        "settings": json.dumps(dict(header.settings), sort_keys=True, default=str),
        "series_settings": header.series_settings,
        "holder": header.holder,
        "emulated": header.emulated,
        "out_dir": header.out_dir,
    }


def _write_run(
    conn: Connection, record: RunRecord, judged: Sequence[CellVerdict], policy: str
) -> None:
    header = record.header
    final = {"status": record.status, "note": record.note, "finished_at": record.finished_at}
    if _run_exists(conn, header.run_id):
        conn.execute(update(runs).where(runs.c.run_id == header.run_id).values(**final))
        _forget_results(conn, header.run_id)
    else:
        conn.execute(insert(runs).values(**_run_values(header), **final))
    for fp in record.fingerprints:
        conn.execute(
            insert(board_fingerprints).values(run_id=header.run_id, **_fingerprint_values(fp))
        )
    cell_ids: dict[tuple[str, str], int] = {}
    for cell in record.cells:
        result = conn.execute(
            insert(cells).values(
                run_id=header.run_id,
                board=cell.board,
                cell=cell.cell,
                delegate=cell.delegate,
                variant=cell.variant,
                threads=cell.threads,
                series=record.series(cell).digest,
                status=cell.status,
                error=cell.error,
                execution=cell.execution,
                graph_sha256=cell.graph_sha256,
            )
        )
        key = result.inserted_primary_key
        assert key is not None  # an INSERT of one row always has it
        cell_id = int(key[0])
        cell_ids[(cell.board, cell.cell)] = cell_id
        if cell.samples:
            conn.execute(
                insert(samples),
                [
                    {
                        "cell_id": cell_id,
                        "repetition": s.repetition,
                        "status": s.status,
                        **{m: s.metrics.get(m) for m in SAMPLE_METRICS},
                    }
                    for s in cell.samples
                ],
            )
        if cell.accuracy:
            conn.execute(
                insert(accuracy),
                [
                    {
                        "cell_id": cell_id,
                        "metric": a.metric,
                        "value": a.value,
                        "correct": a.correct,
                        "total": a.total,
                        "ci_low": a.ci_low,
                        "ci_high": a.ci_high,
                    }
                    for a in cell.accuracy
                ],
            )
    if judged:
        conn.execute(
            insert(verdicts), [_verdict_values(header.run_id, v, cell_ids, policy) for v in judged]
        )


def _run_exists(conn: Connection, run_id: str) -> bool:
    return conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id)).first() is not None


def _forget_results(conn: Connection, run_id: str) -> None:
    """Delete what was recorded of a run (not the run itself), children first."""
    of_run = select(cells.c.id).where(cells.c.run_id == run_id)
    conn.execute(delete(verdicts).where(verdicts.c.run_id == run_id))
    conn.execute(delete(accuracy).where(accuracy.c.cell_id.in_(of_run)))
    conn.execute(delete(samples).where(samples.c.cell_id.in_(of_run)))
    conn.execute(delete(cells).where(cells.c.run_id == run_id))
    conn.execute(delete(board_fingerprints).where(board_fingerprints.c.run_id == run_id))


def _fingerprint_values(fp: Fingerprint) -> dict[str, Any]:
    return {
        "board": fp.board,
        "soc": fp.soc,
        "bsp": fp.bsp,
        "kernel": fp.kernel,
        "tflite_version": fp.tflite_version,
        "delegate_hashes": json.dumps(dict(fp.delegate_hashes), sort_keys=True),
        "vela_version": fp.vela_version,
        "governor": fp.governor,
        "temperature_mc": fp.temperature_mc,
        "emulated": fp.emulated,
        "error": fp.error,
        "facts": json.dumps(dict(fp.facts), sort_keys=True, default=str),
    }


def _verdict_values(
    run_id: str, v: CellVerdict, cell_ids: dict[tuple[str, str], int], policy: str
) -> dict[str, Any]:
    lat = v.latency
    return {
        "run_id": run_id,
        "cell_id": cell_ids.get((v.board, v.cell)),
        "board": v.board,
        "cell": v.cell,
        "verdict": v.verdict,
        "latency_verdict": lat.verdict,
        "change": lat.change,
        "ci_low": lat.ci[0] if lat.ci else None,
        "ci_high": lat.ci[1] if lat.ci else None,
        "p_value": lat.p_value,
        "alpha": lat.alpha,
        "reps_needed": lat.reps_needed,
        "policy": policy,
        "baseline_run_ids": json.dumps(list(v.baseline_run_ids)),
        "fingerprint_changes": json.dumps(list(v.fingerprint_changes)),
        "detail": v.detail,
    }


def _header(row: dict[str, Any]) -> RunHeader:
    return RunHeader(
        run_id=row["run_id"],
        kind=row["kind"],
        started_at=row["started_at"],
        model=row["model"],
        model_sha256=row["model_sha256"],
        settings=json.loads(row["settings"] or "{}"),
        holder=row["holder"] or "",
        emulated=bool(row["emulated"]),
        out_dir=row["out_dir"] or "",
    )


def _fingerprint(row: dict[str, Any]) -> Fingerprint:
    return Fingerprint(
        board=row["board"],
        soc=row["soc"],
        bsp=row["bsp"],
        kernel=row["kernel"],
        tflite_version=row["tflite_version"],
        delegate_hashes=json.loads(row["delegate_hashes"] or "{}"),
        vela_version=row["vela_version"],
        governor=row["governor"],
        temperature_mc=row["temperature_mc"],
        emulated=bool(row["emulated"]),
        error=row["error"],
        facts=json.loads(row["facts"] or "{}"),
    )


def _samples_of(conn: Connection, cell_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    ids = list(cell_ids)
    out: dict[int, list[dict[str, Any]]] = {}
    if not ids:
        return out
    rows = conn.execute(
        select(samples).where(samples.c.cell_id.in_(ids)).order_by(samples.c.repetition)
    ).mappings()
    for row in rows:
        out.setdefault(row["cell_id"], []).append(dict(row))
    return out


def _accuracy_of(
    conn: Connection, cell_ids: Iterable[int]
) -> dict[int, tuple[AccuracyResult, ...]]:
    ids = list(cell_ids)
    out: dict[int, list[AccuracyResult]] = {}
    if not ids:
        return {}
    rows = conn.execute(
        select(accuracy).where(accuracy.c.cell_id.in_(ids)).order_by(accuracy.c.metric)
    ).mappings()
    for row in rows:
        out.setdefault(row["cell_id"], []).append(
            AccuracyResult(
                row["metric"],
                row["value"],
                row["correct"],
                row["total"],
                row["ci_low"],
                row["ci_high"],
            )
        )
    return {k: tuple(v) for k, v in out.items()}


def _fingerprints_of(
    conn: Connection, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], Fingerprint]:
    if not keys:
        return {}
    run_ids = sorted({k[0] for k in keys})
    rows = conn.execute(
        select(board_fingerprints).where(board_fingerprints.c.run_id.in_(run_ids))
    ).mappings()
    return {
        (r["run_id"], r["board"]): _fingerprint(dict(r))
        for r in rows
        if (r["run_id"], r["board"]) in keys
    }


def _cell_record(
    row: dict[str, Any],
    by_cell: dict[int, list[dict[str, Any]]],
    acc: dict[int, tuple[AccuracyResult, ...]],
) -> CellRecord:
    return CellRecord(
        board=row["board"],
        cell=row["cell"],
        delegate=row["delegate"],
        variant=row["variant"],
        threads=row["threads"],
        status=row["status"],
        error=row["error"],
        execution=row["execution"],
        graph_sha256=row["graph_sha256"],
        samples=tuple(
            Sample(s["repetition"], s["status"], {m: s[m] for m in SAMPLE_METRICS})
            for s in by_cell.get(row["id"], [])
        ),
        accuracy=acc.get(row["id"], ()),
    )


def _summary(conn: Connection, row: dict[str, Any]) -> RunSummary:
    run_id = row["run_id"]
    fps = conn.execute(
        select(board_fingerprints.c.board, board_fingerprints.c.error).where(
            board_fingerprints.c.run_id == run_id
        )
    ).all()
    counts = conn.execute(
        select(cells.c.status, func.count())
        .where(cells.c.run_id == run_id)
        .group_by(cells.c.status)
    ).all()
    said = conn.execute(
        select(verdicts.c.verdict, func.count())
        .where(verdicts.c.run_id == run_id)
        .group_by(verdicts.c.verdict)
    ).all()
    by_status = {str(s): int(n) for s, n in counts}
    return RunSummary(
        run_id=run_id,
        kind=row["kind"],
        status=row["status"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        model=row["model"],
        model_sha256=row["model_sha256"],
        holder=row["holder"],
        emulated=bool(row["emulated"]),
        note=row["note"],
        out_dir=row["out_dir"],
        boards=tuple(sorted(str(b) for b, _ in fps)),
        cells=sum(by_status.values()),
        failed_cells=by_status.get("failed", 0),
        verdicts={str(v): int(n) for v, n in said},
        board_errors={str(b): str(e) for b, e in fps if e},
    )

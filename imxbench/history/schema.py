"""The results history's schema (SQLAlchemy Core) and its ordered migrations.

`schema_version` holds one row: the version of the tables in this database. `migrate()` runs,
inside the caller's transaction, every migration above it, in order; on PostgreSQL it first
takes a transaction-scoped advisory lock, so two jobs opening a new database at once do not
both migrate it (SQLite: the store begins every transaction IMMEDIATE, which does the same).

Versions:
1. runs, board_fingerprints, cells, samples (one row per timed repetition), baselines;
2. accuracy (per cell and metric) and verdicts (per cell, against the run's baseline).

Each version's tables are defined by one function used both by its migration and by the
current `metadata`. A later version that *alters* a table must freeze the older definition
inside the older migration (and alter it in its own), so that old databases migrate exactly.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    text,
    update,
)

from imxbench.errors import ConfigError

SCHEMA_VERSION = 2
MIGRATION_LOCK_KEY = 0x1A7B_E4C4
"""PostgreSQL advisory lock key held while migrating."""


def _version_table(md: MetaData) -> Table:
    return Table("schema_version", md, Column("version", Integer, nullable=False))


def _v1_tables(md: MetaData) -> list[Table]:
    runs = Table(
        "runs",
        md,
        Column("run_id", String(64), primary_key=True),
        Column("kind", String(16), nullable=False),  # run | nightly
        Column("status", String(16), nullable=False),  # partial | complete
        Column("note", Text),
        Column("started_at", String(32), nullable=False),  # ISO 8601 UTC
        Column("finished_at", String(32)),
        Column("model", String(255), nullable=False),
        Column("model_sha256", String(64), nullable=False),
        Column("settings", Text, nullable=False),  # JSON
        Column("series_settings", Text, nullable=False),  # canonical JSON, no repetitions
        Column("holder", String(255)),  # user@host
        Column("emulated", Boolean, nullable=False),
        Column("out_dir", Text),
        Index("ix_runs_started_at", "started_at"),
    )
    fingerprints = Table(
        "board_fingerprints",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
        Column("board", String(64), nullable=False),
        Column("soc", String(16)),
        Column("bsp", String(255)),
        Column("kernel", String(255)),
        Column("tflite_version", String(32)),
        Column("delegate_hashes", Text),  # JSON {library path: sha256}
        Column("vela_version", String(32)),
        Column("governor", String(32)),
        Column("temperature_mc", Integer),
        Column("emulated", Boolean, nullable=False),
        Column("error", Text),  # board-level failure: unreachable, busy, ...
        Column("facts", Text),  # JSON: the whole probe document
        UniqueConstraint("run_id", "board", name="uq_board_fingerprints_run_board"),
    )
    cells = Table(
        "cells",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
        Column("board", String(64), nullable=False),
        Column("cell", String(64), nullable=False),
        Column("delegate", String(64), nullable=False),
        Column("variant", String(32), nullable=False),
        Column("threads", Integer),
        Column("series", String(64), nullable=False),  # SeriesKey.digest
        Column("status", String(16), nullable=False),  # ok | failed
        Column("error", Text),
        Column("execution", String(16)),
        Column("graph_sha256", String(64)),
        UniqueConstraint("run_id", "board", "cell", name="uq_cells_run_board_cell"),
        Index("ix_cells_series", "series"),
    )
    samples = Table(
        "samples",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("cell_id", Integer, ForeignKey("cells.id", ondelete="CASCADE"), nullable=False),
        Column("repetition", Integer, nullable=False),
        Column("status", String(16), nullable=False),
        Column("inference_avg_us", Float),
        Column("inference_median_us", Float),
        Column("inference_p95_us", Float),
        Column("inference_std_us", Float),
        Column("inference_count", Integer),
        Column("init_us", Float),
        Column("first_inference_us", Float),
        Column("memory_overall_mb", Float),
        UniqueConstraint("cell_id", "repetition", name="uq_samples_cell_repetition"),
    )
    baselines = Table(
        "baselines",
        md,
        Column("name", String(64), primary_key=True),
        Column("run_id", String(64), ForeignKey("runs.run_id"), nullable=False),
        Column("set_at", String(32), nullable=False),
        Column("set_by", String(255)),
    )
    return [runs, fingerprints, cells, samples, baselines]


def _v2_tables(md: MetaData) -> list[Table]:
    accuracy = Table(
        "accuracy",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("cell_id", Integer, ForeignKey("cells.id", ondelete="CASCADE"), nullable=False),
        Column("metric", String(32), nullable=False),  # top1 | top5
        Column("value", Float, nullable=False),  # 0..1
        Column("correct", Integer),
        Column("total", Integer),
        Column("ci_low", Float),
        Column("ci_high", Float),
        UniqueConstraint("cell_id", "metric", name="uq_accuracy_cell_metric"),
    )
    verdicts = Table(
        "verdicts",
        md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
        Column("cell_id", Integer, ForeignKey("cells.id", ondelete="CASCADE")),  # None: missing
        Column("board", String(64), nullable=False),
        Column("cell", String(64), nullable=False),
        Column("verdict", String(16), nullable=False),
        Column("latency_verdict", String(16), nullable=False),
        Column("change", Float),  # current / baseline - 1
        Column("ci_low", Float),
        Column("ci_high", Float),
        Column("p_value", Float),
        Column("alpha", Float),
        Column("reps_needed", Integer),
        Column("policy", String(32)),
        Column("baseline_run_ids", Text),  # JSON list
        Column("fingerprint_changes", Text),  # JSON list
        Column("detail", Text),
        UniqueConstraint("run_id", "board", "cell", name="uq_verdicts_run_board_cell"),
    )
    return [accuracy, verdicts]


TABLES_BY_VERSION: tuple[Callable[[MetaData], list[Table]], ...] = (_v1_tables, _v2_tables)
"""The tables each version adds, in order (version = index + 1)."""


def _adds_tables(version: int) -> Callable[[Connection], None]:
    """The migration to `version` when that version only adds tables (the earlier versions'
    tables are defined alongside, so that foreign keys resolve)."""

    def migration(conn: Connection) -> None:
        md = MetaData()
        for define in TABLES_BY_VERSION[: version - 1]:
            define(md)
        for table in TABLES_BY_VERSION[version - 1](md):
            table.create(conn)

    return migration


MIGRATIONS: tuple[tuple[int, Callable[[Connection], None]], ...] = (
    (1, _adds_tables(1)),
    (2, _adds_tables(2)),
)
"""(version, migration) in order; a migration brings version - 1 to version."""

metadata = MetaData()
schema_version = _version_table(metadata)
runs, board_fingerprints, cells, samples, baselines = _v1_tables(metadata)
accuracy, verdicts = _v2_tables(metadata)


def current_version(conn: Connection) -> int:
    """The database's schema version (0: no imxbench tables yet)."""
    table = _version_table(MetaData())
    if not conn.dialect.has_table(conn, "schema_version"):
        return 0
    found = conn.execute(select(table.c.version)).scalar()
    return int(found or 0)


def migrate(conn: Connection, target: int = SCHEMA_VERSION, where: str = "database") -> int:
    """Bring the schema to `target` inside the caller's transaction; returns the old version."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    before = current_version(conn)
    if before > SCHEMA_VERSION:
        raise ConfigError(
            f"{where}: results schema version {before} is newer than this imxbench's "
            f"({SCHEMA_VERSION})",
            "upgrade imxbench to use this database",
        )
    if before == 0:
        version_table = _version_table(MetaData())
        version_table.create(conn, checkfirst=True)
        conn.execute(insert(version_table).values(version=0))
    version_table = _version_table(MetaData())
    for version, step in MIGRATIONS:
        if before < version <= target:
            step(conn)
            conn.execute(update(version_table).values(version=version))
    return before

"""The results history, the same tests against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, insert, inspect, select, text

from imxbench.analysis.regression import Thresholds
from imxbench.errors import ConfigError, InfrastructureError
from imxbench.history import schema as store_schema
from imxbench.history.baselines import BaselinePolicy, compare_runs, judge_run
from imxbench.history.store import NOT_FINISHED, database_url, open_store
from imxbench.model.records import RunRecord
from imxbench.run.recording import INTERRUPTED_UNRECORDED, RunInterrupted, announced_run
from tests import history_data as data
from tests.postgres_server import fixture_db_url, fixture_pg_server  # noqa: F401

REPO = Path(__file__).resolve().parents[2]


def nights(url: str, count: int, **kw: object) -> list[RunRecord]:
    """`count` judged nights recorded in the store at `url`."""
    rng = np.random.default_rng(7)
    made = []
    with open_store(url) as store:
        for night in range(1, count + 1):
            rec = data.record(night, rng=rng, **kw)  # type: ignore[arg-type]
            store.begin_run(rec.header)
            store.record_run(rec, judge_run(store, rec, BaselinePolicy.parse("window:5")))
            made.append(rec)
    return made


def test_default_url_is_sqlite_under_reports_and_postgres_uses_psycopg(tmp_path: Path) -> None:
    assert database_url(None, tmp_path) == f"sqlite:///{tmp_path.resolve()}/imxbench.sqlite"
    assert database_url("postgresql://lab@db/h", tmp_path) == "postgresql+psycopg://lab@db/h"
    assert database_url("postgres://lab@db/h", tmp_path) == "postgresql+psycopg://lab@db/h"
    assert database_url("h.sqlite", tmp_path).startswith("sqlite:////")
    with pytest.raises(ConfigError, match="unsupported database URL"):
        database_url("mysql://x/y", tmp_path)


def test_a_malformed_or_in_memory_url_is_bad_input_naming_it(tmp_path: Path) -> None:
    """Before: a port that is not a number was a traceback (SQLAlchemy's ValueError), and
    `sqlite://` a "Cannot operate on a closed database" exit 3."""
    with pytest.raises(ConfigError, match="--db postgresql://u@h:x/db: invalid literal"):
        open_store("postgresql://u@h:x/db", tmp_path)
    for memory in ("sqlite://", "sqlite:///:memory:"):
        with pytest.raises(ConfigError, match="in-memory SQLite database keeps nothing"):
            open_store(memory, tmp_path)


def test_unreachable_postgres_is_an_infrastructure_failure(tmp_path: Path) -> None:
    with pytest.raises(InfrastructureError, match="cannot open the results database"):
        open_store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", tmp_path)


def test_a_directory_as_the_sqlite_file_is_bad_input_naming_it(tmp_path: Path) -> None:
    """Before: SQLite's "unable to open database file", exit 3 as if the lab had failed."""
    (tmp_path / "imxbench.sqlite").mkdir()
    for create in (True, False):
        with pytest.raises(ConfigError, match=f"{tmp_path}/imxbench.sqlite: a directory"):
            open_store(None, tmp_path, create=create)


def test_a_run_round_trips_with_samples_fingerprints_accuracy_and_verdicts(db_url: str) -> None:
    rng = np.random.default_rng(1)
    first = data.record(1, rng=rng, accuracy={("imx8mp", "vx"): (850, 1000)})
    second = data.record(
        2, rng=rng, slow={("imx8mp", "vx"): 1.2}, kernel="6.12.40",
        accuracy={("imx8mp", "vx"): (700, 1000)},
    )  # fmt: skip
    with open_store(db_url) as store:
        for rec in (first, second):
            store.begin_run(rec.header)
            assert store.run_status(rec.header.run_id) == ("partial", NOT_FINISHED)
            store.record_run(rec, judge_run(store, rec, BaselinePolicy.parse("previous")), "x")
        loaded = store.load_run(second.header.run_id)
        assert loaded.header == second.header
        assert store.run_status(second.header.run_id) == ("complete", None)
        assert loaded.fingerprints == second.fingerprints
        assert [c.latencies_us for c in loaded.cells] == [c.latencies_us for c in second.cells]
        assert loaded.cells[1].accuracy == second.cells[1].accuracy
        said = {v["cell"]: v for v in store.verdicts_of(second.header.run_id)}
        assert said["vx"]["verdict"] == "regressed"  # latency +20% and top-1 85% -> 70%
        assert said["vx"]["change"] == pytest.approx(0.2, abs=0.03)
        assert "kernel: 6.12.34 -> 6.12.40" in said["vx"]["detail"]
        # one earlier night cannot rule out a 3% change: the detector's young-series floor
        assert said["cpu@1t"]["latency_verdict"] == "inconclusive"
        runs = store.list_runs()
        assert [r.run_id for r in runs] == [second.header.run_id, first.header.run_id]
        assert runs[0].verdicts == {"regressed": 1, "inconclusive": 2}
        assert runs[0].boards == ("imx8mp", "imx93")


def test_history_filters_and_run_references(db_url: str) -> None:
    made = nights(db_url, 3)
    ad_hoc = data.record(4, rng=np.random.default_rng(2), cells=[("imx93", "ethosu")], kind="run")
    with open_store(db_url) as store:
        store.record_run(ad_hoc)
        assert len(store.list_runs()) == 4
        assert [r.kind for r in store.list_runs(kind="run")] == ["run"]
        assert len(store.list_runs(board="imx8mp")) == 3
        assert len(store.list_runs(delegate="ethosu")) == 4
        assert len(store.list_runs(delegate="cpu@1t")) == 3
        assert len(store.list_runs(model="abab")) == 4
        assert (
            store.list_runs(model="pretrainedResnet_quant.tflite")[0].run_id == ad_hoc.header.run_id
        )
        assert len(store.list_runs(since="2025-01-01T00:00:03Z")) == 2
        assert store.resolve_run("latest") == ad_hoc.header.run_id
        assert store.resolve_run(made[0].header.run_id[:15]) == made[0].header.run_id
        with pytest.raises(ConfigError, match="matches 4 runs"):
            store.resolve_run("20250101")
        with pytest.raises(ConfigError, match="no run 'nope'"):
            store.resolve_run("nope")


def test_nightly_policies_anchored_and_named(db_url: str) -> None:
    made = nights(db_url, 6)
    rng = np.random.default_rng(3)
    slow = data.record(7, rng=rng, slow={("imx93", "ethosu"): 1.10})
    with open_store(db_url) as store:
        verdicts = {v.cell: v for v in judge_run(store, slow, BaselinePolicy.parse("anchored"))}
        assert verdicts["ethosu"].verdict == "regressed"
        # the anchored baseline: every night since the series' first (none accepted yet)
        assert verdicts["ethosu"].baseline_run_ids == tuple(r.header.run_id for r in made[::-1])
        assert {verdicts["cpu@1t"].verdict, verdicts["vx"].verdict} == {"unchanged"}
        store.record_run(slow, tuple(verdicts.values()))
        # the regressed night is not in the baseline: the next night compares to nights 1-6
        # (`previous` is a deprecated alias of `anchored`)
        back = data.record(8, rng=rng)
        again = {v.cell: v for v in judge_run(store, back, BaselinePolicy.parse("previous"))}
        assert again["ethosu"].baseline_run_ids == tuple(r.header.run_id for r in made[::-1])
        # alone on its board with 7 nights: the young-series floor cannot rule out 3%, but the
        # regressed night is gone from the baseline, so no alarm
        assert again["ethosu"].verdict == "inconclusive"
        # accepting the slow night as the baseline makes it the reference
        store.set_baseline("release", slow.header.run_id, "tester@lab")
        named = {v.cell: v for v in judge_run(store, back, BaselinePolicy.parse("named:release"))}
        assert named["ethosu"].baseline_run_ids == (slow.header.run_id,)
        assert named["ethosu"].latency.change == pytest.approx(-0.09, abs=0.02)
        # alone on its board, 8 nights: the young-series floor asks for more than -9% (p 0.1%)
        assert named["ethosu"].verdict in ("improved", "inconclusive")
        # the default policy starts its baseline at any accepted run too
        anchored = {v.cell: v for v in judge_run(store, back, BaselinePolicy.parse("anchored"))}
        assert anchored["ethosu"].baseline_run_ids == (slow.header.run_id,)
        with pytest.raises(ConfigError, match="no baseline named 'nope'"):
            judge_run(store, back, BaselinePolicy.parse("named:nope"))


def test_missing_and_failed_cells(db_url: str) -> None:
    nights(db_url, 2)
    rng = np.random.default_rng(4)
    tonight = data.record(3, rng=rng, cells=[("imx8mp", "cpu@1t"), ("imx8mp", "vx")],
                          failed=[("imx8mp", "vx")])  # fmt: skip
    tonight = RunRecord(
        tonight.header,
        (*tonight.fingerprints, data.fingerprint("imx93", error="imx93: busy: held by x")),
        tonight.cells,
    )
    with open_store(db_url) as store:
        said = {v.cell: v for v in judge_run(store, tonight, BaselinePolicy.parse("previous"))}
    assert said["vx"].verdict == "failed" and "Segmentation fault" in said["vx"].detail
    assert said["ethosu"].verdict == "missing"
    assert said["ethosu"].detail == "board failed: imx93: busy: held by x"
    assert tonight.status == "partial"


def test_compare_two_runs(db_url: str) -> None:
    # run A is the baseline night, its series' earlier nights the noise: 10 of them, so that
    # a cell alone on its board (imx93 ethosu) is past the detector's young-series floor
    made = nights(db_url, 12, slow=None)
    with open_store(db_url) as store:
        found = compare_runs(store, made[10].header.run_id, made[11].header.run_id, Thresholds())
    assert {v.verdict for v in found} == {"unchanged"}
    assert {v.baseline_run_ids for v in found} == {(made[10].header.run_id,)}


CRASH = """
import os, sys
import numpy as np
from sqlalchemy import event
from imxbench.history.store import open_store
from tests import history_data as data

store = open_store(sys.argv[1])
run = data.record(9, rng=np.random.default_rng(0))
store.begin_run(run.header)

@event.listens_for(store.engine, "before_cursor_execute")
def die(conn, cursor, statement, params, context, executemany):
    if statement.lstrip().upper().startswith("INSERT INTO SAMPLES"):
        os._exit(17)  # the process dies mid-transaction: no rollback from here

store.record_run(run)
"""


def test_a_crash_mid_record_keeps_earlier_runs_and_leaves_the_run_partial(db_url: str) -> None:
    made = nights(db_url, 2)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CRASH), db_url],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 17, done.stderr
    crashed = data.header(9).run_id
    with open_store(db_url) as store:
        assert store.run_status(crashed) == ("partial", NOT_FINISHED)
        assert store.load_run(crashed).cells == ()  # the transaction left nothing half-written
        for rec in made:
            assert store.load_run(rec.header.run_id).cells == rec.cells
        assert [r.status for r in store.list_runs()] == ["partial", "complete", "complete"]


def test_a_failed_record_rolls_back_and_bad_input_forgets_the_run(db_url: str) -> None:
    rng = np.random.default_rng(5)
    good = data.record(1, rng=rng)
    bad = data.record(2, rng=rng)
    cell = bad.cells[0]
    duplicated = type(cell)(**{**cell.__dict__, "samples": cell.samples + cell.samples[:1]})
    bad = RunRecord(bad.header, bad.fingerprints, (duplicated, *bad.cells[1:]))
    with open_store(db_url) as store:
        store.record_run(good)
        with (
            pytest.raises(InfrastructureError, match="database error"),
            announced_run(store, bad.header),
        ):
            store.record_run(bad)  # a repetition twice: the database refuses the cell
        assert store.run_status(bad.header.run_id) is not None
        assert store.run_status(bad.header.run_id)[0] == "partial"  # type: ignore[index]
        assert store.load_run(bad.header.run_id).cells == ()
        assert store.load_run(good.header.run_id).cells == good.cells
        third = data.header(3)
        with pytest.raises(ConfigError), announced_run(store, third):
            raise ConfigError("bad --model")
        assert store.run_status(third.run_id) is None


def test_ctrl_c_after_the_record_keeps_it_and_before_it_names_the_run_to_resume(
    db_url: str, tmp_path: Path
) -> None:
    """Before: Ctrl-C while `run` printed its table or wrote its report turned a recorded run
    back into `partial` ("failed: KeyboardInterrupt") with no hint; a run directory holds what
    finished, and `--resume` of it records it."""
    rng = np.random.default_rng(6)
    recorded = data.record(1, rng=rng)
    with open_store(db_url) as store:
        with pytest.raises(KeyboardInterrupt), announced_run(store, recorded.header):
            store.record_run(recorded)
            raise KeyboardInterrupt  # e.g. while the report is written
        assert store.run_status(recorded.header.run_id) == ("complete", None)
        assert store.load_run(recorded.header.run_id).cells == recorded.cells

        run_dir = tmp_path / "20250101-000002-beef"
        run_dir.mkdir()
        (run_dir / "run.json").write_text('{"format": 1, "status": "running"}')
        header = dataclasses.replace(data.header(2, kind="run"), out_dir=str(run_dir))
        with pytest.raises(RunInterrupted) as caught, announced_run(store, header):
            raise KeyboardInterrupt  # e.g. while the job writes its tables
        assert caught.value.out_dir == caught.value.resume_dir == run_dir
        assert store.run_status(header.run_id) == (
            "partial",
            INTERRUPTED_UNRECORDED + "; --resume records them",
        )

        night = dataclasses.replace(header, run_id="20250101-000003-beef", kind="nightly")
        with pytest.raises(RunInterrupted) as caught, announced_run(store, night):
            raise KeyboardInterrupt
        assert caught.value.out_dir == run_dir and caught.value.resume_dir is None  # no resume
        assert store.run_status(night.run_id) == ("partial", INTERRUPTED_UNRECORDED)


def test_migrates_a_version_1_database_and_keeps_its_runs(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.begin() as conn:
        store_schema.migrate(conn, target=1)
        conn.execute(
            insert(store_schema.runs).values(
                run_id="old", kind="nightly", status="complete", started_at="2024-01-01T00:00:00Z",
                model="m.tflite", model_sha256="cd" * 32, settings="{}", series_settings="{}",
                emulated=False,
            )
        )  # fmt: skip
        assert store_schema.current_version(conn) == 1
        assert not inspect(conn).has_table("verdicts")
    engine.dispose()
    with open_store(db_url) as store, store.engine.begin() as conn:
        assert store_schema.current_version(conn) == store_schema.SCHEMA_VERSION
        assert conn.execute(select(store_schema.runs.c.run_id)).scalars().all() == ["old"]
        found = inspect(conn)
        for table in store_schema.metadata.sorted_tables:  # the migrated schema is the current one
            assert {c["name"] for c in found.get_columns(table.name)} == set(table.columns.keys())


def test_a_newer_schema_is_refused(db_url: str) -> None:
    open_store(db_url).close()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(store_schema.schema_version.update().values(version=99))
    engine.dispose()
    with pytest.raises(ConfigError, match="schema version 99 is newer"):
        open_store(db_url)


def test_a_read_only_command_never_creates_a_history(db_url: str) -> None:
    """history/compare/baseline list open the store with create=False: an empty database is
    a one-line error, and stays empty (no tables made behind the user's back)."""
    said = r"no (imxbench results history in this database|results database there)"
    with pytest.raises(ConfigError, match=said):
        open_store(db_url, create=False)
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            assert store_schema.current_version(conn) == 0
            tables = conn.execute(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema='public'")
                if conn.dialect.name == "postgresql"
                else text("SELECT count(*) FROM sqlite_master WHERE type='table'")
            ).scalar()
        assert tables == 0
    finally:
        engine.dispose()
    open_store(db_url).close()  # a run creates it; then read-only opens work
    open_store(db_url, create=False).close()

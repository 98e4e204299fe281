"""`imxbench nightly --dry-run[=probe]` (issue 16's leftover): each board's commands with the
nightly's own settings and what every cell would be judged against, read from the history
without writing anything (no run directory, no lock, no row; an absent history is not
created, on SQLite or PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, func, select, text

from imxbench.errors import ConfigError
from imxbench.history import schema as store_schema
from imxbench.history.baselines import BaselinePolicy, judge_run
from imxbench.history.preview import preview_night
from imxbench.history.store import NoHistory, open_store
from tests import history_data as data
from tests.locations import IMXBENCH, REPO
from tests.postgres_server import PgServer, fixture_db_url, fixture_pg_server  # noqa: F401

FAST = [
    "--board", "imx93", "--delegate", "cpu", "--repetitions", "2", "--num-runs", "5",
    "--min-secs", "0", "--no-op-profile", "--threads", "1",
]  # fmt: skip


def imxbench(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*IMXBENCH, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def table_count(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM information_schema.tables WHERE table_schema='public'"
                    )
                    if conn.dialect.name == "postgresql"
                    else text("SELECT count(*) FROM sqlite_master WHERE type='table'")
                ).scalar()
                or 0
            )
    finally:
        engine.dispose()


def tree(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under `root`: its mtime and content digest (what "unchanged" means)."""
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# -- the preview, against the store ----------------------------------------------------------


def test_the_preview_reads_what_the_night_would_be_judged_against(db_url: str) -> None:
    rng = np.random.default_rng(3)
    with open_store(db_url) as store:
        for night in range(1, 5):
            rec = data.record(night, rng=rng)
            store.begin_run(rec.header)
            store.record_run(rec, judge_run(store, rec, BaselinePolicy("anchored")))
    tonight = data.record(5, rng=rng, cells=[("imx8mp", "cpu@1t"), ("imx93", "ethosu")])
    planned = replace(tonight, cells=tuple(replace(c, samples=()) for c in tonight.cells))
    with open_store(db_url, create=False, upgrade=False) as store:
        series, missing = preview_night(store, planned, BaselinePolicy("anchored"))
        judged = judge_run(store, tonight, BaselinePolicy("anchored"))
        with store.transaction() as conn:
            runs = conn.execute(select(func.count()).select_from(store_schema.runs)).scalar()
    assert runs == 4  # read only: tonight is not recorded
    assert [(s.board, s.cell, s.nights) for s in series] == [
        ("imx8mp", "cpu@1t", 4),
        ("imx93", "ethosu", 4),
    ]
    for preview, cell, verdict in zip(series, tonight.cells, judged, strict=False):
        assert preview.series == tonight.series(cell).digest
        assert set(preview.baseline_run_ids) == set(verdict.baseline_run_ids)  # the detector's
        assert preview.newest_run_id == "20250101-000004-beef"
        assert preview.expect.startswith("judged against 4 baseline night(s)")
    assert [(m.board, m.cell) for m in missing] == [("imx8mp", "vx")]  # not planned tonight


def test_an_absent_history_is_said_never_created(db_url: str) -> None:
    with pytest.raises(NoHistory):
        open_store(db_url, create=False, upgrade=False)
    if db_url.startswith("sqlite"):
        assert not Path(db_url.removeprefix("sqlite:///")).exists()
    else:
        assert table_count(db_url) == 0


def test_an_older_schema_is_not_migrated_by_a_dry_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        store_schema.migrate(conn, 1)
    engine.dispose()
    with pytest.raises(NoHistory, match="schema version 1, older"):
        open_store(url, create=False, upgrade=False)
    engine = create_engine(url)
    with engine.connect() as conn:
        assert store_schema.current_version(conn) == 1
    engine.dispose()


# -- the command, on the emulator -------------------------------------------------------------


def test_a_first_night_dry_run_writes_nothing_and_says_no_baseline(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    done = imxbench(tmp_path, "nightly", "--emulate", "--dry-run", "--format", "json",
                    "--reports", str(reports))  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["dry_run"] is True and doc["nightly"] is True and doc["connected"] is False
    assert doc["settings"]["repetitions"] == 5  # the nightly's fixed repetitions
    assert {b["board"] for b in doc["boards"]} == {"imx8mp", "imx93"}
    timed = [
        c["repetition"]
        for b in doc["boards"]
        for c in b["commands"]
        if c.get("kind") == "timed" and c["cell"] == "cpu@1t"
    ]
    assert timed == [1, 2, 3, 4, 5] * 2
    judged = doc["judged_against"]
    assert judged["history_found"] is False and judged["baseline"] == "anchored"
    assert "no results database there" in judged["history_note"]
    assert judged["series"] and all(s["nights"] == 0 for s in judged["series"])
    assert all(s["expect"].startswith("no baseline") for s in judged["series"])
    assert not reports.exists()  # no run directory, no history, no locks folder


def test_an_empty_postgresql_history_stays_empty(tmp_path: Path, pg_server: PgServer) -> None:
    url = pg_server.fresh_url()
    done = imxbench(tmp_path, "nightly", "--emulate", "--dry-run", "--format", "json",
                    "--db", url, "--reports", str(tmp_path / "r"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    judged = json.loads(done.stdout)["judged_against"]
    assert judged["history_found"] is False
    assert "no imxbench results history in this database" in judged["history_note"]
    assert table_count(url) == 0  # no tables created behind the user's back
    named = imxbench(tmp_path, "nightly", "--emulate", "--dry-run", "--db", url,
                     "--baseline", "named:golden")  # fmt: skip
    assert named.returncode == 2 and "no baseline named 'golden'" in named.stderr
    assert table_count(url) == 0


def test_after_two_nights_the_dry_run_names_its_series_and_baseline(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    runs = []
    for _ in range(2):
        night = imxbench(tmp_path, "nightly", "--emulate", *FAST, "--format", "json",
                         "--reports", str(reports))  # fmt: skip
        assert night.returncode == 0, night.stderr
        runs.append(json.loads(night.stdout)["run_id"])
    before = tree(reports)
    done = imxbench(tmp_path, "nightly", "--emulate", *FAST, "--dry-run", "--format", "json",
                    "--reports", str(reports))  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    judged = doc["judged_against"]
    assert judged["history_found"] is True and judged["missing"] == []
    [cell] = judged["series"]
    assert (cell["board"], cell["cell"], cell["nights"]) == ("imx93", "cpu@1t", 2)
    assert set(cell["baseline_run_ids"]) == set(runs) and cell["newest_run_id"] == runs[-1]
    with open_store(None, reports, create=False) as store, store.transaction() as conn:
        stored = set(conn.execute(select(store_schema.cells.c.series)).scalars())
    assert stored == {cell["series"]}  # the very series the nights were recorded under
    other = imxbench(tmp_path, "nightly", "--emulate", *FAST, "--num-runs", "7", "--dry-run",
                     "--format", "json", "--reports", str(reports))  # fmt: skip
    [changed] = json.loads(other.stdout)["judged_against"]["series"]
    assert changed["nights"] == 0 and changed["series"] != cell["series"]  # another series
    probed = imxbench(tmp_path, "nightly", "--emulate", *FAST, "--dry-run=probe",
                      "--reports", str(reports))  # fmt: skip
    assert probed.returncode == 0, probed.stderr
    assert "only the read-only probe was sent to each board" in probed.stdout
    assert f"imx93 cpu@1t: series {cell['series'][:12]}, 2 earlier night(s)" in probed.stdout
    assert "judged against 2 baseline night(s)" in probed.stdout
    assert tree(reports) == before  # reports, history and locks unchanged, byte for byte


def test_bad_input_fails_as_the_nightly_would(tmp_path: Path) -> None:
    bad = imxbench(tmp_path, "nightly", "--emulate", "--dry-run", "--model",
                   str(REPO / "README.md"), "--reports", str(tmp_path / "r"))  # fmt: skip
    assert bad.returncode == 2, bad.stdout
    assert not (tmp_path / "r").exists()
    with pytest.raises(ConfigError):
        BaselinePolicy.parse("sometimes")

"""Issue 15 through the real command line: bounded inputs, one line instead of a traceback,
database calls that cannot hang, read-only commands that create nothing, and board output that
cannot break junit.xml or drive the terminal. Exit 2 = bad input, 3 = infrastructure."""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from imxbench.errors import InfrastructureError
from tests.locations import IMXBENCH
from tests.postgres_server import PgServer, fixture_pg_server  # noqa: F401
from tests.report_fixtures import write_run
from tests.unit.test_bounded_input import _png, billion_laughs

REPO = Path(__file__).resolve().parents[2]
GIB = 1 << 30


def _limited() -> None:  # a regression must not take the shared machine's memory with it
    resource.setrlimit(resource.RLIMIT_AS, (4 * GIB, 4 * GIB))


def imxbench(
    *args: str, timeout: float = 120, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, *IMXBENCH, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        preexec_fn=_limited,
        env={**os.environ, "IMXBENCH_DB": ""} if "IMXBENCH_DB" in os.environ else None,
    )


def one_line(done: subprocess.CompletedProcess[str], code: int, *expected: str) -> str:
    assert done.returncode == code, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    first = done.stderr.strip().splitlines()[0]
    assert first.startswith("imxbench: "), done.stderr
    for part in expected:
        assert part in first, first
    return first


# -- 1. bounded inputs ----------------------------------------------------------------------
def test_yaml_bombs_duplicates_and_non_finite_numbers(tmp_path: Path) -> None:
    laughs = tmp_path / "laughs.yaml"
    laughs.write_text(billion_laughs("port"))
    started = time.monotonic()
    one_line(imxbench("boards", "--inventory", str(laughs), timeout=60), 2, str(laughs))
    assert time.monotonic() - started < 30  # before: grew without limit (killed at 4 GiB)

    dup = tmp_path / "dup.yaml"
    dup.write_text("boards:\n  evk: {soc: imx8mp, host: a}\n  evk: {soc: imx93, host: b}\n")
    one_line(
        imxbench("run", "--board", "evk", "--inventory", str(dup)),
        2,
        f"{dup}: line 3: duplicate key 'evk'",
    )

    delegates = tmp_path / "delegates"
    shutil.copytree(REPO / "delegates", delegates)
    cpu = delegates / "cpu.yaml"
    cpu.write_text(cpu.read_text() + "socs: [imx8mp]\n")
    done = subprocess.run(
        [*IMXBENCH, "run", "--board", "imx8mp", "--emulate"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, "IMXBENCH_DELEGATES": str(delegates)},
    )
    one_line(done, 2, "cpu.yaml: line", "duplicate key 'socs'")

    for value in (".nan", ".inf"):
        bad = tmp_path / "nan.yaml"
        bad.write_text(f"boards:\n  b:\n    soc: imx8mp\n    host: h\n    keepalive_s: {value}\n")
        one_line(
            imxbench("run", "--board", "b", "--inventory", str(bad), "--emulate"),
            2,
            "boards.b.keepalive_s: expected a finite positive number",
        )


def test_a_huge_label_and_an_image_bomb_in_a_dataset(tmp_path: Path) -> None:
    npy = tmp_path / "npy"
    npy.mkdir()
    np.save(npy / "x_test.npy", np.zeros((3, 32, 32, 3), dtype=np.uint8))
    np.save(npy / "y_test.npy", np.array([0, 1, 2**40], dtype=np.int64))
    done = imxbench("run", "--board", "imx8mp", "--emulate", "--dataset", str(npy), timeout=60)
    one_line(done, 2, "y_test.npy", "label 1099511627776")

    cat = tmp_path / "folders" / "cat"
    cat.mkdir(parents=True)
    _png(cat / "bomb.png", 40_000, 40_000, pixels=False)
    done = imxbench("run", "--board", "imx8mp", "--emulate", "--dataset", str(cat.parent))
    one_line(done, 2, str(cat / "bomb.png"), "decompression bomb")


# -- 2. one line instead of a traceback ------------------------------------------------------
def _read_only(path: Path) -> tuple[str, ...]:
    """A command prefix that runs with `path` mounted read-only (a private mount namespace):
    chmod means nothing to root."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare for a read-only mount")
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"'
    return (unshare, "-m", "sh", "-c", script, "sh", str(path))


def test_unusable_board_list_and_reports_directory(tmp_path: Path) -> None:
    one_line(imxbench("run", "--board", ",", "--emulate"), 2, "--board ','")
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    one_line(
        imxbench("run", "--board", "imx8mp", "--emulate", "--reports", str(a_file)),
        2,
        f"--reports {a_file}: not a directory",
    )
    assert a_file.read_text() == "x"

    reports = tmp_path / "reports"
    run_dir = write_run(reports, "20260101-000000-aaaa", datetime(2026, 1, 1, tzinfo=UTC))
    ro = _read_only(reports)
    done = imxbench(
        "run", "--board", "imx8mp", "--emulate", "--reports", str(reports),
        "--db", str(tmp_path / "h.sqlite"), prefix=ro,
    )  # fmt: skip
    one_line(done, 2, f"--reports {reports}: not writable")
    done = imxbench("report", "--reports", str(reports), prefix=ro)
    one_line(done, 2, str(run_dir), "not writable")
    done = imxbench("report", "--reports", str(reports), "--out", str(reports / "r.md"),
                    "--format", "markdown", prefix=ro)  # fmt: skip
    one_line(done, 2, f"--out {reports}: not writable")


# -- 3. every database call has a timeout ----------------------------------------------------
@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts every connection and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_a_database_server_that_never_answers_is_exit_3_naming_it(silent_server: int) -> None:
    url = f"postgresql://lab@127.0.0.1:{silent_server}/history"
    started = time.monotonic()
    done = imxbench("history", "--db", url, timeout=90)  # before: hung forever
    elapsed = time.monotonic() - started
    one_line(done, 3, f"127.0.0.1:{silent_server}")
    assert elapsed < 40, elapsed


def test_a_statement_that_waits_on_a_lock_times_out(
    pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imxbench.history import store as store_module

    url = pg_server.fresh_url()
    store_module.open_store(url).close()  # the schema
    monkeypatch.setattr(store_module, "STATEMENT_TIMEOUT_S", 1, raising=False)
    holder = create_engine(url).connect()
    holder.execute(text("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE"))  # held: never committed
    outcome: list[BaseException | None] = []

    def list_runs() -> None:
        try:
            with store_module.open_store(url) as store:
                store.list_runs()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=list_runs, daemon=True)
    worker.start()
    worker.join(timeout=30)
    holder.rollback()
    holder.close()
    assert not worker.is_alive(), "the history query waited without a deadline"
    assert isinstance(outcome[0], InfrastructureError), outcome
    assert "statement timeout" in outcome[0].message and "127.0.0.1" in outcome[0].message


# -- 4. read-only commands never create a database -------------------------------------------
@pytest.mark.parametrize(
    "command",
    [("history",), ("compare", "latest", "latest"), ("baseline", "list")],
)
def test_read_only_commands_never_create_a_database(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    typo = tmp_path / "no-such-dir" / "histroy.sqlite"
    one_line(imxbench(*command, "--db", str(typo)), 2, str(typo))
    assert not typo.parent.exists()
    reports = tmp_path / "reprots"
    one_line(imxbench(*command, "--reports", str(reports)), 2, str(reports / "imxbench.sqlite"))
    assert not reports.exists()


# -- 5. board output at the terminal ----------------------------------------------------------
def test_parse_log_and_markdown_reach_the_terminal_without_escape_sequences(
    tmp_path: Path,
) -> None:
    log = tmp_path / "bench.log"
    hostile = "\x1b]0;pwned\x07\x1b[2J\x9b31m"
    log.write_text(
        "INFO: Initialized TensorFlow Lite runtime.\n"
        f"INFO: Unable to load external delegate from : /usr/lib/lib{hostile}\x00x.so\n"
    )
    done = imxbench("parse-log", str(log))
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x9b" not in done.stdout and "\x00" not in done.stdout
    assert "Unable to load external delegate from : /usr/lib/lib" in done.stdout

    board = "evk<script>alert(1)</script>"
    run_dir = write_run(
        tmp_path / "reports",
        "r1",
        datetime(2026, 1, 1, tzinfo=UTC),
        cells={board: ["cpu@4t", "cpu@1t"]},
        failed=[(board, "cpu@1t")],
    )
    results = run_dir / "results.json"  # the board's own words in the failed cell's error
    results.write_text(
        results.read_text().replace(
            "Segmentation fault (exit 139)", "Seg" + json.dumps(hostile)[1:-1] + "fault"
        )
    )
    done = imxbench("report", "--reports", str(tmp_path / "reports"), "--format", "markdown")
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout and "\x9b" not in done.stdout
    assert "cpu@1t" in done.stdout and "<script>" not in done.stdout  # markdown escapes HTML
    done = imxbench("report", "--reports", str(tmp_path / "reports"))
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "reports" / "r1" / "report.html").read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html

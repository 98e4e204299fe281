"""Board locks across processes: a busy board names its holder, a killed holder releases it;
with PostgreSQL, jobs that share no lock directory (other machines) exclude each other too."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imxbench.board.locks import BoardBusy, BoardLock, hold_boards
from imxbench.history.store import open_store
from tests.locations import IMXBENCH
from tests.postgres_server import PgServer, fixture_pg_server  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from pathlib import Path
from imxbench.board.locks import BoardLock
from imxbench.history.store import open_store

board, lock_dir, url, seconds = sys.argv[1], Path(sys.argv[2]), sys.argv[3], float(sys.argv[4])
engine = open_store(url, lock_dir).engine if url != "-" else None
BoardLock(board, lock_dir, engine=engine, job="nightly 20250101-000000-beef").acquire()
print("held", flush=True)
time.sleep(seconds)
"""


def hold(board: str, lock_dir: Path, url: str = "-", seconds: float = 600) -> subprocess.Popen[str]:
    """Another job holding `board` (until killed, or for `seconds`)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, board, str(lock_dir), url, str(seconds)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture(name="holders")
def fixture_holders() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait()


def test_a_busy_board_names_its_holder_and_a_killed_holder_releases_it(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    holder = hold("imx8mp", tmp_path)
    holders.append(holder)
    mine = BoardLock("imx8mp", tmp_path)
    with pytest.raises(BoardBusy) as busy:
        mine.acquire()
    assert "imx8mp: busy: held by " in busy.value.message
    assert f"pid {holder.pid} (nightly 20250101-000000-beef) since 20" in busy.value.message
    other = BoardLock("imx93", tmp_path)
    other.acquire()  # other boards are free
    other.release()
    holder.kill()  # kill -9: no cleanup code runs, the kernel drops the lock
    holder.wait()
    mine.acquire()
    assert mine.held
    mine.release()


def test_waiting_for_a_board_until_its_job_ends(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    holders.append(hold("imx93", tmp_path, seconds=1.0))
    started = time.monotonic()
    lock = BoardLock("imx93", tmp_path)
    lock.acquire(wait_s=20)
    assert time.monotonic() - started > 0.3
    lock.release()
    holders.append(hold("imx93", tmp_path))
    with pytest.raises(BoardBusy, match=r"busy after waiting 0\.5 s"):
        BoardLock("imx93", tmp_path).acquire(wait_s=0.5)


def test_hold_boards_takes_the_free_ones_and_reports_the_busy_ones(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    holders.append(hold("imx93", tmp_path))
    with hold_boards(["imx8mp", "imx93"], tmp_path) as (held, busy):
        assert held == ["imx8mp"]
        assert list(busy) == ["imx93"] and "held by" in busy["imx93"]
        with pytest.raises(BoardBusy):
            BoardLock("imx8mp", tmp_path).acquire()  # held by this job now
    again = BoardLock("imx8mp", tmp_path)
    again.acquire()  # released at the end
    again.release()


def test_postgres_advisory_locks_exclude_jobs_on_other_machines(
    tmp_path: Path, pg_server: PgServer, holders: list[subprocess.Popen[str]]
) -> None:
    url = pg_server.fresh_url()
    holder = hold("imx8mp", tmp_path / "machine-a", url)
    holders.append(holder)
    with open_store(url, tmp_path) as store:
        elsewhere = BoardLock("imx8mp", tmp_path / "machine-b", engine=store.engine)
        with pytest.raises(BoardBusy) as busy:
            elsewhere.acquire()
        assert f"pid {holder.pid} nightly 20250101" in busy.value.message
        assert "from 127.0.0.1" in busy.value.message
        holder.kill()  # the holder's connection closes: the server drops its lock
        holder.wait()
        elsewhere.acquire(wait_s=20)
        assert elsewhere.held
        elsewhere.release()


def test_run_refuses_a_board_a_nightly_holds(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    """`imxbench run` takes the same local locks as `nightly` (reports/locks/): a busy board
    ends it at once with one line naming the holder, exit 3, before any connection."""
    holder = hold("lab", tmp_path / "reports" / "locks")
    holders.append(holder)
    inventory = tmp_path / "boards.yaml"
    inventory.write_text(  # port 9 on loopback: nothing listens, nothing is contacted anyway
        "boards:\n  lab:\n    soc: imx8mp\n    host: 127.0.0.1\n    port: 9\n"
        "    known_hosts: /dev/null\n"
    )
    done = subprocess.run(
        [*IMXBENCH, "run", "--board", "lab", "--inventory",
         str(inventory), "--reports", str(tmp_path / "reports"), "--delegate", "cpu"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )
    assert done.returncode == 3, done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith("imxbench: lab: busy: held by ")
    assert f"pid {holder.pid} (nightly 20250101-000000-beef)" in first
    assert "connected" not in done.stderr and "Traceback" not in done.stderr
    holder.kill()
    holder.wait()
    lock = BoardLock("lab", tmp_path / "reports" / "locks")
    lock.acquire()  # the run left no lock behind
    lock.release()

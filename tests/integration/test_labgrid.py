"""Boards from labgrid places, against a real labgrid lab on 127.0.0.1 (tests/labgrid_lab.py):
coordinator, exporter with one NetworkService per emulated board, places with tags.

Proves: a run goes through the place (acquire, run, release); a busy place fails fast naming
its holder, or is waited for; Ctrl-C and SIGTERM release the place; after SIGKILL labgrid keeps
the place acquired and the next imxbench job takes it over once the dead job's lease is stale;
two concurrent shards cover the four places exactly once into one PostgreSQL history, leave no
place acquired, and `imxbench report --night` shows all four boards on one page.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imxbench.history.store import open_store
from imxbench.lab.places import LEASE_TAG
from tests.labgrid_lab import BOARDS, Lab, fixture_lab, labgrid_missing  # noqa: F401
from tests.locations import IMXBENCH
from tests.postgres_server import PgServer, fixture_pg_server  # noqa: F401

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.skipif(labgrid_missing() is not None, reason=str(labgrid_missing())),
]

REPO = Path(__file__).resolve().parents[2]
FAST = [
    "--delegate", "cpu", "--threads", "1", "--repetitions", "2", "--num-runs", "5",
    "--min-secs", "0", "--no-op-profile",
]  # fmt: skip


@pytest.fixture(name="inventory")
def fixture_inventory(tmp_path: Path) -> Path:
    """boards.yaml naming each place (evk-1 ... evk-4); the coordinator from LG_COORDINATOR."""
    lines = ["boards:"]
    for i, (place, soc) in enumerate(BOARDS.items(), 1):
        lines += [f"  evk-{i}:", f"    soc: {soc}", f"    place: {place}", "    tags: [lab]"]
    path = tmp_path / "boards.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def imxbench(
    lab: Lab, *args: str, env: dict[str, str] | None = None, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IMXBENCH, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**lab.env, **(env or {})},
        timeout=timeout_s,
    )


def start(lab: Lab, log: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    with log.open("w") as err:
        return subprocess.Popen(
            [*IMXBENCH, *args],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=REPO,
            env={**lab.env, **(env or {})},
        )


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def coordinator_log(lab: Lab) -> str:
    return (lab.root / "coordinator.log").read_text(errors="replace")


def test_a_board_from_a_place_runs_through_labgrid_and_the_place_is_released(
    lab: Lab, inventory: Path, tmp_path: Path
) -> None:
    listed = imxbench(lab, "boards", "--inventory", str(inventory))
    assert "evk-1          imx8mp  labgrid place lab-8mp-1@$LG_COORDINATOR" in listed.stdout

    done = imxbench(
        lab, "run", "--board", "evk-1", "--inventory", str(inventory),
        "--reports", str(tmp_path / "reports"), "--format", "json", *FAST,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [(r["board"], r["cell"]) for r in doc["summary"]] == [("evk-1", "cpu@1t")]
    run = json.loads((Path(doc["out_dir"]) / "results.json").read_text())
    assert {r["status"] for r in run} == {"ok"}
    log = coordinator_log(lab)
    assert "lab-8mp-1: place acquired by" in log
    assert log.index("lab-8mp-1: place acquired by") < log.rindex("lab-8mp-1: place released")
    lab.assert_idle("lab-8mp-1")


def test_a_place_without_a_network_service_is_refused_and_released(
    lab: Lab, tmp_path: Path
) -> None:
    lab.client("-p", "lab-console-only", "create")
    lab.client("-p", "lab-console-only", "set-tags", "soc=imx8mp")
    inventory = tmp_path / "boards.yaml"
    inventory.write_text("boards:\n  bare:\n    soc: imx8mp\n    place: lab-console-only\n")
    try:
        done = imxbench(lab, "boards", "--inventory", str(inventory), "probe", "bare")
        assert done.returncode == 3
        assert "bare: labgrid place lab-console-only has no NetworkService resource" in (
            done.stderr
        )
        assert lab.place("lab-console-only")["acquired"] == "None"
        assert "Reservation" not in lab.reservations()
    finally:
        lab.client("-p", "lab-console-only", "delete")


def test_a_busy_place_names_its_holder_or_is_waited_for(
    lab: Lab, inventory: Path, tmp_path: Path
) -> None:
    lab.client("-p", "lab-8mp-2", "acquire", user="alice")
    try:
        args = ["nightly", "--board", "evk-2", "--inventory", str(inventory), *FAST]
        done = imxbench(lab, *args, "--reports", str(tmp_path / "r1"))
        assert done.returncode == 3, done.stderr
        assert "BOARD evk-2: evk-2: labgrid place lab-8mp-2 busy: held by bench/alice" in (
            done.stdout
        )
        queued = start(
            lab, tmp_path / "queued.log", *args, "--reports", str(tmp_path / "r2"),
            "--lock-wait", "60",
        )  # fmt: skip
        wait_for("imxbench's reservation", lambda: "name=lab-8mp-2" in lab.reservations())
        assert queued.poll() is None
        assert lab.place("lab-8mp-2")["acquired"] == "bench/alice"
    finally:
        lab.client("-p", "lab-8mp-2", "release", user="alice")
    out, _ = queued.communicate(timeout=120)
    assert queued.returncode == 0, (tmp_path / "queued.log").read_text()
    assert "NO BASELINE" in out  # a first night in its reports dir: it ran, compared nothing
    lab.assert_idle("lab-8mp-2")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_job_releases_its_place(
    lab: Lab, inventory: Path, tmp_path: Path, signum: int
) -> None:
    board = lab.boards["lab-8mp-3"]
    board.set_faults(hang=True)  # benchmark_model never ends: the job is mid-run for sure
    log = tmp_path / "job.log"
    try:
        job = start(
            lab, log, "nightly", "--board", "evk-3", "--inventory", str(inventory),
            "--reports", str(tmp_path / "reports"), *FAST,
        )  # fmt: skip
        wait_for("a benchmark in flight", lambda: "rep 1 ..." in log.read_text())
        assert lab.place("lab-8mp-3")["acquired"] != "None"
        job.send_signal(signum)
        job.communicate(timeout=60)
    finally:
        board.set_faults(hang=False)
    assert job.returncode == 130, log.read_text()
    lab.assert_idle("lab-8mp-3")


def test_after_sigkill_labgrid_keeps_the_place_and_the_next_job_takes_it_over(
    lab: Lab, inventory: Path, tmp_path: Path
) -> None:
    board = lab.boards["lab-93-1"]
    board.set_faults(hang=True)
    log = tmp_path / "killed.log"
    args = ["nightly", "--board", "evk-4", "--inventory", str(inventory), *FAST]
    try:
        job = start(
            lab, log, *args, "--reports", str(tmp_path / "r1"),
            env={"IMXBENCH_LAB_LEASE_S": "2"},
        )  # fmt: skip
        wait_for("a benchmark in flight", lambda: "rep 1 ..." in log.read_text())
        job.kill()
        job.wait(timeout=30)
    finally:
        board.set_faults(hang=False)
    # labgrid itself never expires the acquisition of a dead client
    time.sleep(1.0)
    held = lab.place("lab-93-1")
    assert held["acquired"] != "None" and held["reservation"]
    assert f"{LEASE_TAG}=nightly_" in held["tags"]
    swept = imxbench(lab, "lab", "sweep")  # the lease is young: a sweep leaves it alone
    assert swept.returncode == 0 and "no expired imxbench lease" in swept.stdout
    swept = imxbench(lab, "lab", "sweep", "--format", "json")
    assert swept.returncode == 0 and json.loads(swept.stdout) == {"released": []}
    started = time.monotonic()
    done = imxbench(lab, *args, "--reports", str(tmp_path / "r2"), "--lock-wait", "60")
    assert done.returncode == 0, done.stderr
    assert "NO BASELINE" in done.stdout  # its first night (r2): ran, nothing to compare
    assert time.monotonic() - started < 25  # 2 s lease, then no wait for a scheduler tick
    lab.assert_idle("lab-93-1")


def test_two_shards_cover_the_lab_once_into_one_history_and_one_report(
    lab: Lab, pg_server: PgServer, tmp_path: Path
) -> None:
    url = pg_server.fresh_url()
    reports = tmp_path / "reports"
    args = [
        "nightly", "--tag", "nightly", "--night", "ci-42", "--db", url,
        "--reports", str(reports), "--inventory", str(tmp_path / "no-boards.yaml"),
        "--format", "json", *FAST,
    ]  # fmt: skip
    jobs = [start(lab, tmp_path / f"shard{i}.log", *args, "--shard", f"{i}/2") for i in (1, 2)]
    docs = []
    for i, job in enumerate(jobs, 1):
        out, _ = job.communicate(timeout=180)
        assert job.returncode == 0, (tmp_path / f"shard{i}.log").read_text()
        docs.append(json.loads(out))
    shards = [{c["board"] for c in doc["cells"]} for doc in docs]
    assert shards[0].isdisjoint(shards[1])
    assert shards[0] | shards[1] == set(BOARDS)
    assert all(len(s) == 2 for s in shards)
    lab.assert_idle()

    with open_store(url, reports) as store:
        runs = store.list_runs(kind="nightly")
    assert {r.run_id for r in runs} == {d["run_id"] for d in docs}

    done = imxbench(lab, "report", "--night", "ci-42", "--reports", str(reports))
    assert done.returncode == 0, done.stderr
    page = Path(done.stdout.split("report: ", 1)[1].strip())
    assert page == reports / "night-ci-42" / "report.html"
    html = page.read_text()
    assert "night ci-42" in html
    for place in BOARDS:
        assert html.count(place) >= 2, place  # in the matrix and the board facts at least

    named = imxbench(
        lab, "report", "--merge", *(d["run_id"] for d in docs), "--reports", str(reports),
        "--format", "markdown",
    )  # fmt: skip
    assert named.returncode == 0, named.stderr
    assert all(place in named.stdout for place in BOARDS)
